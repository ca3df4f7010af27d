"""Always the same task."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from syllabus_like.jax.curricula.base import AbstractCurriculum, EmptyState, check_draw_count, validate_task_count
from syllabus_like.jax.curricula.episodes import EpisodeBatch

__all__ = ["Constant"]


class Constant(AbstractCurriculum[EmptyState]):
    """Samples ``task_id`` every time and ignores feedback.

    ``task_id`` is an array leaf: swapping it with ``eqx.tree_at`` does not
    recompile.
    """

    num_tasks: int = eqx.field(static=True)
    task_id: Int[Array, ""]

    def __init__(self, num_tasks: int, task_id: int | Int[Array, ""]) -> None:
        self.num_tasks = validate_task_count(num_tasks, "Constant")
        if not isinstance(task_id, jax.core.Tracer):
            if isinstance(task_id, bool) or not 0 <= int(task_id) < num_tasks or int(task_id) != task_id:
                raise ValueError(f"Constant task_id must be an int in [0, {num_tasks}), got {task_id!r}")
        self.task_id = jnp.asarray(task_id, dtype=jnp.int32)

    def init(self, key: PRNGKeyArray) -> EmptyState:
        return EmptyState()

    def sample(
        self, state: EmptyState, key: PRNGKeyArray, n: int, mask: Bool[Array, " n"] | None = None
    ) -> tuple[EmptyState, Int[Array, " n"]]:
        return state, jnp.full((check_draw_count(n),), self.task_id, dtype=jnp.int32)

    def update(self, state: EmptyState, batch: EpisodeBatch) -> EmptyState:
        return state

    def probabilities(self, state: EmptyState) -> Float[Array, " num_tasks"]:
        return jax.nn.one_hot(self.task_id, self.num_tasks, dtype=jnp.float32)
