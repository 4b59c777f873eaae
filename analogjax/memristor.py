"""Memristor dynamics as diffrax vector fields: HP linear ion drift (with Joglekar, Biolek and
Prodromakis windows), VTEAM and Yakopcic; voltage- or current-driven."""

from ._memristor import (
    VTEAM as VTEAM,
    AbstractMemristor as AbstractMemristor,
    AbstractWindow as AbstractWindow,
    BiolekWindow as BiolekWindow,
    HPMemristor as HPMemristor,
    JoglekarWindow as JoglekarWindow,
    MemristorTrajectory as MemristorTrajectory,
    NoWindow as NoWindow,
    ProdromakisWindow as ProdromakisWindow,
    SineVoltage as SineVoltage,
    Yakopcic as Yakopcic,
    simulate_memristor as simulate_memristor,
)
