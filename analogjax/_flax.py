"""Flax nnx adapters: an analogue ``dot_general`` for ``nnx.Linear``, and converted nnx
models (analogue ``Linear``/``Conv`` layers, chips of whole networks)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import jax.numpy as jnp
import jax.random as jr
from flax import nnx
from jaxtyping import ArrayLike, PRNGKeyArray

from ._conv import Convolution, ProgrammedConv
from ._crossbar import Crossbar, Read
from ._layers import (
    AnalogConv as EqxConv,
    AnalogLinear as EqxLinear,
    ProgrammedLinear,
    _check_hardware,
    _check_overrides,
    choose_hardware,
)
from ._validation import check_key


class AnalogDotGeneral(nnx.Module):
    """Drop-in ``dot_general`` for ``nnx.Linear``: ``inputs @ kernel`` on a crossbar.

    Each call programs the kernel (transposed to out × in) and reads it once, with keys from
    the ``rngs`` stream ``stream`` (fresh noise per call; nnx tracks the stream's state, so
    it works under ``nnx.jit``). Gradients flow to the kernel as in :class:`AnalogLinear`.

        layer = nnx.Linear(16, 4, dot_general=AnalogDotGeneral(xbar, rngs=nnx.Rngs(noise=1)),
                           rngs=nnx.Rngs(params=0))
    """

    def __init__(self, crossbar: Crossbar, *, rngs: nnx.Rngs, stream: str = "noise",
                 t: float | None = None):
        self.crossbar = nnx.data(crossbar)
        self.rngs = rngs
        self.stream = stream
        self.t = t

    def __call__(self, lhs, rhs, dimension_numbers, precision=None, **kwargs):
        del precision, kwargs
        expected = (((lhs.ndim - 1,), (0,)), ((), ()))
        if tuple(map(lambda d: tuple(map(tuple, d)), dimension_numbers)) != expected:
            raise ValueError("AnalogDotGeneral supports inputs @ kernel only (dimension_numbers "
                             f"{expected}); got {dimension_numbers}")
        if rhs.ndim != 2:
            raise ValueError(f"kernel must be 2-D (in, out); got shape {rhs.shape}")
        k_program, k_read = jr.split(getattr(self.rngs, self.stream)())
        chip = self.crossbar.program(rhs.T, key=k_program)
        return chip(lhs, key=k_read, t=self.t)


# --- converted flax nnx models -------------------------------------------------------------


def _nnx_convolution(path: str, conv: nnx.Conv) -> Convolution:
    """The geometry of an ``nnx.Conv`` (channel last) as a :class:`Convolution`."""
    dims = len(conv.kernel_size)
    if conv.mask is not None:
        raise ValueError(f"layer {path!r}: a masked nnx.Conv is not supported on crossbars")
    if any(d != 1 for d in _ints(conv.input_dilation, dims)):
        raise ValueError(f"layer {path!r}: input_dilation (transposed convolution) is not "
                         "supported on crossbars; leave it digital")
    padding = conv.padding
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise ValueError(f"layer {path!r}: padding {padding!r} is not supported on "
                             "crossbars (SAME, VALID or explicit); leave it digital")
    elif isinstance(padding, int):
        padding = ((padding, padding),) * dims
    else:
        padding = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
    return Convolution(tuple(conv.kernel_size), stride=_ints(conv.strides, dims),
                       padding=padding, dilation=_ints(conv.kernel_dilation, dims),
                       groups=conv.feature_group_count)


def _ints(value, dims: int) -> tuple[int, ...]:
    if value is None:
        return (1,) * dims
    return (int(value),) * dims if isinstance(value, int) else tuple(int(v) for v in value)


class AnalogLinear(nnx.Module):
    """An ``nnx.Linear`` meant for crossbar hardware (made by :func:`convert`): until
    programmed it is the digital layer (its ``kernel`` and ``bias`` parameters, trained as
    before); programmed (:func:`program`) it reads ``inputs @ kernel`` from a chip and adds
    the bias digitally."""

    def __init__(self, layer: nnx.Linear, crossbar: Crossbar):
        self.layer = layer
        self.crossbar = nnx.data(crossbar)
        self.chip = nnx.data(None)

    def _program(self, key, inputs: list) -> ProgrammedLinear:
        """The chip, its ADCs calibrated on the recorded ``inputs`` (if any)."""
        kernel = self.layer.kernel[...]
        calibration = jnp.concatenate([a.reshape(-1, kernel.shape[0]) for a in inputs]) \
            if inputs else None
        return EqxLinear(kernel.T, None, self.crossbar).program(
            key=key, calibration_inputs=calibration)

    def __call__(self, inputs):
        if self.chip is None:
            _record(self, inputs)
            return self.layer(inputs)
        y = self.chip(inputs)
        return y if self.layer.bias is None else y + self.layer.bias[...].astype(y.dtype)


class AnalogConv(nnx.Module):
    """An ``nnx.Conv`` (channel last) meant for crossbar hardware (made by
    :func:`convert`): digital until programmed; programmed, every patch is one read of the
    unrolled kernel on a chip, the bias added digitally."""

    def __init__(self, layer: nnx.Conv, crossbar: Crossbar, convolution: Convolution):
        self.layer = layer
        self.crossbar = nnx.data(crossbar)
        self.convolution = convolution
        self.chip = nnx.data(None)

    def _channel_first(self, x):
        """``(*batch, *spatial, C)`` → ``(N, C, *spatial)``."""
        dims = len(self.convolution.kernel_size)
        return jnp.moveaxis(x.reshape(-1, *x.shape[x.ndim - 1 - dims:]), -1, 1)

    def _program(self, key, inputs: list) -> ProgrammedConv:
        """The chip, its ADCs calibrated on the recorded ``inputs`` (if any)."""
        kernel = jnp.moveaxis(self.layer.kernel[...], (-1, -2), (0, 1))  # (out, in/g, *k)
        calibration = jnp.concatenate([self._channel_first(a) for a in inputs]) \
            if inputs else None
        return EqxConv(self.convolution, kernel, None, self.crossbar).program(
            key=key, calibration_inputs=calibration)

    def __call__(self, inputs):
        if self.chip is None:
            _record(self, inputs)
            return self.layer(inputs)
        dims = len(self.convolution.kernel_size)
        y = jnp.moveaxis(self.chip(self._channel_first(inputs)), 1, -1)
        y = y.reshape(*inputs.shape[:-1 - dims], *y.shape[1:])
        return y if self.layer.bias is None else y + self.layer.bias[...].astype(y.dtype)


_NNX_ANALOG = (AnalogLinear, AnalogConv)


class _Store:
    """Inputs recorded by an analogue layer while calibration data runs (not a pytree)."""

    def __init__(self):
        self.inputs = []


def _record(layer, inputs):
    store = getattr(layer, "_calibration_store", None)
    if store is not None:
        store.inputs.append(inputs)


def _nnx_layers(model: nnx.Module, kinds) -> list[tuple[tuple, str, nnx.Module]]:
    """(path, path string, layer) of every layer of ``kinds`` that is not inside another
    (the ``nnx.Linear`` inside an analogue layer is not listed)."""
    matches = [(path, node) for path, node in nnx.iter_graph(model) if isinstance(node, kinds)]
    paths = {path for path, _ in matches}
    return [(path, ".".join(str(p) for p in path), node) for path, node in matches
            if not any(path[:k] in paths for k in range(len(path)))]


def _replace(model: nnx.Module, path: tuple, new) -> None:
    parent = model
    for p in path[:-1]:
        parent = parent[p] if isinstance(p, int) else getattr(parent, p)
    if isinstance(path[-1], int):
        parent[path[-1]] = new
    else:
        setattr(parent, path[-1], new)


def convert(model: nnx.Module, hardware: Crossbar | Callable[[str, nnx.Module], Crossbar | None],
            *, layers: Mapping[str, Crossbar | None] | None = None) -> nnx.Module:
    """A copy of ``model`` with every ``nnx.Linear`` and ``nnx.Conv`` an analogue layer on
    ``hardware`` (one crossbar, or ``(path, layer) → crossbar or None`` — None stays
    digital); ``layers`` overrides by path (``"layers.0"``). Parameters are kept (the
    converted model trains and computes as before until :func:`program`)."""
    _check_hardware(hardware)
    model = nnx.clone(model)
    found = _nnx_layers(model, (nnx.Linear, nnx.Conv) + _NNX_ANALOG)
    overrides = dict(layers or {})
    _check_overrides(overrides, [name for _, name, _ in found])
    for path, name, node in found:
        layer = node.layer if isinstance(node, _NNX_ANALOG) else node
        crossbar = choose_hardware(name, layer, hardware, overrides)
        if crossbar is None:
            new = layer
        elif isinstance(layer, nnx.Linear):
            new = AnalogLinear(layer, crossbar)
        else:
            new = AnalogConv(layer, crossbar, _nnx_convolution(name, layer))
        _replace(model, path, new)
    return model


def program(model: nnx.Module, *, key: PRNGKeyArray | None,
            calibration: ArrayLike | None = None) -> nnx.Module:
    """A chip of the whole converted network: a copy of ``model`` with every analogue layer
    programmed (layer ``i`` from ``fold_in(key, i)``). ``calibration``: a batch of model
    inputs whose activations (digital network) set every layer's ADC range (see
    :func:`analogjax.program`)."""
    check_key("key", key, required=False)
    model = nnx.clone(model)
    analog = _nnx_layers(model, _NNX_ANALOG)
    if not analog:
        raise ValueError("model has no analogue layers; convert it first "
                         "(analogjax.nnx.convert)")
    stores = [_Store() for _ in analog]
    if calibration is not None:
        for (_, _, layer), store in zip(analog, stores, strict=True):
            layer.chip = None
            layer._calibration_store = store
        model(jnp.asarray(calibration))
        for _, _, layer in analog:
            del layer._calibration_store
    for n, ((_, _, layer), store) in enumerate(zip(analog, stores, strict=True)):
        layer.chip = layer._program(None if key is None else jr.fold_in(key, n), store.inputs)
    return model


def read(chip: nnx.Module, *, key: PRNGKeyArray | None = None,
         t: float | ArrayLike | None = None) -> nnx.Module:
    """A copy of ``chip`` set to be read ``t`` seconds after programming: the frozen noise of
    this read time and white noise per vector from ``key`` (nnx models take batches, so
    every input vector gets its own white noise)."""
    check_key("key", key, required=False)
    chip = nnx.clone(chip)
    k_frozen, k_white = (None, None) if key is None else jr.split(key)
    layers = _nnx_layers(chip, _NNX_ANALOG)
    if not layers or any(layer.chip is None for _, _, layer in layers):
        raise ValueError("chip has unprogrammed analogue layers; program it first "
                         "(analogjax.nnx.program)")
    for n, (_, _, layer) in enumerate(layers):
        fold = lambda k, n=n: None if k is None else jr.fold_in(k, n)  # noqa: E731
        layer.chip = dataclasses.replace(layer.chip, read=Read(t, fold(k_frozen), fold(k_white)))
    return chip
