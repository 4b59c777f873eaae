"""Analogue layers for equinox models and chips of whole networks.

:func:`convert` turns every ``equinox.nn.Linear`` and ``equinox.nn.Conv`` of any equinox
model into an analogue layer that knows its hardware (a :class:`~analogjax.Crossbar`);
the converted model still computes digitally, so it trains as before. :func:`program`
programs every analogue layer once — a chip of the whole network, a pytree — and
:func:`read` / :func:`evaluate` read that chip at any time with fresh read noise. ``vmap``
over programming keys is a Monte Carlo over chips.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

from ._conv import Convolution, ProgrammedConv, subsample
from ._crossbar import Crossbar, ProgrammedCrossbar, Read
from ._validation import check_int, check_key


class AnalogLinear(eqx.Module):
    """A linear layer ``y = W x + b`` meant for crossbar hardware: ``W`` is programmed onto
    ``crossbar`` arrays by :meth:`program` (or :func:`analogjax.program` for a whole
    network); ``b`` stays digital, as on chips. Called directly it computes digitally (the
    weights the chip will be programmed to), so a converted model trains as before."""

    weight: Float[Array, "out in"]
    bias: Float[Array, " out"] | None
    crossbar: Crossbar

    def __check_init__(self):
        w = self.weight
        if jnp.ndim(w) != 2 or (self.bias is not None and jnp.shape(self.bias) != w.shape[:1]):
            raise ValueError(f"AnalogLinear needs weight (out, in) and bias (out,) or None; got "
                             f"{jnp.shape(w)} and "
                             f"{None if self.bias is None else jnp.shape(self.bias)}")

    @classmethod
    def init(cls, in_features: int, out_features: int, crossbar: Crossbar, *,
             use_bias: bool = True, key: PRNGKeyArray) -> AnalogLinear:
        """Weights and bias ``U(−1/√in, 1/√in)`` (the default of ``equinox.nn.Linear`` and
        PyTorch's ``nn.Linear``)."""
        check_int("in_features", in_features, lower=1)
        check_int("out_features", out_features, lower=1)
        check_key("key", key)
        lim = 1 / jnp.sqrt(in_features)
        k_w, k_b = jr.split(key)
        weight = jr.uniform(k_w, (out_features, in_features), minval=-lim, maxval=lim)
        bias = jr.uniform(k_b, (out_features,), minval=-lim, maxval=lim) if use_bias else None
        return cls(weight, bias, crossbar)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def __call__(self, x: Float[Array, "... in"], *, key: PRNGKeyArray | None = None
                 ) -> Float[Array, "... out"]:
        """The digital layer (``key`` is ignored, as by ``equinox.nn.Linear``)."""
        del key
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def program(self, *, key: PRNGKeyArray | None,
                calibration_inputs: Float[ArrayLike, "... in"] | None = None
                ) -> ProgrammedLinear:
        """Program the weights: the layer's chip instance. ``calibration_inputs`` (any batch
        shape) set the ADC ranges (see :meth:`Crossbar.program`)."""
        if calibration_inputs is not None:
            calibration_inputs = subsample(
                jnp.asarray(calibration_inputs).reshape(-1, self.in_features))
        return ProgrammedLinear(self.crossbar.program(
            self.weight, key=key, calibration_inputs=calibration_inputs), self.bias)


class ProgrammedLinear(eqx.Module):
    """A linear layer programmed onto crossbars (a chip instance): ``W x`` read in analogue
    (DAC, read noise, ADC, IR drop as the crossbar has them), the bias added digitally."""

    chip: ProgrammedCrossbar
    bias: Float[Array, " out"] | None = None
    read: Read | None = None
    """The read time and noise keys bound by :func:`analogjax.read` (used when the call
    passes no ``key``)."""

    def __call__(self, x: Float[ArrayLike, "... in"], *, key: PRNGKeyArray | None = None,
                 t: float | ArrayLike | None = None) -> Float[Array, "... out"]:
        """The analogue layer read ``t`` seconds after programming with fresh read noise from
        ``key``; without ``key``, read as the bound :class:`~analogjax.Read` says (or
        noise-free at the drift reference time if none is bound)."""
        read = Read.of_key(key, t) if key is not None or self.read is None else self.read
        y = read(self.chip, x)
        return y if self.bias is None else y + self.bias.astype(y.dtype)


class AnalogConv(eqx.Module):
    """A convolution meant for crossbar hardware (channel first, as ``equinox.nn.Conv``):
    the kernel, unrolled per group to ``out/groups × (in/groups·window)``, is programmed
    onto ``crossbar`` arrays by :meth:`program` and every patch is one array read; the bias
    stays digital. Called directly it computes digitally."""

    convolution: Convolution
    weight: Float[Array, "out cin *k"]
    bias: Float[Array, " out"] | None
    crossbar: Crossbar

    def __check_init__(self):
        self.convolution._check(jnp.shape(self.weight))
        if self.bias is not None and jnp.shape(self.bias) != jnp.shape(self.weight)[:1]:
            raise ValueError(f"AnalogConv.bias must have shape ({jnp.shape(self.weight)[0]},); "
                             f"got {jnp.shape(self.bias)}")

    def __call__(self, x: Float[Array, "*N C *spatial"], *, key: PRNGKeyArray | None = None
                 ) -> Float[Array, "*N out *spatial_out"]:
        """The digital convolution of one image ``(C, *spatial)`` or a batch (``key`` is
        ignored, as by ``equinox.nn.Conv``)."""
        del key
        dims = len(self.convolution.kernel_size)
        single = jnp.ndim(x) == 1 + dims
        y = self.convolution.digital(x[None] if single else x, self.weight)
        if self.bias is not None:
            y = y + self.bias.reshape(-1, *(1,) * dims)
        return y[0] if single else y

    def program(self, *, key: PRNGKeyArray | None,
                calibration_inputs: Float[ArrayLike, "... C *spatial"] | None = None
                ) -> ProgrammedConv:
        """Program the kernel: the layer's chip instance. ``calibration_inputs`` (images,
        any batch shape) set the ADC ranges from their patches."""
        if calibration_inputs is not None:
            dims = len(self.convolution.kernel_size)
            x = jnp.asarray(calibration_inputs)
            calibration_inputs = x.reshape(-1, *x.shape[x.ndim - 1 - dims:])
        return self.convolution.program(self.crossbar, self.weight, key=key, bias=self.bias,
                                        calibration_inputs=calibration_inputs)


_ANALOG = (AnalogLinear, AnalogConv)
_PROGRAMMED = (ProgrammedLinear, ProgrammedConv)
_CONVERTIBLE = (eqx.nn.Linear, eqx.nn.Conv) + _ANALOG

Hardware = Crossbar | Callable[[str, eqx.Module], Crossbar | None]
"""A crossbar for every layer, or a function ``(path, layer) → crossbar`` (None: the layer
stays digital)."""


def _flatten(model: PyTree, kinds: tuple[type, ...]):
    """The model's leaves with every layer of ``kinds`` as one leaf, their paths as strings
    (``"layers.0"``, ``"conv1"``), and the tree structure."""
    flat, treedef = jtu.tree_flatten_with_path(model, is_leaf=lambda n: isinstance(n, kinds))
    paths = [jtu.keystr(path, simple=True, separator=".") for path, _ in flat]
    return [leaf for _, leaf in flat], paths, treedef


def find_layers(model: PyTree) -> dict[str, Any]:
    """The model's linear and convolution layers — digital, analogue or programmed — by
    path (the keys :func:`convert`'s ``layers`` takes)."""
    kinds = _CONVERTIBLE + _PROGRAMMED
    leaves, paths, _ = _flatten(model, kinds)
    return {p: leaf for p, leaf in zip(paths, leaves, strict=True) if isinstance(leaf, kinds)}


def _to_analog(path: str, layer: eqx.Module, crossbar: Crossbar) -> AnalogLinear | AnalogConv:
    if isinstance(layer, _ANALOG):
        return dataclasses.replace(layer, crossbar=crossbar)
    if isinstance(layer, eqx.nn.Linear):
        if layer.in_features == "scalar" or layer.out_features == "scalar":
            raise ValueError(f"layer {path!r}: a Linear with 'scalar' features has no matrix to "
                             "put on a crossbar; leave it digital (layers={path!r: None})")
        return AnalogLinear(layer.weight, layer.bias, crossbar)
    if layer.padding_mode != "ZEROS":
        raise ValueError(f"layer {path!r}: padding_mode={layer.padding_mode!r} is not "
                         "supported on crossbars (only 'ZEROS'); leave it digital")
    conv = Convolution(layer.kernel_size, stride=layer.stride, padding=layer.padding,
                       dilation=layer.dilation, groups=layer.groups)
    bias = None if layer.bias is None else layer.bias.reshape(-1)
    return AnalogConv(conv, layer.weight, bias, crossbar)


def _check_hardware(hardware: Hardware):
    if not isinstance(hardware, Crossbar) and not callable(hardware):
        raise TypeError(f"hardware must be a Crossbar or a function (path, layer) → Crossbar "
                        f"| None; got {type(hardware).__name__}")


def _check_overrides(overrides: Mapping[str, Crossbar | None], found: list[str]):
    unknown = sorted(set(overrides) - set(found))
    if unknown:
        raise ValueError(f"layers names {unknown}, which are not linear or convolution layers "
                         f"of the model; its layers are {found}")


def choose_hardware(path: str, layer, hardware: Hardware,
                    overrides: Mapping[str, Crossbar | None]) -> Crossbar | None:
    """The crossbar of the layer at ``path`` (None: stays digital)."""
    if path in overrides:
        crossbar = overrides[path]
    else:
        crossbar = hardware if isinstance(hardware, Crossbar) else hardware(path, layer)
    if crossbar is not None and not isinstance(crossbar, Crossbar):
        raise TypeError(f"layer {path!r}: hardware must be a Crossbar or None; got "
                        f"{type(crossbar).__name__}")
    return crossbar


def convert(model: PyTree, hardware: Hardware, *,
            layers: Mapping[str, Crossbar | None] | None = None) -> PyTree:
    """``model`` with every ``equinox.nn.Linear`` and ``equinox.nn.Conv`` (and every
    analogue layer, to change its hardware) an analogue layer on ``hardware``: one crossbar
    for all, or a function ``(path, layer) → crossbar or None`` (None: stays digital).
    ``layers`` overrides by path (see :func:`analogjax.find_layers`), e.g. ``{"layers.0": None}``
    keeps the first layer digital. Weights and biases are kept; biases stay digital."""
    _check_hardware(hardware)
    leaves, paths, treedef = _flatten(model, _CONVERTIBLE)
    found = [p for p, leaf in zip(paths, leaves, strict=True) if isinstance(leaf, _CONVERTIBLE)]
    overrides = dict(layers or {})
    _check_overrides(overrides, found)
    converted = []
    for path, leaf in zip(paths, leaves, strict=True):
        if isinstance(leaf, _CONVERTIBLE):
            crossbar = choose_hardware(path, leaf, hardware, overrides)
            leaf = leaf if crossbar is None else _to_analog(path, leaf, crossbar)
        converted.append(leaf)
    return jtu.tree_unflatten(treedef, converted)


def map_analog_weights(fn: Callable[[int, Array], Array], model: PyTree) -> PyTree:
    """``model`` with the weights ``w`` of its ``n``-th analogue layer (tree order) replaced
    by ``fn(n, w)``."""
    leaves, _, treedef = _flatten(model, _ANALOG)
    analog = [i for i, leaf in enumerate(leaves) if isinstance(leaf, _ANALOG)]
    for n, i in enumerate(analog):
        leaves[i] = eqx.tree_at(lambda m: m.weight, leaves[i], fn(n, leaves[i].weight))
    return jtu.tree_unflatten(treedef, leaves)


class _Recorder:
    """Stands in for an analogue layer while calibration data runs through the digital
    network: records the layer's inputs, returns its digital output."""

    def __init__(self, layer, store: list):
        self.layer, self.store = layer, store

    def __call__(self, x, **kwargs):
        self.store.append(x)
        return self.layer(x, **kwargs)


def layer_inputs(model: PyTree, x: Float[ArrayLike, "N ..."]) -> list[Array | None]:
    """The inputs every analogue layer (tree order) sees when the digital network runs on
    each example of ``x`` (``vmap`` over the leading axis): ``(N, calls, ...)`` per layer
    (every call of a layer used more than once), None for a layer never called."""
    leaves, _, treedef = _flatten(model, _ANALOG)
    analog = [i for i, leaf in enumerate(leaves) if isinstance(leaf, _ANALOG)]

    def forward(xi):
        stores = [[] for _ in analog]
        recording = list(leaves)
        for i, store in zip(analog, stores, strict=True):
            recording[i] = _Recorder(leaves[i], store)
        jtu.tree_unflatten(treedef, recording)(xi)
        return [None if not s else s[0][None] if len(s) == 1 else jnp.stack(s)
                for s in stores]

    # the barrier keeps XLA from constant-folding the whole digital forward pass when the
    # weights and the data are both constants of a program (seconds of compile time)
    return jax.vmap(forward)(jax.lax.optimization_barrier(jnp.asarray(x)))


def program(model: PyTree, *, key: PRNGKeyArray | None,
            calibration: Float[ArrayLike, "N ..."] | None = None) -> PyTree:
    """Program every analogue layer of a converted model: a chip of the whole network (the
    model with :class:`ProgrammedLinear` / :class:`~analogjax.ProgrammedConv` layers, a
    pytree). Layer ``i`` (in tree order) is programmed from ``fold_in(key, i)``; ``vmap``
    over ``key`` programs a batch of chips.

    ``calibration``: example inputs (leading axis; the model is called per example) whose
    activations set every layer's ADC range, as chips are calibrated on representative
    data (the digital network's activations stand in for the analogue ones). Without it
    each ADC is calibrated on its range's zero-mean pattern, which under-ranges layers whose
    inputs are all positive (after a ReLU, images): their currents add coherently and clip.
    """
    check_key("key", key, required=False)
    leaves, _, treedef = _flatten(model, _ANALOG)
    analog = [i for i, leaf in enumerate(leaves) if isinstance(leaf, _ANALOG)]
    if not analog:
        raise ValueError("model has no analogue layers; convert it first (analogjax.convert)")
    inputs = [None] * len(analog) if calibration is None else layer_inputs(model, calibration)
    for n, i in enumerate(analog):
        leaves[i] = leaves[i].program(key=None if key is None else jr.fold_in(key, n),
                                      calibration_inputs=inputs[n])
    return jtu.tree_unflatten(treedef, leaves)


def _bind(chip: PyTree, bind: Callable[[int, eqx.Module], eqx.Module]) -> PyTree:
    leaves, _, treedef = _flatten(chip, _PROGRAMMED)
    programmed = [i for i, leaf in enumerate(leaves) if isinstance(leaf, _PROGRAMMED)]
    if not programmed:
        raise ValueError("chip has no programmed layers; program it first (analogjax.program)")
    for n, i in enumerate(programmed):
        leaves[i] = bind(n, leaves[i])
    return jtu.tree_unflatten(treedef, leaves)


def read(chip: PyTree, *, key: PRNGKeyArray | None = None,
         t: float | ArrayLike | None = None) -> PyTree:
    """``chip`` (from :func:`program`) set to be read ``t`` seconds after programming: every
    programmed layer gets its frozen-noise key for this read time and a white-noise key
    (both from ``key``; None for noise-free devices). Call the result as the original
    model; a batch of inputs gets independent white noise per vector (where the layers see
    the batch; for models written per example use :func:`evaluate`)."""
    check_key("key", key, required=False)
    k_frozen, k_white = (None, None) if key is None else jr.split(key)

    def bind(n, layer):
        fold = lambda k: None if k is None else jr.fold_in(k, n)  # noqa: E731
        return dataclasses.replace(layer, read=Read(t, fold(k_frozen), fold(k_white)))

    return _bind(chip, bind)


def evaluate(chip: PyTree, x: Float[ArrayLike, "N ..."], *, key: PRNGKeyArray | None = None,
             t: float | ArrayLike | None = None, **kwargs) -> PyTree:
    """The outputs of ``chip`` for every example of ``x`` (leading axis), read ``t`` seconds
    after programming: the model is called per example (``vmap``, as equinox models are
    written), with the frozen noise of this read time shared by all examples and white
    noise independent per example. ``kwargs`` are passed to every call."""
    check_key("key", key, required=False)
    x = jnp.asarray(x)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"x must hold a batch of examples on its leading axis; got shape "
                         f"{x.shape}")
    k_read, k_examples = (None, None) if key is None else jr.split(key)
    bound = read(chip, key=k_read, t=t)
    if key is None:
        return jax.vmap(lambda xi: bound(xi, **kwargs))(x)

    def one(xi, k):
        def rekey(n, layer):
            return eqx.tree_at(lambda m: m.read.white_key, layer, jr.fold_in(k, n))

        return _bind(bound, rekey)(xi, **kwargs)

    return jax.vmap(one)(x, jr.split(k_examples, x.shape[0]))
