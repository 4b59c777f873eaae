"""Memristor dynamics (HP linear ion drift and window functions) as diffrax vector fields."""

from ._memristor import (
    AbstractWindow as AbstractWindow,
    BiolekWindow as BiolekWindow,
    HPMemristor as HPMemristor,
    JoglekarWindow as JoglekarWindow,
    MemristorTrajectory as MemristorTrajectory,
    NoWindow as NoWindow,
    ProdromakisWindow as ProdromakisWindow,
    SineVoltage as SineVoltage,
    simulate_memristor as simulate_memristor,
)
