"""Convolutions on crossbars, the way chips run them: the kernel unrolled to a matrix
``out × (in·k₁·…·k_d)`` programmed onto tiles, and one array read per input patch (im2col;
e.g. Yao et al., Nature 577, 641 (2020); IBM aihwkit's ``AnalogConv2d``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._crossbar import Crossbar, ProgrammedCrossbar, Read
from ._validation import check_int, check_key


def _as_tuple(name: str, value: int | Sequence[int], dims: int) -> tuple[int, ...]:
    values = (value,) * dims if isinstance(value, int) else tuple(value)
    if len(values) != dims:
        raise ValueError(f"Convolution.{name} must be an int or {dims} ints; got {value}")
    for v in values:
        check_int(f"Convolution.{name}", v, lower=1)
    return values


MAX_CALIBRATION_VECTORS = 4096
"""Calibration reads of a layer use at most this many input vectors (evenly spaced)."""


def subsample(x: Float[Array, "M n"]) -> Float[Array, "m n"]:
    """At most :data:`MAX_CALIBRATION_VECTORS` rows of ``x``, evenly spaced."""
    stride = -(-x.shape[0] // MAX_CALIBRATION_VECTORS)
    return x[::stride]


class Convolution(eqx.Module):
    """The geometry of a ``d``-dimensional convolution (``d = len(kernel_size)``): channel
    first, as ``jax.lax.conv_general_dilated``'s defaults — inputs ``(N, C, *spatial)``,
    kernels ``(out, C / groups, *kernel_size)``, outputs ``(N, out, *spatial_out)``.
    ``groups = C`` with ``out = C·m`` is a depthwise convolution."""

    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: str | tuple[tuple[int, int], ...] = eqx.field(static=True)
    """``"VALID"``, ``"SAME"`` or one ``(low, high)`` pair per spatial axis."""
    dilation: tuple[int, ...] = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    def __init__(self, kernel_size: int | Sequence[int], *, stride: int | Sequence[int] = 1,
                 padding: str | Sequence[tuple[int, int]] = "VALID",
                 dilation: int | Sequence[int] = 1, groups: int = 1, dims: int | None = None):
        """``dims`` (spatial axes) is needed only when ``kernel_size`` is an int."""
        if isinstance(kernel_size, int):
            if dims is None:
                raise ValueError("Convolution: give kernel_size as a tuple or pass dims")
            kernel_size = (kernel_size,) * dims
        dims = len(kernel_size)
        if dims < 1:
            raise ValueError("Convolution.kernel_size must have at least one axis")
        self.kernel_size = _as_tuple("kernel_size", kernel_size, dims)
        self.stride = _as_tuple("stride", stride, dims)
        self.dilation = _as_tuple("dilation", dilation, dims)
        if isinstance(padding, str):
            if padding not in ("VALID", "SAME"):
                raise ValueError(f"Convolution.padding must be 'VALID', 'SAME' or (low, high) "
                                 f"pairs; got {padding!r}")
            self.padding = padding
        else:
            pairs = tuple((int(lo), int(hi)) for lo, hi in padding)
            if len(pairs) != dims or min(min(p) for p in pairs) < 0:
                raise ValueError(f"Convolution.padding must be {dims} (low, high) pairs of "
                                 f"non-negative ints; got {padding}")
            self.padding = pairs
        self.groups = check_int("Convolution.groups", groups, lower=1)

    @property
    def window(self) -> int:
        """Kernel taps per input channel."""
        return math.prod(self.kernel_size)

    def _check(self, kernel_shape: tuple[int, ...]):
        out, per_group, *taps = kernel_shape
        if tuple(taps) != self.kernel_size:
            raise ValueError(f"kernel must have shape (out, in / groups, *{self.kernel_size}); "
                             f"got {kernel_shape}")
        if out % self.groups:
            raise ValueError(f"kernel's {out} output channels are not divisible by groups="
                             f"{self.groups}")

    def unroll(self, kernel: Float[Array, "out cin *k"]) -> Float[Array, "groups gout gin"]:
        """The kernel as one matrix per group: ``(groups, out / groups, in / groups·window)``,
        columns ordered channel-major (as :meth:`patches`)."""
        self._check(kernel.shape)
        return kernel.reshape(self.groups, kernel.shape[0] // self.groups, -1)

    def patches(self, x: Float[Array, "N C *spatial"]
                ) -> tuple[Float[Array, "groups NP gin"], tuple[int, ...]]:
        """Every input patch as one vector per group ``(groups, N·P, C / groups·window)``
        (P output positions), and the output's spatial shape."""
        n, channels = x.shape[:2]
        if channels % self.groups:
            raise ValueError(f"x's {channels} channels are not divisible by groups={self.groups}")
        p = jax.lax.conv_general_dilated_patches(
            x, self.kernel_size, self.stride, self.padding, rhs_dilation=self.dilation)
        spatial = p.shape[2:]
        p = jnp.moveaxis(p, 1, -1).reshape(-1, self.groups, channels // self.groups * self.window)
        return jnp.swapaxes(p, 0, 1), spatial

    def digital(self, x: Float[ArrayLike, "N C *spatial"], kernel: Float[ArrayLike, "out cin *k"]
                ) -> Float[Array, "N out *spatial_out"]:
        """The digital convolution (``jax.lax.conv_general_dilated``), the reference."""
        kernel = jnp.asarray(kernel)
        self._check(kernel.shape)
        return jax.lax.conv_general_dilated(
            jnp.asarray(x), kernel, self.stride, self.padding, rhs_dilation=self.dilation,
            feature_group_count=self.groups)

    def program(self, crossbar: Crossbar, kernel: Float[ArrayLike, "out cin *k"], *,
                key: PRNGKeyArray | None = None, bias: Float[ArrayLike, " out"] | None = None,
                calibration_inputs: Float[ArrayLike, "N C *spatial"] | None = None
                ) -> ProgrammedConv:
        """Program ``kernel`` onto ``crossbar`` arrays: each group's unrolled matrix is a
        chip of its own (its own tiles, programmed with its own key). ``bias`` stays
        digital. ``calibration_inputs`` (images) set the ADC ranges from their patches (at
        most ``MAX_CALIBRATION_VECTORS``, evenly spaced); default: the ADC range's own
        pattern."""
        kernel = jnp.asarray(kernel)
        if kernel.ndim != 2 + len(self.kernel_size):
            raise ValueError(f"kernel must have shape (out, in / groups, *{self.kernel_size}); "
                             f"got {kernel.shape}")
        check_key("key", key, required=False)
        matrices = self.unroll(kernel)
        calibration = None
        if calibration_inputs is not None:
            calibration = jax.vmap(subsample)(self.patches(jnp.asarray(calibration_inputs))[0])
        keys = None if key is None else jr.split(key, self.groups)
        chips = jax.vmap(lambda w, k, c: crossbar.program(w, key=k, calibration_inputs=c))(
            matrices, keys, calibration)
        if bias is not None:
            bias = jnp.asarray(bias)
            if bias.shape != (kernel.shape[0],):
                raise ValueError(f"bias must have shape ({kernel.shape[0]},); got {bias.shape}")
        return ProgrammedConv(self, chips, bias)


class ProgrammedConv(eqx.Module):
    """A convolution kernel programmed onto crossbars: a chip instance (a pytree). Each call
    reads every patch once through its group's arrays (DAC, read noise, ADC, IR drop as the
    crossbar has them); the bias, if any, is added digitally (as on chips)."""

    convolution: Convolution
    chips: ProgrammedCrossbar
    """One programmed matrix per group, stacked on a leading axis."""
    bias: Float[Array, " out"] | None = None
    read: Read | None = None
    """The read time and noise keys bound by :func:`analogjax.read` (used when the call
    passes no ``key``)."""

    def __call__(self, x: Float[ArrayLike, "*N C *spatial"], *, key: PRNGKeyArray | None = None,
                 t: float | ArrayLike | None = None) -> Float[Array, "*N out *spatial_out"]:
        """The analogue convolution of ``x`` (one image ``(C, *spatial)``, as
        ``equinox.nn.Conv`` takes, or a batch ``(N, C, *spatial)``) read ``t`` seconds after
        programming with fresh read noise from ``key``; without ``key``, read as the bound
        :class:`Read` says (or noise-free, at the drift reference time, if none is bound)."""
        x = jnp.asarray(x)
        dims = len(self.convolution.kernel_size)
        if x.ndim not in (1 + dims, 2 + dims):
            raise ValueError(f"x must have shape ([N,] C, {dims} spatial axes); got {x.shape}")
        single = x.ndim == 1 + dims
        x = x[None] if single else x
        channels = self.convolution.groups * self.chips.in_features // self.convolution.window
        if x.shape[1] != channels:
            raise ValueError(f"x must have {channels} channels (axis {0 if single else 1}); got "
                             f"shape {x.shape[1:] if single else x.shape}")
        check_key("key", key, required=False)
        groups = self.convolution.groups
        read = Read.of_key(key, t) if key is not None or self.read is None else self.read
        split = lambda k: None if k is None else jr.split(k, groups)  # noqa: E731
        patches, spatial = self.convolution.patches(x)
        y = jax.vmap(lambda chip, xg, kf, kw: Read(read.t, kf, kw)(chip, xg))(
            self.chips, patches, split(read.frozen_key), split(read.white_key))
        y = jnp.swapaxes(y, 0, 1).reshape(x.shape[0], *spatial, -1)  # (N, *out, groups·gout)
        y = jnp.moveaxis(y, -1, 1)
        if self.bias is not None:
            y = y + self.bias.reshape(-1, *(1,) * dims).astype(y.dtype)
        return y[0] if single else y
