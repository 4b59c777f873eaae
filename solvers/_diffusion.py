"""Score-based diffusion sampling (Song et al., ICLR 2021) on the closed-loop analogue
integrator, and the digital Euler–Maruyama sampler it is compared with (../shared/RESEARCH.md
§1: the resistive-memory diffusion solver, arXiv 2404.05648)."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

import analogjax as aj
from analogjax.internal import check_int, check_key, check_range, is_concrete

from ._brownian import AbstractBrownian
from ._closed_loop import ClosedLoopIntegrator, LoopCircuit, LoopSolution, loop_energy


class VPSDE(eqx.Module):
    """Variance-preserving SDE ``dx = −½β(t)·x dt + √β(t) dW`` on ``t ∈ [0, 1]`` with the
    linear schedule ``β(t) = β0 + t·(β1 − β0)``; ``x_t = m(t)·x_0 + std(t)·z`` with
    ``log m = −¼t²(β1 − β0) − ½t·β0`` and ``std = √(1 − m²)``. Defaults: the diffusion
    solver's ``β0 = 0.001``, ``β1 = 0.5`` (arXiv 2404.05648)."""

    beta_min: float | Array = 0.001
    """β0 [1/unit time], >= 0."""
    beta_max: float | Array = 0.5
    """β1 [1/unit time], > β0."""

    def __check_init__(self):
        check_range("VPSDE.beta_min", self.beta_min, lower=0.0)
        check_range("VPSDE.beta_max", self.beta_max, lower=0.0, lower_open=True)
        if is_concrete((self.beta_min, self.beta_max)) and not (
                float(self.beta_max) > float(self.beta_min)):
            raise ValueError(f"VPSDE.beta_max must exceed beta_min={self.beta_min}; "
                             f"got {self.beta_max}")

    def beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_mean(self, t):
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def mean(self, t):
        """Signal coefficient m(t)."""
        return jnp.exp(self.log_mean(t))

    def std(self, t):
        """Noise standard deviation √(1 − m²)."""
        return jnp.sqrt(-jnp.expm1(2 * self.log_mean(t)))

    def perturb(self, x0: Array, t: Array, z: Array) -> Array:
        """``x_t = m(t)·x0 + std(t)·z`` (broadcast ``t`` over the last axis)."""
        t = jnp.asarray(t)[..., None]
        return self.mean(t) * x0 + self.std(t) * z


class ReverseDiffusion(eqx.Module):
    """The reverse-time process from ``t = 1`` to ``t_end`` of a ``VPSDE`` in the variable
    ``s = 1 − t`` (increasing, as a circuit's time runs), with score ``scale·f(x, t)``:

        dx = [½kβ(t)·x + kβ(t)·scale·f(x, t)] ds + √(kβ(t)) dW     (reverse SDE)
        dx = [½kβ(t)·x + ½kβ(t)·scale·f(x, t)] ds                   (probability-flow ODE)

    ``k`` (``beta_scale``) rescales β at sampling (the published sampler uses 2 for the
    unconditional and 1.5 for the conditional task). In the circuit ``½kβ`` is the state
    feedback DAC, ``kβ·scale`` the DAC gain on the score and ``√(kβ)`` the noise DAC."""

    sde: VPSDE = eqx.field(default_factory=VPSDE)
    beta_scale: float | Array = 1.0
    """k > 0: β multiplier at sampling."""
    t_end: float = eqx.field(default=1e-4, static=True)
    """Final diffusion time, in [0, 1)."""
    score_scale: float | Array = 5.0
    """Score = ``score_scale`` × the network output (the recipe's ×5)."""
    probability_flow: bool = eqx.field(default=False, static=True)
    """Solve the deterministic probability-flow ODE instead of the reverse SDE."""

    def __check_init__(self):
        check_range("ReverseDiffusion.beta_scale", self.beta_scale, lower=0.0, lower_open=True)
        check_range("ReverseDiffusion.t_end", self.t_end, lower=0.0, upper=1.0,
                    upper_open=True)
        check_range("ReverseDiffusion.score_scale", self.score_scale, lower=0.0,
                    lower_open=True)

    @property
    def duration(self) -> float:
        """Length of the reverse process in ``s``: ``1 − t_end``."""
        return 1.0 - self.t_end

    def time(self, s):
        """Diffusion time ``t = 1 − s``."""
        return 1.0 - s

    def feedback(self, s):
        return 0.5 * self.beta_scale * self.sde.beta(self.time(s))

    def score_gain(self, s):
        gain = self.beta_scale * self.sde.beta(self.time(s)) * self.score_scale
        return 0.5 * gain if self.probability_flow else gain

    def diffusion(self, s):
        return jnp.sqrt(self.beta_scale * self.sde.beta(self.time(s)))


class Samples(eqx.Module):
    """Samples and, where saved, their trajectories."""

    xs: Float[Array, "n T d"]
    """States at the saved times; ``xs[:, -1]`` are the samples."""
    ts: Float[Array, " T"]
    """Saved diffusion times ``t`` (from 1 down to ``t_end``)."""

    @property
    def final(self) -> Float[Array, "n d"]:
        return self.xs[:, -1]


def _check_sampling(n: int, steps: int, n_save: int) -> None:
    check_int("n", n, lower=1)
    check_int("steps", steps, lower=1)
    check_int("n_save", n_save, lower=2)
    if steps % (n_save - 1):
        raise ValueError(f"steps ({steps}) must be a multiple of n_save - 1 ({n_save - 1})")


class AbstractDiffusionSampler(eqx.Module):
    """Draws ``n`` samples by integrating the reverse process from ``x ~ N(0, I)`` at
    ``t = 1`` with ``steps`` steps, saving ``n_save`` evenly spaced states."""

    reverse: eqx.AbstractVar[ReverseDiffusion]

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        ...

    @abc.abstractmethod
    def sample(self, n: int, *, key: PRNGKeyArray, steps: int, n_save: int = 2) -> Samples:
        ...

    def _save_times(self, n_save: int) -> Array:
        return jnp.linspace(0.0, self.reverse.duration, n_save)


class DigitalSampler(AbstractDiffusionSampler):
    """Euler–Maruyama (or Euler for the probability-flow ODE) with the digital network
    ``network(x, t)`` (one ``x`` of shape (d,); score = ``score_scale``·output, guidance
    included): the published software baseline, one network evaluation per step."""

    reverse: ReverseDiffusion
    network: Callable[[Array, Array], Array]
    data_dim: int = eqx.field(static=True)

    @property
    def dim(self) -> int:
        return self.data_dim

    def sample(self, n, *, key, steps, n_save=2):
        _check_sampling(n, steps, n_save)
        check_key("key", key)
        reverse = self.reverse
        ds = reverse.duration / steps
        init_key, noise_key = jr.split(key)
        x0 = jr.normal(init_key, (n, self.dim))
        network = jax.vmap(self.network, in_axes=(0, None))

        def step(x, inputs):
            i, k = inputs
            s = i * ds
            f = network(x, reverse.time(s))
            x = x + (reverse.feedback(s) * x + reverse.score_gain(s) * f) * ds
            if not reverse.probability_flow:
                x = x + reverse.diffusion(s) * jnp.sqrt(ds) * jr.normal(k, x.shape, x.dtype)
            return x, None

        def block(x, inputs):
            x, _ = jax.lax.scan(step, x, inputs)
            return x, x

        every = steps // (n_save - 1)
        indices = jnp.arange(steps).reshape(n_save - 1, every)
        keys = jr.split(noise_key, (n_save - 1, every))
        _, saved = jax.lax.scan(block, x0, (indices, keys))
        xs = jnp.concatenate([x0[None], saved]).transpose(1, 0, 2)
        return Samples(xs=xs, ts=reverse.time(self._save_times(n_save)))


class AnalogSampler(AbstractDiffusionSampler):
    """The reverse process on the closed-loop integrator: the score network's weights on
    programmed crossbars (``network``, its output ``f`` with ``score = score_scale·f``), its
    time (and class) embedding a DAC drive at every hidden summing node, the state feedback
    ``½kβ``, the score gain and the noise intensity as DAC gains, and the noise injected by
    a white-noise source of intensity ``noise_gain·√(kβ)`` on top of the loop's own device
    and circuit noise (``noise``).

    ``schedule_updates`` (None: continuous) holds every schedule (embedding, β gains) for
    ``duration/schedule_updates`` as a DAC does (the published firmware: 240 updates),
    quantised by ``schedule_dac`` when given. Model time ``s`` maps to physical time
    ``τ·s`` (``τ = RC`` of the ``circuit``), so a sample takes ``(1 − t_end)·τ``."""

    reverse: ReverseDiffusion
    network: aj.ProgrammedNetwork
    embedding: Callable[[Array], Array]
    """Drive ``d(t)`` added to every hidden pre-activation (units) at diffusion time t."""
    circuit: LoopCircuit = eqx.field(default_factory=LoopCircuit)
    """Integrators, op-amps, signal scale and the loop's device and circuit noise."""
    noise_gain: float | Array = 1.0
    """Gain of the injected noise source relative to √(kβ) (>= 0; 1 is the exact SDE)."""
    schedule_updates: int | None = eqx.field(default=None, static=True)
    """Number of zero-order-held DAC updates of the schedules over the process."""
    schedule_dac: aj.DAC | None = None
    """Quantises the embedding drive (``input_range`` in units must be set)."""

    def __check_init__(self):
        check_range("AnalogSampler.noise_gain", self.noise_gain, lower=0.0)
        if self.schedule_updates is not None:
            check_int("AnalogSampler.schedule_updates", self.schedule_updates, lower=1)
        if self.schedule_dac is not None and self.schedule_dac.input_range is None:
            raise ValueError("AnalogSampler.schedule_dac needs a fixed input_range")

    @property
    def dim(self) -> int:
        return self.network.out_features

    @property
    def tau(self):
        """Integration time constant τ = R·C [s]."""
        return self.circuit.tau

    def _hold(self, s):
        if self.schedule_updates is None:
            return s
        width = self.reverse.duration / self.schedule_updates
        return jnp.floor(s / width + 1e-6) * width

    def _drive(self, s):
        d = self.embedding(self.reverse.time(self._hold(s)))
        if self.schedule_dac is not None:
            scale = self.schedule_dac.input_range
            d = scale * self.schedule_dac(d / scale)
        return d

    @property
    def loop(self) -> ClosedLoopIntegrator:
        """The closed-loop integrator this sampler runs."""
        reverse = self.reverse
        injected = None
        if not reverse.probability_flow:
            def injected(s):
                return self.noise_gain * reverse.diffusion(self._hold(s))
        return ClosedLoopIntegrator(
            self.network, self.circuit, drive=self._drive,
            feedback=lambda s: reverse.feedback(self._hold(s)),
            output_gain=lambda s: reverse.score_gain(self._hold(s)),
            injected_noise=injected)

    def solve_one(self, x0: Float[ArrayLike, " d"], *, key: PRNGKeyArray | None, steps: int,
                  n_save: int = 2, t: float | ArrayLike | None = None,
                  solver: diffrax.AbstractSolver | None = None,
                  brownian: AbstractBrownian | None = None,
                  adjoint: diffrax.AbstractAdjoint | None = None) -> LoopSolution:
        """One trajectory from ``x0`` (Heun steps unless ``solver`` is given), the chip read
        ``t`` seconds after programming."""
        loop = self.loop
        ts = self._save_times(n_save)
        noisy = loop.noise is not None or loop.injected_noise is not None
        return loop.solve(x0, ts, key=key if noisy else None, dt=self.reverse.duration / steps,
                          t=t, solver=diffrax.Heun() if solver is None else solver,
                          brownian=brownian, adjoint=adjoint, max_steps=steps + 1)

    def sample(self, n, *, key, steps, n_save=2, t=None, solver=None, brownian=None,
               adjoint=None):
        """``n`` samples (vmapped solves) from the chip read ``t`` seconds after programming
        (drift). Heun uses two network evaluations per step; pass ``solver=diffrax.Euler()``
        for one."""
        _check_sampling(n, steps, n_save)
        check_key("key", key)
        init_key, noise_key = jr.split(key)
        x0 = jr.normal(init_key, (n, self.dim))
        solve = lambda x, k: self.solve_one(  # noqa: E731
            x, key=k, steps=steps, n_save=n_save, t=t, solver=solver, brownian=brownian,
            adjoint=adjoint).xs
        xs = jax.vmap(solve)(x0, jr.split(noise_key, n))
        return Samples(xs=xs, ts=self.reverse.time(self._save_times(n_save)))

    def energy(self, *, key: PRNGKeyArray, steps: int = 1000,
               model: aj.energy.EnergyModel | None = None, dac_bits: int = 12,
               adc_bits: int = 12, dac_update_rate: float | None = None) -> dict[str, Array]:
        """Projected energy [J] and time [s] of one sample (:func:`loop_energy` along a
        noise-free trajectory from ``x ~ N(0, I)`` drawn from ``key``, saved at ``steps + 1``
        times): the DACs update at ``dac_update_rate`` [Hz] (default: ``schedule_updates``
        per sample, or one update per 1 % of the process)."""
        check_key("key", key)
        check_int("steps", steps, lower=1)
        quiet = dataclasses.replace(
            self, circuit=dataclasses.replace(self.circuit, noise=None),
            reverse=dataclasses.replace(self.reverse, probability_flow=True))
        solution = quiet.solve_one(jr.normal(key, (self.dim,)), key=None, steps=steps,
                                   n_save=steps + 1)
        updates = 100 if self.schedule_updates is None else self.schedule_updates
        rate = updates / (self.reverse.duration * self.tau) if dac_update_rate is None \
            else dac_update_rate
        return loop_energy(self.loop, solution, model=model, dac_bits=dac_bits,
                           adc_bits=adc_bits, dac_update_rate=rate)
