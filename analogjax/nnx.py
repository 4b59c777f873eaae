"""Flax nnx adapter (imports flax; not loaded by ``import analogjax``): an analogue
``dot_general``, and conversion of nnx models to analogue hardware."""

from ._flax import (
    AnalogConv as AnalogConv,
    AnalogDotGeneral as AnalogDotGeneral,
    AnalogLinear as AnalogLinear,
    convert as convert,
    program as program,
    read as read,
)
