"""Exact, differentiable IR drop: nodal analysis of a crossbar with resistive wires.

Convention (as in ``shared/ref/README.md``): cell (i, j) joins word-line node w(i, j) to
bit-line node b(i, j). Word line i is driven at its left end: source ``v_word[i]`` →
``r_driver + r_word`` → w(i, 0) → ``r_word`` → … → w(i, n−1) (right end open). Bit line j is
open at row 0 and reaches the virtual ground of its sense amplifier at the bottom:
b(0, j) → ``r_bit`` → … → b(m−1, j) → ``r_bit + r_sense`` → ground. The output current of
column j is the current into that ground. Kirchhoff's current law at the 2·m·n nodes is a
symmetric positive-definite system, solved matrix-free (O(m·n) memory) by conjugate
gradients on the bit-line voltages with the word lines eliminated exactly (each word line a
tridiagonal chain, factored once per solve and applied by substitution), preconditioned by
the exact inverse of the bit-line chains; or by dense Cholesky for small arrays. Gradients
with respect to conductances, resistances and voltages come by implicit differentiation
(lineax for Cholesky and Newton, ``jax.lax.custom_linear_solve`` for CG).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, ArrayLike, Float

from ._validation import check_finite_array, check_int, check_range


class AbstractIRDropSolver(eqx.Module):
    """How the nodal equations of one array are solved (the ``solver=`` option of
    :func:`solve` and :class:`Wires`)."""

    @abc.abstractmethod
    def resolve(self, n_unknowns: int) -> Cholesky | PreconditionedCG:
        """The concrete solver for a system of ``n_unknowns`` (2·m·n) unknowns."""


class Cholesky(AbstractIRDropSolver):
    """Dense Cholesky factorisation of the materialised system (exact to rounding; O((m·n)²)
    memory, so for small arrays)."""

    rtol: float | None = None
    """Tolerance of Newton's method on the node voltages for a non-linear cell (default
    1e-10 in float64, 1e-6 otherwise); unused for linear cells."""

    def __check_init__(self):
        check_range("Cholesky.rtol", self.rtol, lower=0.0, lower_open=True)

    def resolve(self, n_unknowns):
        return self

    def linear_solve(self, network: _Network, v: Array, g_unit: Array, factors, rtol
                     ) -> tuple[Array, Array]:
        """Word- and bit-line node voltages (batch, m, n) of the dimensionless system driven
        by ``v`` (batch, m)."""
        m, n = network.shape
        psd = (lx.symmetric_tag, lx.positive_semidefinite_tag)
        single = jax.ShapeDtypeStruct((2 * m * n,), v.dtype)
        operator = lx.materialise(lx.FunctionLinearOperator(network.matvec, single, tags=psd))
        x = jax.vmap(lambda v: lx.linear_solve(operator, network.rhs(v), lx.Cholesky()).value)(v)
        return x[:, : m * n].reshape(-1, m, n), x[:, m * n:].reshape(-1, m, n)

    def newton_linear_solver(self, rtol, scale, preconditioner) -> lx.AbstractLinearSolver:
        """The linear solver of each Newton step (non-linear cells)."""
        return lx.AutoLinearSolver(well_posed=True)


class PreconditionedCG(AbstractIRDropSolver):
    """Matrix-free conjugate gradients (O(m·n) memory) on the bit-line voltages alone: the
    word-line voltages are eliminated exactly (each word line is a tridiagonal chain, solved
    by substitution inside the operator), leaving the Schur complement
    ``S = T_b − G T_w⁻¹ G``, preconditioned by the exact inverse of the bit-line chains ``T_b``.
    Its condition number is about a quarter of the block-Jacobi one on the full system, so CG
    takes half the iterations, each on half the unknowns (256×256, 32 inputs: 10 iterations
    instead of 22). Each right-hand side of a batch runs its own CG (own step sizes) in one
    shared loop, which stops when all have converged. Gradients by implicit differentiation
    (``jax.lax.custom_linear_solve``). Not converging within ``max_steps`` raises an error."""

    rtol: float | None = None
    """Stops when every residual current is below ``rtol·max|v|·max g`` (the current of a
    fully driven cell); default 1e-10 in float64, 1e-6 otherwise."""
    max_steps: int = eqx.field(default=2000, static=True)
    """Iteration cap."""

    def __check_init__(self):
        check_range("PreconditionedCG.rtol", self.rtol, lower=0.0, lower_open=True)
        check_int("PreconditionedCG.max_steps", self.max_steps, lower=1)

    def resolve(self, n_unknowns):
        return self

    def linear_solve(self, network: _Network, v: Array, g_unit: Array, factors, rtol
                     ) -> tuple[Array, Array]:
        """Word- and bit-line node voltages (batch, m, n) of the dimensionless system driven
        by ``v`` (batch, m). Unknowns laid out (n, m, batch) inside: word lines along the
        leading axis, so the word-line substitution needs no transpose."""
        m, n = network.shape
        word = network.word_factors()  # exact (the operator), in the system's dtype
        g = network.g_cell.T[..., None]
        up, down = (a.T[..., None] for a in network._bit_links())
        diagonal = up + down + g
        down = down.at[:, -1].set(0)  # the last node's lower neighbour is the ground

        def schur(x):  # S x = T_b x − G T_w⁻¹ G x, dimensionless; the bit lines along axis 1
            above = jnp.concatenate([x[:, :1], x[:, :-1]], axis=1)  # up = 0 on row 0
            below = jnp.concatenate([x[:, 1:], x[:, -1:]], axis=1)
            bit_chains = diagonal * x - up * above - down * below
            return (bit_chains - g * word.solve(x, scale=g)) / g_unit

        def precondition(r):  # g_unit·T_b⁻¹ r in the factors' dtype (float32)
            r = jnp.swapaxes(r.astype(factors.bit.inverse_pivot.dtype), 0, 1)
            return jnp.swapaxes(factors.bit.solve(r), 0, 1).astype(v.dtype) * g_unit

        # The drive g_driver·v / g_unit enters at the first node of each word line, so
        # T_w⁻¹ b_word = u ⊗ drive with u = T_w⁻¹ e₀, one chain solve without the batch.
        u = word.solve(jnp.zeros((n, m), v.dtype).at[0].set(1.0))[..., None]
        drive = (network.g_driver * v.T / g_unit)[None]
        # Implicit differentiation (JAX's custom_linear_solve) through the operator; the
        # iterations themselves are not differentiated.
        solve = lambda schur, b: _batched_pcg(schur, precondition, b, rtol,  # noqa: E731
                                              self.max_steps)
        y_bit = jax.lax.custom_linear_solve(schur, g * u * drive, solve, symmetric=True)
        y_word = g_unit * u * drive + word.solve(y_bit, scale=g)
        return y_word.transpose(2, 1, 0), y_bit.transpose(2, 1, 0)

    def newton_linear_solver(self, rtol, scale, preconditioner) -> lx.AbstractLinearSolver:
        """Inexact Newton: each step's residual currents to 1e-3 of the drive currents."""
        return _WithPreconditioner(
            lx.CG(rtol=1e-3, atol=1e-3 * rtol * scale, max_steps=self.max_steps),
            preconditioner)


class AutoSolver(AbstractIRDropSolver):
    """:class:`Cholesky` up to ``direct_max_unknowns`` unknowns (2·m·n), else ``cg``."""

    direct_max_unknowns: int = eqx.field(default=2048, static=True)
    cg: PreconditionedCG = eqx.field(default_factory=PreconditionedCG)

    def __check_init__(self):
        check_int("AutoSolver.direct_max_unknowns", self.direct_max_unknowns, lower=0)

    def resolve(self, n_unknowns):
        return Cholesky(self.cg.rtol) if n_unknowns <= self.direct_max_unknowns else self.cg


class SinhCell(eqx.Module):
    """Non-linear cell I–V ``I = (g/α)·sinh(α·V)``: each cell's small-signal conductance is
    its conductance ``g``, and the current grows faster than linearly with the voltage (the
    usual fit of RRAM read I–V, e.g. Yu et al., IEEE TED 58, 1352 (2011))."""

    alpha: float | Array
    """Voltage scale of the non-linearity [1/V], > 0."""

    def __check_init__(self):
        check_range("SinhCell.alpha", self.alpha, lower=0.0, lower_open=True, unit="1/V")

    def current(self, g: Array, v: Array) -> Array:
        return g / self.alpha * jnp.sinh(self.alpha * v)


class _WithPreconditioner(lx.AbstractLinearSolver):
    """A lineax solver given a fixed preconditioner (for the Newton steps, whose linear
    solves pass no options): composition, not a subclass of the final ``lx.CG``."""

    solver: lx.CG
    preconditioner: lx.AbstractLinearOperator

    def init(self, operator, options):
        return self.solver.init(operator, {**options, "preconditioner": self.preconditioner})

    def compute(self, state, vector, options):
        return self.solver.compute(state, vector,
                                   {**options, "preconditioner": self.preconditioner})

    def transpose(self, state, options):
        return self.solver.transpose(state, options)

    def conj(self, state, options):
        return self.solver.conj(state, options)

    def assume_full_rank(self):
        return self.solver.assume_full_rank()


class Wires(eqx.Module):
    """Wire resistance of every array of a crossbar (the ``Crossbar(wires=…)`` option)."""

    r_word: float | Array = 1.0
    """Word-line segment resistance between adjacent cells [Ω], > 0."""
    r_bit: float | Array = 1.0
    """Bit-line segment resistance between adjacent cells [Ω], > 0."""
    r_driver: float | Array = 0.0
    """Word-line driver output resistance [Ω], >= 0."""
    r_sense: float | Array = 0.0
    """Sense-amplifier (virtual ground) input resistance [Ω], >= 0."""
    r_access: float | Array | None = None
    """1T1R access-transistor on-resistance [Ω], or None for passive arrays."""
    cell: SinhCell | None = None
    """Non-linear cell I–V, or None for linear cells."""
    solver: AbstractIRDropSolver = eqx.field(default_factory=AutoSolver)
    """How each array's nodal equations are solved."""

    def __check_init__(self):
        check_range("Wires.r_word", self.r_word, lower=0.0, lower_open=True, unit="ohm")
        check_range("Wires.r_bit", self.r_bit, lower=0.0, lower_open=True, unit="ohm")
        check_range("Wires.r_driver", self.r_driver, lower=0.0, unit="ohm")
        check_range("Wires.r_sense", self.r_sense, lower=0.0, unit="ohm")
        check_range("Wires.r_access", self.r_access, lower=0.0, unit="ohm")

    def solve(self, g: Array, v_word: Array) -> IRDropSolution:
        return solve(g, v_word, r_word=self.r_word, r_bit=self.r_bit, r_driver=self.r_driver,
                     r_sense=self.r_sense, r_access=self.r_access, cell=self.cell,
                     solver=self.solver)


class IRDropSolution(eqx.Module):
    """Solution of one crossbar read with wire resistance (leading batch axes of the input)."""

    currents: Float[Array, "... n"]
    """Output current of each bit line into its virtual ground [A]."""
    v_word: Float[Array, "... m n"]
    """Word-line node voltages [V]."""
    v_bit: Float[Array, "... m n"]
    """Bit-line node voltages [V]."""
    cell_currents: Float[Array, "... m n"]
    """Current through each cell, word line → bit line [A] (for IR-drop maps)."""


class _Network(eqx.Module):
    """The resistive network of one array: cell and wire conductances [S]."""

    g_cell: Array  # (m, n)
    g_word: Array  # scalar: word-line segment
    g_bit: Array  # scalar: bit-line segment
    g_driver: Array  # scalar: first word-line segment incl. the driver
    g_sense: Array  # scalar: last bit-line segment incl. the sense amplifier

    @property
    def shape(self):
        return self.g_cell.shape

    def _word_links(self):
        """Conductances to the left and right neighbours along each word line (m, n)."""
        m, n = self.shape
        left = jnp.concatenate([jnp.full((m, 1), self.g_driver), jnp.full((m, n - 1),
                                                                        self.g_word)], axis=1)
        right = jnp.concatenate([jnp.full((m, n - 1), self.g_word), jnp.zeros((m, 1))], axis=1)
        return left.astype(self.g_cell.dtype), right.astype(self.g_cell.dtype)

    def _bit_links(self):
        """Conductances to the upper and lower neighbours along each bit line (m, n)."""
        m, n = self.shape
        up = jnp.concatenate([jnp.zeros((1, n)), jnp.full((m - 1, n), self.g_bit)], axis=0)
        down = jnp.concatenate([jnp.full((m - 1, n), self.g_bit), jnp.full((1, n),
                                                                          self.g_sense)], axis=0)
        return up.astype(self.g_cell.dtype), down.astype(self.g_cell.dtype)

    def wire_currents(self, vw: Array, vb: Array) -> tuple[Array, Array]:
        """Net current leaving each node through the wires (sources at 0 V)."""
        left, right = self._word_links()
        up, down = self._bit_links()
        pad_w = jnp.pad(vw, ((0, 0), (1, 1)))
        out_w = left * (vw - pad_w[:, :-2]) + right * (vw - pad_w[:, 2:])
        pad_b = jnp.pad(vb, ((1, 1), (0, 0)))
        out_b = up * (vb - pad_b[:-2]) + down * (vb - pad_b[2:])
        return out_w, out_b

    def matvec(self, x: Array) -> Array:
        m, n = self.shape
        vw, vb = x[: m * n].reshape(m, n), x[m * n:].reshape(m, n)
        out_w, out_b = self.wire_currents(vw, vb)
        cell = self.g_cell * (vw - vb)
        return jnp.concatenate([(out_w + cell).ravel(), (out_b - cell).ravel()])

    def batched_matvec(self, x: Array) -> Array:
        return jax.vmap(self.matvec)(x)

    def rhs(self, v_word: Array) -> Array:
        m, n = self.shape
        b_w = jnp.zeros((m, n), v_word.dtype).at[:, 0].set(self.g_driver * v_word)
        return jnp.concatenate([b_w.ravel(), jnp.zeros(m * n, v_word.dtype)])

    def word_factors(self) -> _Tridiagonal:
        """LU factors of the word-line chains (cells to a fixed node), along axis 0: (n, m)."""
        n = self.shape[1]
        left, right = self._word_links()
        return _factor(-left.T * (jnp.arange(n) > 0)[:, None], (left + right + self.g_cell).T,
                       -right.T)

    def bit_factors(self) -> _Tridiagonal:
        """LU factors of the bit-line chains (cells to a fixed node), along axis 0: (m, n)."""
        m = self.shape[0]
        up, down = self._bit_links()
        return _factor(-up, up + down + self.g_cell, -down * (jnp.arange(m) < m - 1)[:, None])

    def chain_factors(self) -> _ChainFactors:
        """LU factors of the word-line and bit-line chains."""
        return _ChainFactors(word=self.word_factors(), bit=self.bit_factors())


class _Tridiagonal(eqx.Module):
    """LU factors of tridiagonal systems along axis 0 (Thomas algorithm)."""

    sub: Array  # sub-diagonal a_k (a_0 unused)
    inverse_pivot: Array  # 1 / (d_k − a_k c'_{k−1})
    upper: Array  # c'_k = c_k / (d_k − a_k c'_{k−1})

    def solve(self, r: Array, scale: Array | None = None) -> Array:
        """Solves ``T x = scale·r``. ``r``: (chain length, chains, *batch); the factors
        broadcast over the batch axes. ``scale`` (chain length first, broadcast against each
        slice of ``r``) is applied inside the forward sweep, so ``scale·r`` is never written
        out."""
        def forward(y_prev, inputs):
            a, inverse_pivot, r_k, *scale_k = inputs
            r_k = r_k * scale_k[0] if scale_k else r_k
            y = (r_k - a * y_prev) * inverse_pivot
            return y, y

        def backward(x_next, inputs):
            c, y = inputs
            x = y - c * x_next
            return x, x

        extra = (slice(None), slice(None)) + (None,) * (r.ndim - 2)
        zero = jnp.zeros_like(r[0])
        inputs = (self.sub[extra], self.inverse_pivot[extra], r)
        inputs += () if scale is None else (scale,)
        # unroll=4: fewer loop iterations on CPU (≈15 % faster), same compile time
        _, y = jax.lax.scan(forward, zero, inputs, unroll=4)
        _, x = jax.lax.scan(backward, zero, (self.upper[extra], y), reverse=True, unroll=4)
        return x


def _factor(sub: Array, diag: Array, sup: Array) -> _Tridiagonal:
    def step(c_prev, inputs):
        a, d, c = inputs
        pivot = d - a * c_prev
        c_k = c / pivot
        return c_k, (pivot, c_k)

    _, (pivot, upper) = jax.lax.scan(step, jnp.zeros_like(diag[0]), (sub, diag, sup))
    return _Tridiagonal(sub=sub, inverse_pivot=1 / pivot, upper=upper)


def _batched_pcg(operator, precondition, rhs: Array, rtol, max_steps: int) -> Array:
    """Preconditioned conjugate gradients for ``operator(x) = rhs`` with right-hand sides
    along the last axis of ``rhs``: one independent CG per right-hand side (own step sizes),
    all in one loop until every residual is below ``rtol`` in the max norm (the IR-drop
    system is dimensionless: ``rtol·max|v|·max g`` in amperes). Not converging within
    ``max_steps`` raises an error.

    Written out rather than with ``lineax.CG``, whose convergence test (two max norms), dot
    product over the whole batch (lowered to a slow ``reduce-window``) and residual
    recomputation every ten steps took about a third of each iteration in a profile
    (256 × 256 cells, 32 inputs). Here the residual is only updated, each right-hand side has
    its own step sizes, and each step computes one product, one preconditioner solve, two
    dot products and one max norm."""
    def dot(a, b):
        return jnp.sum(a * b, axis=tuple(range(a.ndim - 1)))

    def residual(r):
        return jnp.max(jnp.abs(r))

    def not_converged(state):
        *_, error, step = state
        return ~(error <= rtol) & (step < max_steps)  # NaN: not converged

    def iteration(state):
        x, r, p, rz, _, step = state
        q = operator(p)
        pq = dot(p, q)
        alpha = jnp.where(pq > 0, rz / jnp.where(pq > 0, pq, 1), 0)
        x = x + alpha * p
        r = r - alpha * q
        z = precondition(r)
        rz_next = dot(r, z)
        beta = jnp.where(rz > 0, rz_next / jnp.where(rz > 0, rz, 1), 0)
        return x, r, z + beta * p, rz_next, residual(r), step + 1

    z = precondition(rhs)
    state = (jnp.zeros_like(rhs), rhs, z, dot(rhs, z), residual(rhs), 0)
    x, *_, error, steps = jax.lax.while_loop(not_converged, iteration, state)
    return eqx.error_if(x, ~(error <= rtol),
                        f"PreconditionedCG: IR-drop solve not converged within max_steps="
                        f"{max_steps} (the maximum number of solver steps); raise max_steps")


class _ChainFactors(eqx.Module):
    """Exact inverse of the word-line and bit-line chains: the CG preconditioner."""

    word: _Tridiagonal
    bit: _Tridiagonal

    def __call__(self, r: Array) -> Array:
        """``r``: (batch, 2·m·n), one right-hand side per row. Computed in the factors' dtype
        (float32 for float64 systems: the preconditioner steers CG, it sets no accuracy)."""
        n, m = self.word.inverse_pivot.shape
        batch, dtype = r.shape[0], r.dtype
        r = r.astype(self.word.inverse_pivot.dtype)
        rw = r[:, : m * n].reshape(batch, m, n).transpose(2, 1, 0)  # (n, m, batch)
        rb = r[:, m * n:].reshape(batch, m, n).transpose(1, 2, 0)  # (m, n, batch)
        zw = self.word.solve(rw).transpose(2, 1, 0).reshape(batch, -1)
        zb = self.bit.solve(rb).transpose(2, 0, 1).reshape(batch, -1)
        return jnp.concatenate([zw, zb], axis=1).astype(dtype)


def _network(g, r_word, r_bit, r_driver, r_sense, r_access) -> _Network:
    g = jnp.asarray(g)
    if r_access is not None:
        g = g / (1 + g * r_access)  # access transistor in series (1T1R), linear on-resistance
    dtype = g.dtype
    r_word, r_bit = jnp.asarray(r_word, dtype), jnp.asarray(r_bit, dtype)
    return _Network(g_cell=g, g_word=1 / r_word, g_bit=1 / r_bit,
                    g_driver=1 / (r_word + r_driver), g_sense=1 / (r_bit + r_sense))


def solve(
    g: Float[ArrayLike, "m n"],
    v_word: Float[ArrayLike, "... m"],
    *,
    r_word: float | ArrayLike,
    r_bit: float | ArrayLike,
    r_driver: float | ArrayLike = 0.0,
    r_sense: float | ArrayLike = 0.0,
    r_access: float | ArrayLike | None = None,
    cell: SinhCell | None = None,
    solver: AbstractIRDropSolver | None = None,
) -> IRDropSolution:
    """Node voltages and currents of a crossbar read with resistive wires.

    Args:
        g: cell conductances (m word lines × n bit lines) [S]; with ``cell`` given, their
            small-signal conductances.
        v_word: word-line source voltages [V], with any leading batch axes; the network is
            shared by the batch.
        r_word: resistance of one word-line segment between cells [Ω], > 0.
        r_bit: resistance of one bit-line segment between cells [Ω], > 0.
        r_driver: word-line driver output resistance [Ω], >= 0.
        r_sense: sense-amplifier (virtual ground) input resistance [Ω], >= 0.
        r_access: on-resistance of a 1T1R access transistor in series with each cell [Ω],
            or None for a passive (1R) array.
        cell: a non-linear cell I–V (``SinhCell``), solved by Newton's method
            (optimistix) from the linear solution, with the linear solve (preconditioned by
            the chains at the small-signal conductances) inside; None for ``I = g·V``.
        solver: :class:`Cholesky` (dense, small arrays), :class:`PreconditionedCG`
            (matrix-free; tolerance and iteration cap) or :class:`AutoSolver` (the default:
            Cholesky up to 2048 unknowns). Not converging raises an error, never a silently
            wrong answer.
    """
    g = jnp.asarray(g)
    if g.ndim != 2 or 0 in g.shape:
        raise ValueError(f"g must be a non-empty 2-D array (m, n); got shape {g.shape}")
    if not jnp.issubdtype(g.dtype, jnp.floating):
        g = g.astype(float)
    v_word = jnp.asarray(v_word, g.dtype)
    m, n = g.shape
    if v_word.ndim == 0 or v_word.shape[-1] != m or 0 in v_word.shape:
        raise ValueError(f"v_word must have shape (..., {m}) with a non-empty batch; got "
                         f"{v_word.shape}")
    v_word = check_finite_array("v_word", v_word)
    check_range("g", g, lower=0.0, unit="S")
    check_range("r_word", r_word, lower=0.0, lower_open=True, unit="ohm")
    check_range("r_bit", r_bit, lower=0.0, lower_open=True, unit="ohm")
    check_range("r_driver", r_driver, lower=0.0, unit="ohm")
    check_range("r_sense", r_sense, lower=0.0, unit="ohm")
    check_range("r_access", r_access, lower=0.0, unit="ohm")
    solver = AutoSolver() if solver is None else solver
    if not isinstance(solver, AbstractIRDropSolver):
        raise TypeError(f"solver must be an ir_drop solver (Cholesky, PreconditionedCG, "
                        f"AutoSolver); got {type(solver).__name__}")
    if cell is not None and r_access is not None:
        raise ValueError("a non-linear cell with an access transistor is not supported: pass "
                         "cell or r_access, not both")
    solver = solver.resolve(2 * m * n)
    rtol = solver.rtol
    if rtol is None:
        rtol = 1e-10 if g.dtype == jnp.float64 else 1e-6
    network = _network(g, r_word, r_bit, r_driver, r_sense, r_access)
    psd = (lx.symmetric_tag, lx.positive_semidefinite_tag)
    batch_shape = v_word.shape[:-1]
    flat_v = v_word.reshape(-1, m)
    # Dimensionless system: voltages in units of max|v|, currents in units of max|v|·max g
    # (one fully driven cell), so CG's tolerances mean the same for any wire resistance.
    g_unit = jax.lax.stop_gradient(jnp.maximum(jnp.max(network.g_cell), 1e-30))
    v_unit = jnp.max(jnp.abs(flat_v), axis=1, keepdims=True)
    v_unit = jax.lax.stop_gradient(jnp.where(v_unit > 0, v_unit, 1.0))
    # The preconditioner changes how fast CG converges, not the solution: no gradient, and
    # float32 is enough.
    factors = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32),
                                     jax.lax.stop_gradient(network.chain_factors()))
    single = jax.ShapeDtypeStruct((2 * m * n,), g.dtype)
    preconditioner = lx.FunctionLinearOperator(lambda r: factors(r[None])[0], single, tags=psd)
    vw, vb = solver.linear_solve(network, flat_v / v_unit, g_unit, factors, rtol)
    vw, vb = vw * v_unit[..., None], vb * v_unit[..., None]
    if cell is not None:
        x0 = jnp.concatenate([vw.reshape(-1, m * n), vb.reshape(-1, m * n)], axis=1)
        x = jax.vmap(lambda v, x0: _newton(network, cell, v, x0, solver, preconditioner,
                                           rtol))(flat_v, x0)
        vw, vb = x[:, : m * n].reshape(-1, m, n), x[:, m * n:].reshape(-1, m, n)
    currents = network.g_sense * vb[:, -1, :]
    if cell is None:
        cell_currents = network.g_cell * (vw - vb)
    else:
        cell_currents = cell.current(network.g_cell, vw - vb)
    return IRDropSolution(
        currents=currents.reshape(*batch_shape, n),
        v_word=vw.reshape(*batch_shape, m, n),
        v_bit=vb.reshape(*batch_shape, m, n),
        cell_currents=cell_currents.reshape(*batch_shape, m, n),
    )


def _newton(network: _Network, cell: SinhCell, v: Array, x0: Array,
            solver: Cholesky | PreconditionedCG, preconditioner: lx.AbstractLinearOperator,
            rtol: float) -> Array:
    """Kirchhoff's current law with non-linear cells, by Newton's method (optimistix)."""
    m, n = network.shape
    b = network.rhs(v)

    def residual(x, _):
        vw, vb = x[: m * n].reshape(m, n), x[m * n:].reshape(m, n)
        out_w, out_b = network.wire_currents(vw, vb)
        i_cell = cell.current(network.g_cell, vw - vb)
        return jnp.concatenate([(out_w + i_cell).ravel(), (out_b - i_cell).ravel()]) - b

    scale = jnp.max(jnp.abs(b))
    linear_solver = solver.newton_linear_solver(rtol, scale, preconditioner)
    # Newton stops on the node voltages: |Δx| <= atol + rtol·|x| (volts)
    newton = optx.Newton(rtol=rtol, atol=rtol * jnp.max(jnp.abs(v)), linear_solver=linear_solver)
    tags = frozenset({lx.symmetric_tag, lx.positive_semidefinite_tag})
    return optx.root_find(residual, newton, x0, max_steps=100, tags=tags,
                          adjoint=optx.ImplicitAdjoint(linear_solver=linear_solver)).value
