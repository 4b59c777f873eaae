"""Networks and research recipes that run on analogjax hardware and solvers
(installed as ``analogjax.models``)."""

from ._classifier import (
    MLP as MLP,
    ProgrammedMLP as ProgrammedMLP,
    accuracy as accuracy,
    accuracy_over_time as accuracy_over_time,
    load_digits_split as load_digits_split,
    train_mlp as train_mlp,
)
from ._twin import (
    LORENZ96_SCALE as LORENZ96_SCALE,
    NeuralODE as NeuralODE,
    hp_memristor_trajectories as hp_memristor_trajectories,
    lorenz96_field as lorenz96_field,
    lorenz96_trajectories as lorenz96_trajectories,
    rmse as rmse,
    timed as timed,
    train_neural_ode as train_neural_ode,
)
