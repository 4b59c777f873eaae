"""Argument validation shared by every module.

Concrete values are checked eagerly (``ValueError`` naming the argument and the allowed
range); traced values are skipped here and checked with ``eqx.error_if`` where they are used.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(value) -> bool:
    """True when ``value`` holds numbers now (not a tracer under jit/vmap/grad)."""
    leaves = jax.tree_util.tree_leaves(value)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def _describe(lower, upper, lower_open, upper_open) -> str:
    lo = "(" if lower_open else "["
    hi = ")" if upper_open else "]"
    lo_v = "-inf" if lower is None else f"{lower:g}"
    hi_v = "inf" if upper is None else f"{upper:g}"
    return f"{lo}{lo_v}, {hi_v}{hi}"


def check_range(
    name: str,
    value,
    *,
    lower: float | None = None,
    upper: float | None = None,
    lower_open: bool = False,
    upper_open: bool = False,
    unit: str = "",
):
    """Raise ``ValueError`` unless every element of a concrete ``value`` is finite and in range.

    Traced values pass through unchecked (see :func:`error_if_out_of_range`).
    """
    if value is None or not is_concrete(value):
        return value
    arr = np.asarray(value, dtype=float)
    allowed = _describe(lower, upper, lower_open, upper_open) + (f" {unit}" if unit else "")
    shown = arr if arr.size <= 4 else f"array with min {np.nanmin(arr):g}, max {np.nanmax(arr):g}"
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite and in {allowed}; got {shown}")
    bad = np.zeros(arr.shape, bool)
    if lower is not None:
        bad |= arr <= lower if lower_open else arr < lower
    if upper is not None:
        bad |= arr >= upper if upper_open else arr > upper
    if np.any(bad):
        raise ValueError(f"{name} must be in {allowed}; got {shown}")
    return value


def check_int(name: str, value, *, lower: int | None = None, upper: int | None = None) -> int:
    """Raise ``ValueError`` unless ``value`` is a Python int in ``[lower, upper]``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer in {_describe(lower, upper, False, False)}; "
                         f"got {value!r}")
    if (lower is not None and value < lower) or (upper is not None and value > upper):
        raise ValueError(f"{name} must be an integer in {_describe(lower, upper, False, False)}; "
                         f"got {value}")
    return int(value)


def check_less(name_a: str, a, name_b: str, b):
    """Raise ``ValueError`` unless concrete ``a < b`` elementwise."""
    if is_concrete((a, b)) and not np.all(np.asarray(a) < np.asarray(b)):
        raise ValueError(f"{name_a} must be smaller than {name_b}; got {name_a}={np.asarray(a)}, "
                         f"{name_b}={np.asarray(b)}")


def check_finite_array(name: str, x):
    """Check that ``x`` has no NaN/inf: eagerly when concrete, with ``eqx.error_if`` under jit."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        return x
    if is_concrete(x):
        if not np.all(np.isfinite(np.asarray(x))):
            raise ValueError(f"{name} contains NaN or inf")
        return x
    return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)), f"{name} contains NaN or inf")


def error_if_out_of_range(name: str, x, lower=None, upper=None):
    """``eqx.error_if`` for a traced value that must lie in ``[lower, upper]``."""
    bad = jnp.zeros((), bool)
    if lower is not None:
        bad = bad | jnp.any(x < lower)
    if upper is not None:
        bad = bad | jnp.any(x > upper)
    lo = -math.inf if lower is None else lower
    hi = math.inf if upper is None else upper
    return eqx.error_if(x, bad, f"{name} must be in [{lo:g}, {hi:g}]")


def check_key(name: str, key, *, required: bool = True):
    """Raise ``TypeError`` unless ``key`` is a JAX PRNG key (``jax.random.key(…)``, or a
    legacy ``jax.random.PRNGKey(…)`` uint32 pair); None passes when not ``required``."""
    if key is None:
        if required:
            raise TypeError(f"{name} is required: pass {name}=jax.random.key(…)")
        return key
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return key
    if dtype == jnp.uint32 and getattr(key, "shape", ())[-1:] == (2,):
        return key
    raise TypeError(f"{name} must be a JAX PRNG key (jax.random.key(…)); got "
                    f"{type(key).__name__}" + (f" of dtype {dtype}" if dtype is not None else ""))
