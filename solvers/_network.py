"""A feed-forward network on programmed crossbars, evaluated as unclocked analogue hardware:
bit-line currents go through transimpedance amplifiers and activation circuits straight into
the next crossbar (no DAC/ADC between layers)."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

import analogjax as aj
from analogjax.circuits import AbstractActivation, Rectifier


class CrossbarNetwork(eqx.Module):
    """An MLP ``f(x, u)`` whose weight matrices (with their biases, as one extra word line
    driven at one unit) are programmed crossbars; hidden activations are circuits.

    Layer ``l`` computes ``z_l = W_l·[h_{l−1}; 1]`` (``h_0 = [x; u]``: the state and the
    external inputs) and, for hidden layers, ``h_l = act(v_unit·(z_l + d)) / v_unit`` with
    ``d`` an optional drive added at the summing node (e.g. a time embedding). Values are in
    *units*; a unit is ``v_unit`` volts on a line.
    """

    chips: tuple[aj.ProgrammedCrossbar, ...]
    activation: AbstractActivation = eqx.field(default_factory=Rectifier)

    def __check_init__(self):
        if len(self.chips) == 0:
            raise ValueError("CrossbarNetwork needs at least one programmed crossbar")
        for i, (a, b) in enumerate(zip(self.chips[:-1], self.chips[1:], strict=True)):
            if b.in_features != a.out_features + 1:
                raise ValueError(f"chips[{i + 1}] must take {a.out_features} + 1 (bias) "
                                 f"inputs; got {b.in_features}")

    @property
    def in_features(self) -> int:
        """State plus external inputs (the bias line excluded)."""
        return self.chips[0].in_features - 1

    @property
    def out_features(self) -> int:
        return self.chips[-1].out_features

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(chip.out_features for chip in self.chips[:-1])

    def matrices(self, t: float | ArrayLike | None = None) -> tuple[aj.AnalogMatrices, ...]:
        """Every layer in weight units at device age ``t`` [s] (drift)."""
        return tuple(chip.analog(t) for chip in self.chips)


def program_network(
    crossbar: aj.Crossbar,
    weights: Sequence[Float[ArrayLike, "out in"]],
    biases: Sequence[Float[ArrayLike, " out"]],
    *,
    key: PRNGKeyArray | None = None,
    activation: AbstractActivation | None = None,
) -> CrossbarNetwork:
    """Program an MLP (``weights[l]`` (out, in), ``biases[l]`` (out,)) onto ``crossbar``
    arrays, each bias as the last word line of its layer: one chip instance."""
    if len(weights) != len(biases) or len(weights) == 0:
        raise ValueError(f"weights and biases must be non-empty and of equal length; got "
                         f"{len(weights)} and {len(biases)}")
    keys = [None] * len(weights) if key is None else list(jr.split(key, len(weights)))
    chips = tuple(
        crossbar.program(jnp.concatenate([jnp.asarray(w), jnp.asarray(b)[:, None]], axis=1),
                         key=k)
        for w, b, k in zip(weights, biases, keys, strict=True))
    return CrossbarNetwork(chips, Rectifier() if activation is None else activation)


def mlp_forward(weights, biases, x: Array, activation=jax.nn.relu, drive=None) -> Array:
    """The digital network the crossbars hold: ``f(x)`` with ``drive`` added to every
    hidden pre-activation."""
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        x = w @ x + b
        if i < len(weights) - 1:
            x = activation(x if drive is None else x + drive)
    return x
