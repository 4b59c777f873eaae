"""IR drop against the SPICE references (../shared/ref), Kirchhoff's laws, limits,
gradients against finite differences, non-linear cells and the crossbar option."""

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analogjax as aj
from analogjax._ir_drop import _network

REF = Path(__file__).parent.parent.parent / "shared" / "ref"


def _reference(size):
    path = REF / f"crossbar_{size}x{size}.npz"
    if not path.exists():
        pytest.skip(f"reference data {path} not found")
    return dict(np.load(path))


SOLVERS = {"direct": aj.ir_drop.Cholesky(), "cg": aj.ir_drop.PreconditionedCG()}


@eqx.filter_jit
def _solve(g, v, r_word, r_bit, method, **kwargs):
    solver = kwargs.pop("solver", SOLVERS[method])
    return aj.ir_drop.solve(g, v, r_word=r_word, r_bit=r_bit, solver=solver, **kwargs)


@pytest.mark.parametrize("size, method", [(16, "direct"), (16, "cg"), (32, "cg"), (64, "cg")])
def test_spice_references(size, method):
    with jax.enable_x64(True):
        ref = _reference(size)
        assert float(ref["r_wire"]) == 1.0
        sol = _solve(1 / ref["R"], ref["V"], 1.0, 1.0, method)
        # measured: 4e-11 (16²) to 4.4e-10 (64²) relative
        np.testing.assert_allclose(sol.currents, ref["I_ngspice"], rtol=1e-9)
        np.testing.assert_allclose(sol.currents, ref["I_badcrossbar"], rtol=1e-9)
        # the IR drop is large: the ideal currents are far off
        assert np.max(np.abs(ref["I_ideal"] / ref["I_ngspice"] - 1)) > 0.1
        if "V_word_ngspice" in ref:
            np.testing.assert_allclose(sol.v_word, ref["V_word_ngspice"], rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(sol.v_bit, ref["V_bit_ngspice"], rtol=1e-6, atol=1e-12)


def _random_case(m=5, n=7, batch=3, seed=0):
    k1, k2 = jax.random.split(jax.random.key(seed))
    g = 10 ** jax.random.uniform(k1, (m, n), minval=-5, maxval=-3)
    v = jax.random.uniform(k2, (batch, m), minval=-0.2, maxval=0.2)
    return g, v


def test_kirchhoff_non_square_with_driver_sense_and_access_resistances():
    with jax.enable_x64(True):
        g, v = _random_case()
        kwargs = dict(r_driver=3.0, r_sense=5.0, r_access=2e3)
        direct = _solve(g, v, 2.0, 0.5, "direct", **kwargs)
        cg = _solve(g, v, 2.0, 0.5, "cg", **kwargs)
        np.testing.assert_allclose(cg.currents, direct.currents, rtol=1e-8)
        np.testing.assert_allclose(cg.v_bit, direct.v_bit, rtol=1e-8, atol=1e-14)
        # the word lines, eliminated from CG's unknowns, are recovered exactly
        np.testing.assert_allclose(cg.v_word, direct.v_word, rtol=1e-8, atol=1e-14)
        # KCL residual of the nodal system at every node, relative to the drive currents
        net = _network(g, 2.0, 0.5, 3.0, 5.0, 2e3)
        for i in range(v.shape[0]):
            x = jnp.concatenate([direct.v_word[i].ravel(), direct.v_bit[i].ravel()])
            residual = net.matvec(x) - net.rhs(v[i])
            assert float(jnp.max(jnp.abs(residual))) < 1e-12 * float(jnp.max(jnp.abs(
                net.rhs(v[i]))))
        # every column's cell currents reach its sense amplifier
        np.testing.assert_allclose(direct.cell_currents.sum(axis=1), direct.currents, rtol=1e-9)
        # the 1T1R access transistor is a series resistance
        g_series = g / (1 + g * 2e3)
        passive = _solve(g_series, v, 2.0, 0.5, "direct", r_driver=3.0, r_sense=5.0)
        np.testing.assert_allclose(passive.currents, direct.currents, rtol=1e-10)


def test_zero_wire_resistance_is_the_ideal_mvm():
    with jax.enable_x64(True):
        g, v = _random_case()
        sol = _solve(g, v, 1e-9, 1e-9, "cg")
        np.testing.assert_allclose(sol.currents, v @ g, rtol=1e-6)


def test_gradients_match_finite_differences():
    with jax.enable_x64(True):
        g, v = _random_case(4, 3, 2)
        weights = jnp.arange(1.0, 4.0)

        def loss(g, r, v, method):
            sol = aj.ir_drop.solve(g, v, r_word=r, r_bit=2 * r, solver=SOLVERS[method])
            return jnp.sum(sol.currents * weights)

        for method in ("direct", "cg"):
            grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)), static_argnums=3)(g, 50.0, v,
                                                                                 method)
            f = jax.jit(loss, static_argnums=3)
            for (argnum, index, eps) in ((0, (1, 2), 1e-9), (1, (), 1e-4), (2, (1, 3), 1e-6)):
                args = [g, 50.0, v]
                plus = [jnp.asarray(a) for a in args]
                minus = [jnp.asarray(a) for a in args]
                plus[argnum] = plus[argnum].at[index].add(eps)
                minus[argnum] = minus[argnum].at[index].add(-eps)
                fd = (f(*plus, method) - f(*minus, method)) / (2 * eps)
                np.testing.assert_allclose(grads[argnum][index], fd, rtol=1e-5)


def test_non_linear_cells_by_newton():
    with jax.enable_x64(True):
        g, v = _random_case(6, 6, 2, seed=1)
        v = v * 5  # up to ±1 V: clearly non-linear
        linear = _solve(g, v, 1.0, 1.0, "direct")
        almost_linear = _solve(g, v, 1.0, 1.0, "direct", cell=aj.ir_drop.SinhCell(1e-4))
        np.testing.assert_allclose(almost_linear.currents, linear.currents, rtol=1e-6)
        cell = aj.ir_drop.SinhCell(alpha=3.0)
        direct = _solve(g, v, 1.0, 1.0, "direct", cell=cell)
        cg = _solve(g, v, 1.0, 1.0, "cg", cell=cell)
        np.testing.assert_allclose(cg.currents, direct.currents, rtol=1e-7)
        # sinh grows faster than linear: more current than linear cells
        assert np.all(np.abs(direct.currents) > 0.9 * np.abs(linear.currents))
        assert np.max(np.abs(direct.currents) / np.abs(linear.currents)) > 1.05
        np.testing.assert_allclose(direct.cell_currents.sum(axis=1), direct.currents, rtol=1e-8)
        np.testing.assert_allclose(
            direct.cell_currents, cell.current(g, direct.v_word - direct.v_bit), rtol=1e-12)


def test_bad_input_and_no_convergence():
    g, v = _random_case()
    with pytest.raises(ValueError, match="r_word must be in"):
        aj.ir_drop.solve(g, v, r_word=0.0, r_bit=1.0)
    with pytest.raises(ValueError, match=r"v_word must have shape \(\.\.\., 5\)"):
        aj.ir_drop.solve(g, v[:, :3], r_word=1.0, r_bit=1.0)
    with pytest.raises(TypeError, match="solver must be an ir_drop solver"):
        aj.ir_drop.solve(g, v, r_word=1.0, r_bit=1.0, solver="lu")
    with pytest.raises(ValueError, match="max_steps"):
        aj.ir_drop.PreconditionedCG(max_steps=0)
    with pytest.raises(ValueError, match="g must be in"):
        aj.ir_drop.solve(-g, v, r_word=1.0, r_bit=1.0)
    with pytest.raises(ValueError, match="not both"):
        aj.ir_drop.solve(g, v, r_word=1.0, r_bit=1.0, r_access=1e3,
                         cell=aj.ir_drop.SinhCell(1.0))
    with pytest.raises(Exception, match="maximum number of solver steps"):
        jax.block_until_ready(_solve(g, v, 1.0, 1.0, "cg",
                                         solver=aj.ir_drop.PreconditionedCG(max_steps=1)).currents)


def test_crossbar_option():
    with jax.enable_x64(True):
        w = jax.random.normal(jax.random.key(0), (6, 10))
        x = jax.random.normal(jax.random.key(1), (3, 10))
        read = eqx.filter_jit(lambda xbar, x: xbar.program(w)(x))
        for mapping in (aj.DifferentialMapping(), aj.OffsetMapping()):
            ideal = aj.Crossbar(aj.IdealDevice(g_min=1e-6, g_max=25e-6), rows=4, cols=4,
                                mapping=mapping, dac=aj.DAC(bits=None), adc=aj.ADC(bits=None))
            tiny = dataclasses.replace(ideal, wires=aj.ir_drop.Wires(1e-7, 1e-7))
            wired = dataclasses.replace(ideal, wires=aj.ir_drop.Wires(200.0, 200.0))
            y_ideal = read(ideal, x)
            np.testing.assert_allclose(read(tiny, x), y_ideal, rtol=1e-6, atol=1e-9)
            y_wired = read(wired, x)
            error = float(jnp.linalg.norm(y_wired - y_ideal) / jnp.linalg.norm(y_ideal))
            assert 1e-3 < error < 0.5
        # one tile by hand: the differential pair's two arrays solved separately
        wired = aj.Crossbar(aj.IdealDevice(g_min=1e-6, g_max=25e-6), rows=4, cols=4,
                            dac=aj.DAC(bits=None), adc=aj.ADC(bits=None),
                            wires=aj.ir_drop.Wires(200.0, 200.0))
        chip = wired.program(w[:4, :4])
        v = 0.2 * x[:, :4] / jnp.max(jnp.abs(x[:, :4]), axis=1, keepdims=True)
        sol = [aj.ir_drop.solve(chip.cells.g[p, 0, :, 0, :], v, r_word=200.0, r_bit=200.0)
               for p in range(2)]
        expected = (sol[0].currents - sol[1].currents) * chip.weight_per_siemens[0, 0, 0]
        expected = expected * jnp.max(jnp.abs(x[:, :4]), axis=1, keepdims=True) / 0.2
        np.testing.assert_allclose(chip(x[:, :4]), expected, rtol=1e-9)


def test_float32_cg_with_many_right_hand_sides():
    """Regression: lineax's breakdown test (p·Sp > 100·size·eps·r·z) stopped float32 CG with
    NaN on systems of ≳ 5·10⁴ unknowns (a 64×64 array with 16 right-hand sides, a 256×256
    array with one). The written-out CG has no such test; it converges and matches
    float64."""
    g = jax.random.uniform(jax.random.key(3), (64, 64), minval=1e-6, maxval=3e-5)
    v = 0.2 * jax.random.normal(jax.random.key(0), (16, 64))
    f32 = aj.ir_drop.solve(g, v, r_word=1.0, r_bit=1.0,
                           solver=aj.ir_drop.PreconditionedCG()).currents
    with jax.enable_x64(True):
        f64 = np.asarray(aj.ir_drop.solve(
            g.astype(jnp.float64), v.astype(jnp.float64), r_word=1.0, r_bit=1.0,
            solver=aj.ir_drop.PreconditionedCG()).currents)
    np.testing.assert_allclose(f32, f64, rtol=1e-4, atol=1e-4 * np.abs(f64).max())


def test_cg_right_hand_sides_are_independent():
    """Each input runs its own CG in the shared loop: a zero input stays exactly zero (no
    0/0 step), and each row of a batch matches that row solved alone."""
    with jax.enable_x64(True):
        g, v = _random_case(24, 20, 3, seed=2)
        v = v.at[1].set(0.0).at[2].multiply(1e-3)  # a zero input and a small one
        batch = _solve(g, v, 1.0, 1.0, "cg").currents
        assert np.all(batch[1] == 0.0)
        for row in (0, 2):
            alone = _solve(g, v[row:row + 1], 1.0, 1.0, "cg").currents[0]
            np.testing.assert_allclose(batch[row], alone, rtol=1e-9)
