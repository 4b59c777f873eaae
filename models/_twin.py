"""Memristive neural-ODE digital twins (RESEARCH.md §2): a neural ODE trained on trajectories
of a physical system, deployed on noisy crossbars and solved by the closed-loop integrator.

Systems: an HP memristor driven by a voltage (state x in [0, 1]) and Lorenz96
(``dx_i/dt = (x_{i+1} − x_{i−2})·x_{i−1} − x_i + F``, states scaled by 1/10 for the
hardware's signal range).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float, PRNGKeyArray

import analogjax as aj
from analogjax import memristor as mem, solvers
from analogjax.internal import check_int, check_key, integrate

from ._fit import fit

LORENZ96_SCALE = 10.0
"""Lorenz96 states are divided by this before they reach the network (units ≈ ±1)."""


def lorenz96_field(x: Array, forcing: float = 8.0) -> Array:
    """Lorenz96 vector field (Lorenz 1996), periodic indices."""
    return (jnp.roll(x, -1) - jnp.roll(x, 2)) * jnp.roll(x, 1) - x + forcing


def lorenz96_trajectories(
    n: int = 8, forcing: float = 8.0, *, n_trajectories: int, t_end: float, dt: float,
    key: PRNGKeyArray, spin_up: float = 10.0,
) -> tuple[Float[Array, " T"], Float[Array, "B T n"]]:
    """Lorenz96 trajectories on the attractor (after ``spin_up`` time units from
    ``F + N(0, 1)`` starts), saved every ``dt``; returned scaled by 1/``LORENZ96_SCALE``."""
    check_int("n", n, lower=4, upper=4096)
    x0 = forcing + jr.normal(key, (n_trajectories, n))
    field = lambda t, x: lorenz96_field(x, forcing)  # noqa: E731
    ts = jnp.arange(0.0, t_end + dt / 2, dt)
    controller = diffrax.PIDController(rtol=1e-8, atol=1e-8)
    settle = jax.vmap(lambda x: integrate(field, x, jnp.array([0.0, spin_up]),
                                          stepsize_controller=controller)[-1])(x0)
    ys = jax.vmap(lambda x: integrate(field, x, ts, stepsize_controller=controller))(settle)
    return ts, ys / LORENZ96_SCALE


def hp_memristor_trajectories(
    *, x0s: Float[Array, " B"], drive: Callable[[Array], Array], t_end: float, dt: float,
    device: mem.HPMemristor | None = None,
) -> tuple[Float[Array, " T"], Float[Array, "B T 1"]]:
    """HP memristor (Joglekar window p = 2 unless ``device`` is given) driven by
    ``drive(t)`` [V]: state trajectories from each of ``x0s``, saved every ``dt`` [s]."""
    device = mem.HPMemristor(window=mem.JoglekarWindow(p=2)) if device is None else device
    ts = jnp.arange(0.0, t_end + dt / 2, dt)
    xs = jax.vmap(lambda x0: mem.simulate_memristor(device, drive, x0, ts).x)(x0s)
    return ts, xs[..., None]


class NeuralODE(eqx.Module):
    """``dx/dt = f_θ(x, u(t))``: a fully connected vector field (an ``analogjax.Network``
    with biases) with optional external inputs."""

    network: aj.Network
    inputs: Callable[[Array], Array] | None = None
    """``u(t)`` appended to the state (e.g. the drive voltage), or None."""

    def __check_init__(self):
        if not (isinstance(self.network.architecture, aj.MLPArchitecture)
                and self.network.architecture.has_biases):
            raise ValueError("NeuralODE.network must be fully connected with biases "
                             "(MLPArchitecture(sizes, bias=True))")

    def field(self, t, x, network: aj.Network | None = None) -> Array:
        network = self.network if network is None else network
        if self.inputs is not None:
            x = jnp.concatenate([x, jnp.atleast_1d(self.inputs(t))])
        return network(x)

    def solve(self, x0: Array, ts: Array, *, solver: diffrax.AbstractSolver | None = None,
              stepsize_controller: diffrax.AbstractStepSizeController | None = None) -> Array:
        """Digital solve saved at ``ts`` (``solver`` default Tsit5, ``stepsize_controller``
        default ``PIDController(rtol=1e-6, atol=1e-8)``)."""
        controller = (diffrax.PIDController(rtol=1e-6, atol=1e-8) if stepsize_controller is None
                      else stepsize_controller)
        return integrate(lambda t, x: self.field(t, x), x0, ts, solver=solver,
                         stepsize_controller=controller)

    def deploy(self, crossbar: aj.Crossbar, *, key: PRNGKeyArray | None,
               circuit: solvers.LoopCircuit | None = None, input_dac: aj.DAC | None = None,
               state_limits: tuple[float, float] | None = None
               ) -> solvers.ClosedLoopIntegrator:
        """Program the vector field onto ``crossbar`` arrays (one chip from ``key``) and
        close the loop through ``circuit`` (default ``solvers.LoopCircuit()``); the inputs
        ``u(t)`` through ``input_dac``; ``state_limits`` as in the closed loop."""
        network = self.network.program(crossbar, key=key, bias_on_chip=True)
        return solvers.ClosedLoopIntegrator(
            network, solvers.LoopCircuit() if circuit is None else circuit, inputs=self.inputs,
            input_dac=input_dac, state_limits=state_limits)


def train_neural_ode(
    model: NeuralODE,
    ts: Float[Array, " T"],
    ys: Float[Array, "B T n"],
    *,
    key: PRNGKeyArray,
    steps: int = 2000,
    segment: int = 8,
    batch: int = 64,
    optimiser: optax.GradientTransformation | None = None,
    weight_noise: aj.WeightNoise | None = aj.WeightNoise(std=0.05, clip=0.2),
) -> tuple[NeuralODE, Array]:
    """Fit ``model`` to trajectories by multiple shooting: random segments of ``segment``
    saved steps are integrated from their first point (Heun steps of the data spacing, one
    diffrax solve per segment, vmapped) and matched in mean squared error. Weights and
    biases are perturbed by ``weight_noise`` (σ 0.05 capped at 0.2, resampled per step) so
    the twin tolerates programming noise. ``optimiser`` defaults to Adam (3e-3) with cosine
    decay after clipping at global norm 1; :func:`fit` runs it as one ``lax.scan``.
    Returns the trained model and the loss history."""
    check_int("segment", segment, lower=1, upper=ts.shape[0] - 1)
    check_int("steps", steps, lower=1)
    check_key("key", key)
    dt = ts[1] - ts[0]
    n_traj, n_t = ys.shape[:2]
    if optimiser is None:
        optimiser = optax.chain(optax.clip_by_global_norm(1.0),
                                optax.adam(optax.cosine_decay_schedule(3e-3, steps)))
    params, static = eqx.partition(model.network, eqx.is_inexact_array)

    def segment_loss(network, i, j):
        t0 = ts[j]
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, x, _: model.field(t, x, network)), diffrax.Heun(), t0,
            t0 + segment * dt, dt, ys[i, j],
            saveat=diffrax.SaveAt(ts=t0 + dt * jnp.arange(1, segment + 1)),
            max_steps=segment + 1)
        target = jax.lax.dynamic_slice_in_dim(ys[i], j + 1, segment)
        return jnp.mean((sol.ys - target) ** 2)

    def loss_fn(params, key):
        k_noise, k_i, k_j = jr.split(key, 3)
        network = eqx.combine(params, static)
        if weight_noise is not None:
            network = weight_noise(network, key=k_noise)
        i = jr.randint(k_i, (batch,), 0, n_traj)
        j = jr.randint(k_j, (batch,), 0, n_t - segment)
        return jnp.mean(jax.vmap(segment_loss, in_axes=(None, 0, 0))(network, i, j))

    params, losses = fit(loss_fn, params, optimiser, key=key, steps=steps)
    return eqx.tree_at(lambda m: m.network, model, eqx.combine(params, static)), losses


def rmse(a: Array, b: Array, axis=-1) -> Array:
    """Root-mean-square difference over ``axis``."""
    return jnp.sqrt(jnp.mean((a - b) ** 2, axis=axis))


def timed(fn: Callable, *args, repeats: int = 3) -> tuple[object, float]:
    """Result of ``fn(*args)`` and its best wall time [s] over ``repeats`` runs (after one
    warm-up run that compiles)."""
    out = jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return out, best
