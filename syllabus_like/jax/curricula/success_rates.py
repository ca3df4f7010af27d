"""What the success-driven JAX curricula (LearningProgress, Learnability) share.

Both estimate each task's success rate from the finished episodes of a batch
and derive a distribution that changes only in ``update``. They keep its
cumulative table in their state (``cdf``) with the tunables it was built
with (``cached_with``), so ``sample`` is a binary search per draw, and the
table is rebuilt only when the Module's tunables changed since.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from syllabus_like.jax.curricula.base import check_draw_count
from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.curricula.sampling import cached_cumulative_weights, categorical_from_cdf, cumulative_weights
from syllabus_like.jax.curricula.threefry import random_uniform

__all__ = ["batch_success", "draw_cached", "with_cached_table"]


class CachesTable(Protocol):
    """A curriculum state holding its cumulative table and the tunables it was built with."""

    cdf: Int[Array, " num_tasks"]
    cached_with: Float[Array, " m"]


State = TypeVar("State", bound=CachesTable)


def batch_success(batch: EpisodeBatch, num_tasks: int) -> tuple[Bool[Array, " num_tasks"], Float[Array, " num_tasks"]]:
    """Which tasks finished an episode in ``batch``, and each one's mean success there.

    Success is the episode's ``progress`` clipped to [0, 1]; a task with no
    finished episode gets 0 (mask it with the first result).
    """
    batch = batch.flatten()
    done = batch.done
    count = jnp.zeros((num_tasks,), jnp.int32).at[batch.task_id].add(done.astype(jnp.int32), mode="drop")
    total = (
        jnp.zeros((num_tasks,), jnp.float32)
        .at[batch.task_id]
        .add(jnp.where(done, jnp.clip(batch.progress, 0.0, 1.0), 0.0), mode="drop")
    )
    return count > 0, total / jnp.maximum(count, 1)


def with_cached_table(state: State, probabilities: Float[Array, " num_tasks"], tunables: Float[Array, " m"]) -> State:
    """``state`` with the cumulative table of ``probabilities``, marked as built with ``tunables``."""
    cdf = cumulative_weights(probabilities)
    return eqx.tree_at(lambda s: (s.cdf, s.cached_with), state, (cdf, tunables))


def draw_cached(
    state: CachesTable,
    tunables: Float[Array, " m"],
    probabilities: Callable[[], Float[Array, " num_tasks"]],
    key: PRNGKeyArray,
    n: int,
) -> Int[Array, " n"]:
    """``n`` task ids from the state's table, or from ``probabilities()`` when the tunables changed since it was built."""
    n = check_draw_count(n)
    cdf = cached_cumulative_weights(state.cdf, state.cached_with, tunables, probabilities)
    return categorical_from_cdf(cdf, random_uniform(key, n))
