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
