"""Sampling many task ids at once from a categorical distribution.

Drawing one ``jax.random.categorical`` over all tasks for each env costs
O(envs x tasks) work; for 4096 envs and 4000 tasks that is the difference
between millions and thousands of steps per second. Instead a curriculum
builds the cumulative distribution once (O(tasks)) and each draw is one
uniform number and a binary search (O(log tasks)): inverse-CDF sampling.

The cumulative distribution is built on *integer* weights (the
probabilities in units of 2**-30): integer prefix sums are exact whatever
the summation order, so the table is monotone, a task of zero weight can
never be drawn, and the fast parallel prefix sum can be used. A task with a
positive weight keeps at least one unit, so it is never rounded away; the
rounding moves each probability by at most ~1e-9.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from syllabus_like.jax._numerics import prefix_sum
from syllabus_like.jax.curricula.threefry import random_bits, random_uniform

__all__ = [
    "UNITS",
    "cached_cumulative_weights",
    "categorical_from_cdf",
    "cumulative_weights",
    "sample_categorical",
    "uniform_indices",
]

#: Total of the integer weights: probabilities are resolved to 1 / UNITS.
UNITS = 2**30


def cumulative_weights(weights: Float[Array, " k"]) -> Int[Array, " k"]:
    """The running sum of non-negative ``weights`` (need not be normalised), as int32 units.

    Negative and NaN weights count as zero. All-zero weights give an all-zero table.
    """
    weights = jnp.where(weights > 0, weights, 0.0).astype(jnp.float32)
    total = jnp.sum(weights)
    scaled = jnp.round(weights / jnp.where(total > 0, total, 1.0) * UNITS)
    units = jnp.where(weights > 0, jnp.maximum(scaled, 1.0), 0.0).astype(jnp.int32)
    return prefix_sum(units)


def cached_cumulative_weights(
    cached: Int[Array, " k"],
    cached_with: Float[Array, " m"],
    tunables: Float[Array, " m"],
    weights: Callable[[], Float[Array, " k"]],
) -> Int[Array, " k"]:
    """``cached`` when it was built with ``tunables``; otherwise the table of ``weights()``, built now.

    A curriculum whose distribution changes only in ``update`` keeps its
    cumulative table in its state, with the tunables it was built from. A
    Module whose tunables were changed since (``eqx.tree_at``, no recompile)
    must not draw from that stale table.
    """
    return lax.cond(jnp.all(cached_with == tunables), lambda: cached, lambda: cumulative_weights(weights()))


def categorical_from_cdf(cdf: Int[Array, " k"], uniform: Float[Array, "*n"]) -> Int[Array, "*n"]:
    """Indices ``i`` with probability ``(cdf[i] - cdf[i-1]) / cdf[-1]``, given uniforms in ``[0, 1)``.

    ``cdf`` comes from :func:`cumulative_weights`. The index is the first ``i``
    with ``cdf[i] > floor(u * cdf[-1])``, so entries of zero weight are never
    returned. When every weight is zero the result is 0.
    """
    total = cdf[-1]
    target = jnp.minimum(jnp.floor(uniform * total.astype(jnp.float32)).astype(cdf.dtype), total - 1)
    return jnp.searchsorted(cdf, target, side="right", method="scan_unrolled").astype(jnp.int32)


def sample_categorical(key: PRNGKeyArray, weights: Float[Array, " k"], n: int) -> Int[Array, " n"]:
    """``n`` independent draws of indices with probability proportional to ``weights``."""
    return categorical_from_cdf(cumulative_weights(weights), random_uniform(key, n))


def uniform_indices(key: PRNGKeyArray, n: int, size: Int[ArrayLike, ""]) -> Int[Array, " n"]:
    """``n`` independent indices, each uniform on ``[0, size)``; ``size`` may be a traced int in ``[1, 2**31)``.

    Each index is ``floor(bits * size / 2**32)`` for 32 random bits (Lemire's
    multiply-shift, without the rejection step): index ``i`` has probability
    ``1 / size`` to within ``1 / 2**32``. It needs one 32-bit draw per index,
    where ``jax.random.randint`` needs a key split and two (for its
    arbitrary-range arithmetic): inside a rollout, where every step draws the
    tasks of the envs that reset, that is about 4x cheaper on CPU. The bits are
    ``jax.random.bits``'s, computed as one fused kernel (:mod:`.threefry`).
    """
    bits = random_bits(key, n)
    return _high_word(bits, jnp.asarray(size).astype(jnp.uint32)).astype(jnp.int32)


def _high_word(a: Array, b: Array) -> Array:
    """The high 32 bits of the 64-bit product of uint32 ``a`` and ``b``, from 16-bit halves
    (so it needs no 64-bit integers, which JAX disables by default). No step overflows."""
    low16 = jnp.uint32(0xFFFF)
    a_high, a_low = a >> 16, a & low16
    b_high, b_low = b >> 16, b & low16
    low_low = a_low * b_low
    middle = a_high * b_low + (low_low >> 16)
    other_middle = a_low * b_high + (middle & low16)
    return a_high * b_high + (middle >> 16) + (other_middle >> 16)
