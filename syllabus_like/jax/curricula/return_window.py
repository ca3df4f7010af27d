"""Means of a sliding window of episode returns, and cheap bounds on them.

A :class:`~syllabus_like.jax.SequentialCurriculum` stage reports
``episode_return``: the mean of its last ``w`` returns. A batch update lays
the stage's returns out as one sequence (the window so far, then the batch's
episodes in order) and needs the window mean after each episode:
:func:`window_means`. Most batches end no stage, and for those
:func:`window_mean_bounds` says so without computing every mean: every mean
the batch can produce lies inside the bounds it returns.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float, Int

__all__ = ["row_prefix_sums", "window_mean", "window_mean_bounds", "window_means"]

_EPSILON = 2.0**-24  # float32 unit roundoff


def _blocking(width: int) -> tuple[int, int]:
    """``(block, blocks)``: a row of ``width`` is cut into ``blocks`` blocks of ``block ~ sqrt(width)`` entries."""
    block = width if width <= 64 else 8 * -(-(math.isqrt(width - 1) + 1) // 8)  # a multiple of 8
    return block, -(-width // block)


def row_prefix_sums(rows: Float[Array, "r w"]) -> Float[Array, "r w"]:
    """Inclusive running sums along each row, as two small triangular matrix products.

    Each row is cut into ``a`` blocks of ``b ~ sqrt(w)`` entries: one product
    with an upper-triangular ``b x b`` matrix of ones gives the running sums
    inside the blocks, a second (``a x a``, strictly upper) the block offsets.
    Every partial sum stays within its row, so the error is at most
    ``(a + b) * 2**-24`` times the sum of the row's magnitudes:
    :func:`window_mean_bounds` widens its bounds by exactly that, which is why
    these float sums keep their own fixed two levels rather than
    :func:`syllabus_like.jax.curricula.base.prefix_sum` (blocks of 16, as many levels as
    the length needs; meant for integer counts, where it is exact).
    ``HIGHEST`` precision keeps GPUs from rounding the inputs to TF32.
    """
    num_rows, width = rows.shape
    block, blocks = _blocking(width)
    padded = jnp.zeros((num_rows, blocks * block), rows.dtype).at[:, :width].set(rows)
    ones = jnp.triu(jnp.ones((block, block), rows.dtype))
    inside = jnp.matmul(padded.reshape(num_rows * blocks, block), ones, precision=lax.Precision.HIGHEST)
    inside = inside.reshape(num_rows, blocks, block)
    offsets = jnp.matmul(
        inside[:, :, -1], jnp.triu(jnp.ones((blocks, blocks), rows.dtype), 1), precision=lax.Precision.HIGHEST
    )
    return (inside + offsets[:, :, None]).reshape(num_rows, blocks * block)[:, :width]


def _chunks(sequence: Float[Array, " length"], window: int) -> Float[Array, "chunks window"]:
    """``sequence`` cut into rows of ``window`` entries, zero-padded, plus one row of zeros."""
    length = sequence.shape[0]
    chunks = -(-length // window) + 1  # one extra chunk of zeros for a window ending at ``length``
    return jnp.zeros((chunks * window,), sequence.dtype).at[:length].set(sequence).reshape(chunks, window)


def window_means(
    sequence: Float[Array, " length"], end: Int[Array, " m"], count: Int[Array, " m"], window: int
) -> Float[Array, " m"]:
    """Mean of the ``count`` returns in ``sequence[end - window : end]`` (the entries before them are zero).

    Each sum covers the tail of one chunk of ``window`` entries and the head
    of the next, read from running sums that restart at every chunk. A single
    running sum over the whole stream would lose digits as it grows; these
    never exceed ``window`` entries, so the mean is right to float32 rounding
    (relative error ~1e-7) however long the stream.
    """
    chunked = _chunks(sequence, window)
    inclusive = row_prefix_sums(chunked)
    before = jnp.concatenate([jnp.zeros((chunked.shape[0], 1), sequence.dtype), inclusive[:, :-1]], axis=1)
    chunk, offset = end // window, end % window
    head = before[chunk, offset]
    previous = jnp.maximum(chunk - 1, 0)
    tail = jnp.where(chunk > 0, inclusive[previous, -1] - before[previous, offset], 0.0)
    return (head + tail) / jnp.maximum(count, 1).astype(sequence.dtype)


def window_mean(returns: Float[Array, " w"], count: Int[Array, ""]) -> Float[Array, ""]:
    """Mean of a window whose last ``count`` entries are returns (the others zero); 0 when ``count`` is 0.

    A plain sum: right to float32 rounding, like :func:`window_means`, though
    the two may differ in the last bits.
    """
    return jnp.sum(returns) / jnp.maximum(count, 1).astype(returns.dtype)


def window_mean_bounds(
    sequence: Float[Array, " length"], valid: Bool[Array, " length"], min_count: Int[Array, ""], window: int
) -> tuple[Float[Array, ""], Float[Array, ""], Bool[Array, ""]]:
    """``(low, high, irregular)``: bounds on every :func:`window_means` value over ``sequence``.

    ``valid`` marks the returns in ``sequence`` (the other entries are zero);
    ``min_count`` is the fewest returns any of the windows holds (at least 1).
    Every window mean, as :func:`window_means` computes it, lies in
    ``[low, high]``, except that it may be NaN where ``irregular`` is True (a
    return is NaN, or returns are so large that running sums may overflow;
    then the bounds are infinite). ``low > high`` when no entry is a number.

    A window mean is at most the largest return, and a window spans at most
    two consecutive chunks of ``window`` entries, so its sum is at most the
    largest sum of positive returns over two neighbouring chunks (likewise
    below). Once windows are full that is a bound of about twice the mean,
    not the largest single return. The bounds are widened by the worst-case
    rounding of :func:`window_means`: ``(3 (a + b) + 4) * 2**-24`` times the
    sum of magnitudes over two chunks, with ``a`` and ``b`` from
    :func:`row_prefix_sums`.
    """
    number = valid & ~jnp.isnan(sequence)
    low = jnp.min(jnp.where(number, sequence, jnp.inf))
    high = jnp.max(jnp.where(number, sequence, -jnp.inf))
    chunked = _chunks(jnp.where(number, sequence, 0.0), window)
    positive = jnp.sum(jnp.maximum(chunked, 0.0), axis=1)
    negative = jnp.sum(jnp.minimum(chunked, 0.0), axis=1)
    count = jnp.maximum(min_count, 1).astype(sequence.dtype)
    high = jnp.minimum(high, jnp.max(positive[1:] + positive[:-1]) / count)
    low = jnp.maximum(low, jnp.min(negative[1:] + negative[:-1]) / count)

    block, blocks = _blocking(window)
    magnitude = jnp.max(positive[1:] - negative[1:] + positive[:-1] - negative[:-1])
    margin = (3 * (block + blocks) + 4) * _EPSILON * magnitude / count
    # Infinite returns, or sums that overflow: running sums may hold inf or NaN, so bound nothing.
    irregular = ~jnp.isfinite(margin) | jnp.any(valid & jnp.isnan(sequence))
    low = jnp.where(irregular, -jnp.inf, low - margin)
    high = jnp.where(irregular, jnp.inf, high + margin)
    return low, high, irregular
