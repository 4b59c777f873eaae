"""Memristor dynamics as diffrax vector fields: the HP linear ion-drift model with its window
functions, VTEAM and Yakopcic. State ``x`` in [0, 1]; SI units. Every model can be driven by
a voltage or by a current."""

from __future__ import annotations

import abc
from collections.abc import Callable

import diffrax
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
        """Window value at state ``x`` and current ``current`` [A], taken positive in the
        direction that increases ``x`` (towards ON)."""


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


def _hold_at_edges(x: Array, dx: Array) -> Array:
    """No drift through an edge the state is pushed against."""
    blocked = ((x >= 1) & (dx > 0)) | ((x <= 0) & (dx < 0))
    return jnp.where(blocked, 0.0, dx)


class AbstractMemristor(eqx.Module):
    """A memristive device: an I–V relation at state ``x`` and a state equation.

    One state convention for every model: ``x ∈ [0, 1]``, ``x = 1`` the ON state (lowest
    resistance, highest conductance), ``x = 0`` OFF; a SET moves ``x`` up, a RESET down.
    """

    @abc.abstractmethod
    def current(self, x: ArrayLike, v: ArrayLike) -> Array:
        """Current [A] at state ``x`` under voltage ``v`` [V]."""

    @abc.abstractmethod
    def voltage(self, x: ArrayLike, i: ArrayLike) -> Array:
        """Voltage [V] across the device at state ``x`` carrying current ``i`` [A]."""

    @abc.abstractmethod
    def rate(self, x: ArrayLike, v: ArrayLike) -> Array:
        """dx/dt [1/s] at state ``x`` under voltage ``v`` [V]."""

    @abc.abstractmethod
    def rate_from_current(self, x: ArrayLike, i: ArrayLike) -> Array:
        """dx/dt [1/s] at state ``x`` when driven by current ``i`` [A]."""


class _AbstractLinearMemristor(AbstractMemristor):
    """A memristor whose resistance interpolates linearly between ON and OFF:
    ``R(x) = R_on·x + R_off·(1 − x)`` (x = 1 ON), ohmic at every state."""

    r_on: eqx.AbstractVar[float | Array]
    r_off: eqx.AbstractVar[float | Array]

    def resistance(self, x: ArrayLike) -> Array:
        """Resistance [Ω] at state ``x``."""
        x = jnp.clip(x, 0.0, 1.0)
        return self.r_on * x + self.r_off * (1 - x)

    def current(self, x, v):
        return v / self.resistance(x)

    def voltage(self, x, i):
        return self.resistance(x) * i


class HPMemristor(_AbstractLinearMemristor):
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

    def rate(self, x, v):
        return self.rate_from_current(x, self.current(x, v))

    def rate_from_current(self, x, i):
        dx = self.charge_rate * i * self.window(jnp.clip(x, 0.0, 1.0), i)
        return _hold_at_edges(x, dx)

    def closed_form_state(self, flux: ArrayLike, x0: ArrayLike) -> Array:
        """State after a flux ``φ = ∫v dt`` [V·s] without window (charge–flux relation):
        ``φ = R(x0)·q − (R_off − R_on)·k·q²/2`` and ``x = x0 + k·q``; valid while x stays in
        (0, 1)."""
        delta_r = self.r_off - self.r_on
        r0 = self.resistance(x0)
        k = self.charge_rate
        q = (r0 - jnp.sqrt(r0**2 - 2 * delta_r * k * flux)) / (delta_r * k)
        return x0 + k * q


class VTEAM(_AbstractLinearMemristor):
    """VTEAM: voltage threshold adaptive memristor (Kvatinsky et al., IEEE TCAS-II 62, 786
    (2015)), with the linear I–V relation ``R = R_on + (R_off − R_on)·x`` and
    ``w/D = 1 − x`` (the paper's ``w`` grows towards OFF; here ``x = 1`` is ON, as for every
    model):

        dx/dt = −(k_off/D)·(v/v_off − 1)^α_off·f(x, i)   for v > v_off > 0 (towards OFF),
        dx/dt = −(k_on/D)·(v/v_on − 1)^α_on·f(x, i)     for v < v_on < 0 (towards ON),
        0 otherwise; the window sees the current in the direction of increasing x, −i.

    Defaults are those of MemTorch's VTEAM (Lammie et al., Neurocomputing 485, 124 (2022)):
    R_on = 50 Ω, R_off = 1 kΩ, D = 3 nm, k_on = −10 m/s, k_off = 5e-4 m/s, α_on = 3,
    α_off = 1, v_on = −0.2 V, v_off = 0.02 V.
    """

    r_on: float | Array = 50.0
    """Resistance at x = 1 (ON) [Ω], > 0."""
    r_off: float | Array = 1e3
    """Resistance at x = 0 (OFF) [Ω], > r_on."""
    thickness: float | Array = 3e-9
    """Range of the state variable w, D = w_off − w_on [m], > 0."""
    k_on: float | Array = -10.0
    """Rate constant towards ON [m/s], < 0."""
    k_off: float | Array = 5e-4
    """Rate constant towards OFF [m/s], > 0."""
    alpha_on: float | Array = 3.0
    """Exponent towards ON, > 0."""
    alpha_off: float | Array = 1.0
    """Exponent towards OFF, > 0."""
    v_on: float | Array = -0.2
    """ON threshold voltage [V], < 0."""
    v_off: float | Array = 0.02
    """OFF threshold voltage [V], > 0."""
    window: AbstractWindow = eqx.field(default_factory=NoWindow)

    def __check_init__(self):
        check_range("VTEAM.r_on", self.r_on, lower=0.0, lower_open=True, unit="ohm")
        check_less("VTEAM.r_on", self.r_on, "VTEAM.r_off", self.r_off)
        check_range("VTEAM.thickness", self.thickness, lower=0.0, lower_open=True, unit="m")
        check_range("VTEAM.k_on", self.k_on, upper=0.0, upper_open=True, unit="m/s")
        check_range("VTEAM.k_off", self.k_off, lower=0.0, lower_open=True, unit="m/s")
        check_range("VTEAM.alpha_on", self.alpha_on, lower=0.0, lower_open=True)
        check_range("VTEAM.alpha_off", self.alpha_off, lower=0.0, lower_open=True)
        check_range("VTEAM.v_on", self.v_on, upper=0.0, upper_open=True, unit="V")
        check_range("VTEAM.v_off", self.v_off, lower=0.0, lower_open=True, unit="V")

    def rate(self, x, v):
        off = self.k_off * jnp.maximum(v / self.v_off - 1, 0.0) ** self.alpha_off
        on = self.k_on * jnp.maximum(v / self.v_on - 1, 0.0) ** self.alpha_on
        dx = -(off + on) / self.thickness
        window = self.window(jnp.clip(x, 0.0, 1.0), -self.current(x, v))
        return _hold_at_edges(x, dx * window)

    def rate_from_current(self, x, i):
        return self.rate(x, self.voltage(x, i))


class Yakopcic(AbstractMemristor):
    """Yakopcic generalised memristor model (Yakopcic et al., IEEE Electron Device Lett. 32,
    1436 (2011)): ``i = a·x·sinh(b·v)`` (``a = a1`` for v ≥ 0, ``a2`` otherwise) and
    ``dx/dt = η·g(v)·f(x, v)`` with threshold function
    ``g = A_p(e^v − e^{V_p})`` above V_p, ``−A_n(e^{−v} − e^{V_n})`` below −V_n, else 0, and
    the motion-decay function f (exponential decay beyond x_p, resp. below 1 − x_n).

    Defaults are the author's SPICE model parameters (Yakopcic, SPICE subcircuit of 8/9/2011
    and the Xyce ``level=3`` example): a1 = a2 = 0.17 A, b = 0.05 /V, V_p = 0.16 V,
    V_n = 0.15 V, A_p = A_n = 4000 /s, x_p = 0.3, x_n = 0.5, α_p = 1, α_n = 5, η = 1 (driven
    by a 1.2 V, 1 Hz sine from x0 = 0.11).
    """

    a1: float | Array = 0.17
    """I–V amplitude for v >= 0 [A], > 0."""
    a2: float | Array = 0.17
    """I–V amplitude for v < 0 [A], > 0."""
    b: float | Array = 0.05
    """I–V curvature [1/V], > 0."""
    v_p: float | Array = 0.16
    """Positive threshold [V], >= 0."""
    v_n: float | Array = 0.15
    """Negative threshold magnitude [V], >= 0."""
    a_p: float | Array = 4000.0
    """Positive rate amplitude [1/s], >= 0."""
    a_n: float | Array = 4000.0
    """Negative rate amplitude [1/s], >= 0."""
    x_p: float | Array = 0.3
    """State beyond which positive motion decays, in [0, 1)."""
    x_n: float | Array = 0.5
    """Negative motion decays below 1 − x_n, x_n in [0, 1)."""
    alpha_p: float | Array = 1.0
    """Decay rate of positive motion, >= 0."""
    alpha_n: float | Array = 5.0
    """Decay rate of negative motion, >= 0."""
    eta: float = eqx.field(default=1.0, static=True)
    """Direction of the state motion relative to the voltage: +1 or −1."""

    def __check_init__(self):
        for name in ("a1", "a2", "b"):
            check_range(f"Yakopcic.{name}", getattr(self, name), lower=0.0, lower_open=True)
        for name in ("v_p", "v_n", "a_p", "a_n", "alpha_p", "alpha_n"):
            check_range(f"Yakopcic.{name}", getattr(self, name), lower=0.0)
        check_range("Yakopcic.x_p", self.x_p, lower=0.0, upper=1.0, upper_open=True)
        check_range("Yakopcic.x_n", self.x_n, lower=0.0, upper=1.0, upper_open=True)
        if self.eta not in (1, -1, 1.0, -1.0):
            raise ValueError(f"Yakopcic.eta must be +1 or -1; got {self.eta}")

    def _amplitude(self, v):
        return jnp.where(v >= 0, self.a1, self.a2)

    def current(self, x, v):
        return self._amplitude(v) * jnp.clip(x, 0.0, 1.0) * jnp.sinh(self.b * v)

    def voltage(self, x, i):
        # i and v share their sign, so the branch of a follows the current
        a = jnp.where(i >= 0, self.a1, self.a2)
        x = jnp.clip(x, 1e-12, 1.0)
        return jnp.arcsinh(i / (a * x)) / self.b

    def rate(self, x, v):
        g = jnp.where(v > self.v_p, self.a_p * (jnp.exp(v) - jnp.exp(self.v_p)),
                      jnp.where(v < -self.v_n, -self.a_n * (jnp.exp(-v) - jnp.exp(self.v_n)),
                                0.0))
        xc = jnp.clip(x, 0.0, 1.0)
        w_p = (self.x_p - xc) / (1 - self.x_p) + 1
        w_n = xc / (1 - self.x_n)
        f_up = jnp.where(xc >= self.x_p, jnp.exp(-self.alpha_p * (xc - self.x_p)) * w_p, 1.0)
        f_down = jnp.where(xc <= 1 - self.x_n,
                           jnp.exp(self.alpha_n * (xc + self.x_n - 1)) * w_n, 1.0)
        f = jnp.where(self.eta * v >= 0, f_up, f_down)
        return _hold_at_edges(x, self.eta * g * f)

    def rate_from_current(self, x, i):
        return self.rate(x, self.voltage(x, i))


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
    memristor: AbstractMemristor,
    voltage: Callable[[Array], Array] | None,
    x0: float | ArrayLike,
    ts: Float[ArrayLike, " T"],
    *,
    current: Callable[[Array], Array] | None = None,
    solver: diffrax.AbstractSolver | None = None,
    stepsize_controller: diffrax.AbstractStepSizeController | None = None,
    max_steps: int = 100_000,
) -> MemristorTrajectory:
    """Integrate a memristor driven by ``voltage(t)`` [V] or (``voltage=None``) by
    ``current(t)`` [A] with diffrax and save at ``ts`` [s] (``solver`` default Tsit5,
    ``stepsize_controller`` default ``PIDController(rtol=1e-8, atol=1e-10)``). Vmap over
    memristors (their parameters are array leaves) or over ``x0``."""
    options = dict(solver=solver, stepsize_controller=stepsize_controller, max_steps=max_steps)
    if (voltage is None) == (current is None):
        raise ValueError("give exactly one drive: voltage=… or (voltage=None) current=…")
    ts = jnp.asarray(ts)
    x0 = jnp.asarray(x0, ts.dtype)
    check_range("x0", x0, lower=0.0, upper=1.0)
    if voltage is not None:
        x = integrate(lambda t, x: memristor.rate(x, voltage(t)), x0, ts, **options)
        v = jax.vmap(voltage)(ts)
        i = memristor.current(x, v)
    else:
        x = integrate(lambda t, x: memristor.rate_from_current(x, current(t)), x0, ts,
                      **options)
        i = jax.vmap(current)(ts)
        v = memristor.voltage(x, i)
    return MemristorTrajectory(ts=ts, x=x, v=v, i=i)
