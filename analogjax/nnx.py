"""Flax nnx adapter (imports flax; not loaded by ``import analogjax``)."""

from ._flax import AnalogDotGeneral as AnalogDotGeneral
