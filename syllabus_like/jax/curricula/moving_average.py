"""Exponential moving averages of a stream of episode values, batch at a time.

A :class:`~syllabus_like.jax.SequentialCurriculum` stage reports
``episode_return_ema``, ``success_rate_ema`` and ``name_ema`` for each user
metric: ``ema = (1 - s) * ema + s * value`` over the stage's episodes, starting
from the stage's first value, skipping non-finite values (one would poison the
average for the rest of the stage), as the Python curriculum computes them.

A batch update needs the average after the whole batch (:func:`ema_final`, one
weighted sum), and only when a condition reads it and may hold, the average
after every episode (:func:`ema_running`, an associative scan over the affine
maps ``x -> a x + b``) and cheap bounds on those (:func:`ema_bounds`: an
average of values lies between their extremes).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float

from syllabus_like.jax._numerics import prefix_sum

__all__ = ["ema_bounds", "ema_final", "ema_running"]


def _counted(values: Float[Array, "k n"], valid: Bool[Array, " n"]) -> tuple[Array, Array]:
    """``(used, rank)``: which entries enter the average, and their 1-based rank among those of the row."""
    used = valid[None, :] & jnp.isfinite(values)
    rank = prefix_sum(used.astype(jnp.int32), axis=1)
    return used, rank


def ema_final(
    ema: Float[Array, " k"],
    present: Bool[Array, " k"],
    values: Float[Array, "k n"],
    valid: Bool[Array, " n"],
    smoothing: float,
) -> tuple[Float[Array, " k"], Bool[Array, " k"]]:
    """Each row's average after its ``valid`` finite values, in order; ``present``: whether it has one.

    After ``m`` values the starting average weighs ``(1 - s)**m`` and the
    ``r``-th value ``s (1 - s)**(m - r)`` (the first value of a stage
    without an average weighs ``(1 - s)**(m - 1)``: it is where the average
    starts). One weighted sum per row, no sequential loop.
    """
    used, rank = _counted(values, valid)
    total = rank[:, -1] if values.shape[1] else jnp.zeros(ema.shape, jnp.int32)
    keep = jnp.asarray(1.0 - smoothing, jnp.float32)
    exponent = (total[:, None] - rank).astype(jnp.float32)
    starts = ~present[:, None] & (rank == 1)
    weight = jnp.where(used, jnp.power(keep, exponent) * jnp.where(starts, 1.0, smoothing), 0.0)
    previous = jnp.where(present, ema * jnp.power(keep, total.astype(jnp.float32)), 0.0)
    updated = previous + jnp.sum(weight * jnp.where(used, values, 0.0), axis=1)
    return jnp.where(total > 0, updated, ema).astype(jnp.float32), present | (total > 0)


def ema_running(
    ema: Float[Array, " k"],
    present: Bool[Array, " k"],
    values: Float[Array, "k n"],
    valid: Bool[Array, " n"],
    smoothing: float,
) -> tuple[Float[Array, "k n"], Bool[Array, "k n"]]:
    """Each row's average after every entry (``present`` False until the row has one)."""
    used, rank = _counted(values, valid)
    starts = ~present[:, None] & (rank == 1)
    scale = jnp.where(used, jnp.where(starts, 0.0, 1.0 - smoothing), 1.0).astype(jnp.float32)
    shift = jnp.where(used, jnp.where(starts, values, smoothing * values), 0.0).astype(jnp.float32)

    def compose(first: tuple[Array, Array], second: tuple[Array, Array]) -> tuple[Array, Array]:
        return second[0] * first[0], second[0] * first[1] + second[1]

    scales, shifts = lax.associative_scan(compose, (scale, shift), axis=1)
    start = jnp.where(present, ema, 0.0)[:, None]
    return scales * start + shifts, present[:, None] | (rank > 0)


def ema_bounds(
    ema: Float[Array, " k"], present: Bool[Array, " k"], values: Float[Array, "k n"], valid: Bool[Array, " n"]
) -> tuple[Float[Array, " k"], Float[Array, " k"]]:
    """``(low, high)`` containing every average :func:`ema_running` gives (widened for float32 rounding)."""
    used = valid[None, :] & jnp.isfinite(values)
    low = jnp.minimum(jnp.where(present, ema, jnp.inf), jnp.min(jnp.where(used, values, jnp.inf), axis=1))
    high = jnp.maximum(jnp.where(present, ema, -jnp.inf), jnp.max(jnp.where(used, values, -jnp.inf), axis=1))
    margin = 1e-5 * jnp.maximum(jnp.abs(low), jnp.abs(high))
    margin = jnp.where(jnp.isfinite(margin), margin, 0.0) + 1e-30
    return low - margin, high + margin
