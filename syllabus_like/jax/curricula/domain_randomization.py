"""Uniform sampling over all tasks."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from syllabus_like.jax.curricula.base import AbstractCurriculum, EmptyState, check_draw_count, validate_task_count
from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.curricula.sampling import uniform_indices

__all__ = ["DomainRandomization"]


class DomainRandomization(AbstractCurriculum[EmptyState]):
    """Samples every task id in ``[0, num_tasks)`` uniformly and ignores feedback."""

    num_tasks: int = eqx.field(static=True)

    def __init__(self, num_tasks: int) -> None:
        self.num_tasks = validate_task_count(num_tasks, "DomainRandomization")

    def init(self, key: PRNGKeyArray) -> EmptyState:
        return EmptyState()

    def sample(
        self, state: EmptyState, key: PRNGKeyArray, n: int, mask: Bool[Array, " n"] | None = None
    ) -> tuple[EmptyState, Int[Array, " n"]]:
        return state, uniform_indices(key, check_draw_count(n), self.num_tasks)

    def update(self, state: EmptyState, batch: EpisodeBatch) -> EmptyState:
        return state

    def probabilities(self, state: EmptyState) -> Float[Array, " num_tasks"]:
        return jnp.full((self.num_tasks,), 1.0 / self.num_tasks, dtype=jnp.float32)
