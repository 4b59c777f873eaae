"""Benchmark sequences for time-series reservoirs, generated (no data files): NARMA-10 and
the Mackey–Glass delay equation, and the normalised error they are scored with."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from analogjax.internal import check_int, check_range


def narma10(n_steps: int, *, key: PRNGKeyArray) -> tuple[Float[Array, " T"], Float[Array, " T"]]:
    """NARMA-10 (Atiya & Parlos, IEEE Trans. Neural Netw. 11, 697 (2000)): inputs
    ``u ~ U[0, 0.5]`` and ``y_{t+1} = 0.3 y_t + 0.05 y_t Σ_{i=0}^{9} y_{t−i}
    + 1.5 u_{t−9} u_t + 0.1`` from ``y = 0``. Returns ``(u, y)`` with ``y[t]`` the target
    at step ``t`` (a function of ``u[:t]``). Float32 and float64 runs agree to rounding; the
    recursion can diverge for other input ranges (none here)."""
    check_int("n_steps", n_steps, lower=20, upper=10**8)
    u = jax.random.uniform(key, (n_steps,), minval=0.0, maxval=0.5)

    def step(history, u_pair):
        u_now, u_lag = u_pair
        y = history[0]
        y_next = 0.3 * y + 0.05 * y * jnp.sum(history) + 1.5 * u_lag * u_now + 0.1
        return jnp.concatenate([y_next[None], history[:-1]]), y_next

    u_lag = jnp.concatenate([jnp.zeros((9,), u.dtype), u[:-9]])
    _, y = jax.lax.scan(step, jnp.zeros((10,), u.dtype), (u, u_lag))
    return u, jnp.concatenate([jnp.zeros((1,), u.dtype), y[:-1]])


def mackey_glass(n_steps: int, *, tau: float = 17.0, sample_every: float = 1.0,
                 dt: float = 0.1, x0: float = 1.2, beta: float = 0.2, gamma: float = 0.1,
                 exponent: float = 10.0) -> Float[Array, " T"]:
    """The Mackey–Glass delay equation (Science 197, 287 (1977)),
    ``dx/dt = β x(t−τ) / (1 + x(t−τ)^n) − γ x``, integrated by classical RK4 with step
    ``dt`` (the delayed term linearly interpolated at half steps) from the constant history
    ``x0``, sampled every ``sample_every`` time units after a transient of 1,000. τ = 17
    gives the usual mildly chaotic series."""
    check_int("n_steps", n_steps, lower=1, upper=10**8)
    check_range("tau", tau, lower=0.0, lower_open=True, upper=1e4)
    check_range("dt", dt, lower=0.0, lower_open=True, upper=tau)
    check_range("sample_every", sample_every, lower=dt, upper=1e4)
    delay = round(tau / dt)
    stride = round(sample_every / dt)
    transient = round(1000.0 / dt)
    total = transient + n_steps * stride

    def field(x, x_delayed):
        return beta * x_delayed / (1 + x_delayed**exponent) - gamma * x

    def step(state, _):
        history, x = state  # history[0] = x(t − τ), history[-1] = x(t − dt)
        lag0, lag1 = history[0], history[1]
        lag_half = 0.5 * (lag0 + lag1)
        k1 = field(x, lag0)
        k2 = field(x + 0.5 * dt * k1, lag_half)
        k3 = field(x + 0.5 * dt * k2, lag_half)
        k4 = field(x + dt * k3, lag1)
        x_next = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return (jnp.concatenate([history[1:], x[None]]), x_next), x_next

    history = jnp.full((delay,), x0, jnp.float32)
    _, xs = jax.lax.scan(step, (history, jnp.asarray(x0, jnp.float32)), None, length=total)
    return xs[transient::stride][:n_steps]


def nrmse(prediction: Float[Array, "..."], target: Float[Array, "..."]) -> Float[Array, ""]:
    """Normalised root-mean-square error ``√(mean((ŷ − y)²) / var(y))`` (1 for predicting the
    mean)."""
    return jnp.sqrt(jnp.mean((prediction - target) ** 2) / jnp.var(target))
