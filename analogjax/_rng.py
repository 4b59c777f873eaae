"""Fast keyed counter-based random numbers for the hot paths (reads, programming).

Two 32-bit words drawn from the JAX key (threefry) seed an integer hash of each element's
counter: ``h = mix(mix(counter ^ s0) + s1)`` with ``mix`` the ``lowbias32`` finaliser
(C. Wellons, "Hash Prospector", 2018). The top 23 bits give a uniform strictly inside
(0, 1) in float32 too (the largest value, 1 − 2⁻²⁴, is representable); normals come by the
inverse CDF (``erfinv``), so tails are resolved to about 5.3 σ. On a CPU this is
about 5× faster than ``jax.random.normal``. The value of an element depends only on the key
and its counter, so it is the same under jit, vmap and for any batch size when the counter
is the element's index with the batch axis first.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, PRNGKeyArray


def _mix32(x: Array) -> Array:
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def flat_counter(shape: tuple[int, ...]) -> Array:
    """Row-major element index of an array of ``shape``, as uint32."""
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"at most 2**32 random numbers per draw; got shape {shape}")
    return jax.lax.iota(jnp.uint32, size).reshape(shape)


def uniform_from_bits(bits: Array, dtype=jnp.float32) -> Array:
    """Random uint32 words → uniforms on the open interval (0, 1), never 0 or 1."""
    return ((bits >> 9).astype(dtype) + 0.5) * (1.0 / 2**23)


def seed_words(key: PRNGKeyArray) -> Array:
    """The two uint32 seed words of the hash, drawn from ``key`` (draw once, reuse)."""
    return jr.bits(key, (2,), jnp.uint32)


def uniform_from_seed(seed: Array, counter: Array, dtype=jnp.float32) -> Array:
    """Uniform numbers on the open interval (0, 1), one per counter value."""
    return uniform_from_bits(_mix32(_mix32(counter ^ seed[0]) + seed[1]), dtype)


def normal_from_seed(seed: Array, counter: Array, dtype=jnp.float32) -> Array:
    """Standard normal numbers, one per counter value."""
    u = uniform_from_seed(seed, counter, dtype)
    return jnp.sqrt(jnp.asarray(2.0, dtype)) * jax.scipy.special.erfinv(2 * u - 1)


def uniform_from_counter(key: PRNGKeyArray, counter: Array, dtype=jnp.float32) -> Array:
    """Uniform numbers on the open interval (0, 1), one per counter value."""
    return uniform_from_seed(seed_words(key), counter, dtype)


def normal_from_counter(key: PRNGKeyArray, counter: Array, dtype=jnp.float32) -> Array:
    """Standard normal numbers, one per counter value."""
    return normal_from_seed(seed_words(key), counter, dtype)


def uniform(key: PRNGKeyArray, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
    """Uniform numbers on (0, 1) of ``shape``."""
    return uniform_from_counter(key, flat_counter(shape), dtype)


def normal(key: PRNGKeyArray, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
    """Standard normal numbers of ``shape``."""
    return normal_from_counter(key, flat_counter(shape), dtype)
