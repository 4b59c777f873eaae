"""Memristor dynamics as diffrax vector fields: the HP linear ion-drift model and its window
functions. State ``x = w / D`` in [0, 1] (doped fraction of the film); SI units."""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._ode import integrate
from ._validation import check_int, check_less, check_range


class AbstractWindow(eqx.Module):
    """Window function f(x, i) in [0, 1] that slows the state near the film's edges."""

    @abc.abstractmethod
    def __call__(self, x: Array, current: Array) -> Array:
        """Window value at state ``x`` and current ``current`` [A]."""


class NoWindow(AbstractWindow):
    """f = 1: the plain linear ion-drift model (valid while 0 < x < 1)."""

    def __call__(self, x, current):
        return jnp.ones_like(x)


class JoglekarWindow(AbstractWindow):
    """f(x) = 1 − (2x − 1)^(2p) (Joglekar & Wolf, Eur. J. Phys. 30, 661 (2009))."""

    p: int = eqx.field(default=2, static=True)
    """Positive integer exponent; larger p gives a flatter window."""

    def __check_init__(self):
        check_int("JoglekarWindow.p", self.p, lower=1, upper=100)

    def __call__(self, x, current):
        return 1 - (2 * x - 1) ** (2 * self.p)


class BiolekWindow(AbstractWindow):
    """f(x, i) = 1 − (x − stp(−i))^(2p), stp the unit step (Biolek et al., Radioengineering
    18, 210 (2009)): the state can always leave an edge it has reached."""

    p: int = eqx.field(default=2, static=True)
    """Positive integer exponent."""

    def __check_init__(self):
        check_int("BiolekWindow.p", self.p, lower=1, upper=100)

    def __call__(self, x, current):
        edge = jnp.where(current < 0, 1.0, 0.0)
        return 1 - (x - edge) ** (2 * self.p)


class ProdromakisWindow(AbstractWindow):
    """f(x) = j·(1 − ((x − 0.5)² + 0.75)^p) (Prodromakis et al., IEEE TED 58, 3099 (2011))."""

    p: float | Array = 2.0
    """Exponent, > 0."""
    j: float | Array = 1.0
    """Maximum of the window, in (0, 1]."""

    def __check_init__(self):
        check_range("ProdromakisWindow.p", self.p, lower=0.0, lower_open=True)
        check_range("ProdromakisWindow.j", self.j, lower=0.0, lower_open=True, upper=1.0)

    def __call__(self, x, current):
        return self.j * (1 - ((x - 0.5) ** 2 + 0.75) ** self.p)


class HPMemristor(eqx.Module):
    """HP linear ion-drift memristor (Strukov et al., Nature 453, 80 (2008)).

    ``v = [R_on·x + R_off·(1 − x)]·i`` and ``dx/dt = μ_v·R_on/D² · i · f(x, i)``, with the
    state held in [0, 1] (the drift stops at an edge it is pushed against). Defaults are the
    paper's: R_on = 100 Ω, R_off = 16 kΩ, D = 10 nm, μ_v = 1e-14 m²/(V·s).
    """

    r_on: float | Array = 100.0
    """Resistance of the fully doped film [Ω], > 0."""
    r_off: float | Array = 16e3
    """Resistance of the undoped film [Ω], > r_on."""
    thickness: float | Array = 10e-9
    """Film thickness D [m], > 0."""
    mobility: float | Array = 1e-14
    """Dopant mobility μ_v [m²/(V·s)], > 0."""
    window: AbstractWindow = eqx.field(default_factory=NoWindow)

    def __check_init__(self):
        check_range("HPMemristor.r_on", self.r_on, lower=0.0, lower_open=True, unit="ohm")
        check_less("HPMemristor.r_on", self.r_on, "HPMemristor.r_off", self.r_off)
        check_range("HPMemristor.thickness", self.thickness, lower=0.0, lower_open=True,
                    unit="m")
        check_range("HPMemristor.mobility", self.mobility, lower=0.0, lower_open=True,
                    unit="m^2/(V s)")

    @property
    def charge_rate(self):
        """k = μ_v·R_on/D² [1/C]: dx/dq without window."""
        return self.mobility * self.r_on / self.thickness**2

    def resistance(self, x: ArrayLike) -> Array:
        """Memristance [Ω] at state ``x``."""
        x = jnp.clip(x, 0.0, 1.0)
        return self.r_on * x + self.r_off * (1 - x)

    def current(self, x: ArrayLike, v: ArrayLike) -> Array:
        """Current [A] at state ``x`` and voltage ``v`` [V]."""
        return v / self.resistance(x)

    def rate(self, x: ArrayLike, v: ArrayLike) -> Array:
        """dx/dt [1/s] at state ``x`` under voltage ``v`` [V] (voltage-driven)."""
        i = self.current(x, v)
        dx = self.charge_rate * i * self.window(jnp.clip(x, 0.0, 1.0), i)
        blocked = ((x >= 1) & (dx > 0)) | ((x <= 0) & (dx < 0))
        return jnp.where(blocked, 0.0, dx)

    def closed_form_state(self, flux: ArrayLike, x0: ArrayLike) -> Array:
        """State after a flux ``φ = ∫v dt`` [V·s] without window (charge–flux relation):
        ``φ = R(x0)·q − (R_off − R_on)·k·q²/2`` and ``x = x0 + k·q``; valid while x stays in
        (0, 1)."""
        delta_r = self.r_off - self.r_on
        r0 = self.resistance(x0)
        k = self.charge_rate
        q = (r0 - jnp.sqrt(r0**2 - 2 * delta_r * k * flux)) / (delta_r * k)
        return x0 + k * q


class SineVoltage(eqx.Module):
    """v(t) = amplitude·sin(2π·frequency·t)."""

    amplitude: float | Array
    """Peak voltage [V]."""
    frequency: float | Array
    """Frequency [Hz], > 0."""

    def __check_init__(self):
        check_range("SineVoltage.frequency", self.frequency, lower=0.0, lower_open=True,
                    unit="Hz")

    def __call__(self, t):
        return self.amplitude * jnp.sin(2 * jnp.pi * self.frequency * t)

    def flux(self, t):
        """∫_0^t v dt [V·s]."""
        omega = 2 * jnp.pi * self.frequency
        return self.amplitude / omega * (1 - jnp.cos(omega * t))


class MemristorTrajectory(eqx.Module):
    ts: Float[Array, " T"]
    """Times [s]."""
    x: Float[Array, " T"]
    """State."""
    v: Float[Array, " T"]
    """Voltage [V]."""
    i: Float[Array, " T"]
    """Current [A]."""


def simulate_memristor(
    memristor: HPMemristor,
    voltage: Callable[[Array], Array],
    x0: float | ArrayLike,
    ts: Float[ArrayLike, " T"],
    *,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
) -> MemristorTrajectory:
    """Integrate a voltage-driven memristor with diffrax (Tsit5, adaptive steps) and save at
    ``ts`` [s]. Vmap over memristors (their parameters are array leaves) or over ``x0``."""
    ts = jnp.asarray(ts)
    x0 = jnp.asarray(x0, ts.dtype)
    check_range("x0", x0, lower=0.0, upper=1.0)

    x = integrate(lambda t, x: memristor.rate(x, voltage(t)), x0, ts, rtol=rtol, atol=atol,
                  max_steps=max_steps)
    v = jax.vmap(voltage)(ts)
    return MemristorTrajectory(ts=ts, x=x, v=v, i=memristor.current(x, v))
