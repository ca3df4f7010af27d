"""The crossing gridworld in JAX (same map, levels and rewards as :mod:`syllabus_like.envs.gridworld`).

The task is the difficulty ``level`` (an array field): the start region and
the step limit are *derived* from it (properties reading the ``levels``
table), so setting ``level`` with ``eqx.tree_at`` (a task table, a scheduled
or level curriculum) changes them consistently. See
:mod:`syllabus_like.jax.environment` for the protocol.

Needs the ``jax`` extra.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from syllabus_like.envs.gridworld import LEVEL_FIELDS, LEVELS, NUM_LEVELS, GridCrossingEnv
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable

__all__ = ["GridCrossingJax", "GridState", "gridworld_task_table"]

_ROW_LOW, _ROW_HIGH, _COL_LOW, _COL_HIGH, _MAX_STEPS = (
    LEVEL_FIELDS.index(name) for name in ("row_low", "row_high", "col_low", "col_high", "max_steps")
)


class GridState(eqx.Module):
    """The agent's cell, the shortest-path distance it started at, and the steps taken."""

    cell: Int[Array, ""]
    start_distance: Int[Array, ""]
    steps: Int[Array, ""]


class GridCrossingJax(AbstractEnvironment[GridState]):
    """The crossing gridworld; ``level`` in ``[0, NUM_LEVELS)`` is the task.

    * Observation: one-hot float32 vector of the agent's cell (``num_cells``
      entries), or the cell index with ``one_hot=False`` (the Gymnasium env's
      observation).
    * Actions: 0 up, 1 right, 2 down, 3 left; walls block.
    * Reward 1.0 on reaching the goal (terminated); truncated after
      ``max_steps`` steps. ``info["task_completion"]``: 1.0 on success, else
      ``clip(1 - d_end / d_start, 0, 1)`` with ``d`` the distance to the goal.

    Args:
        level: the difficulty level (default: the hardest).
        one_hot: observation format (static).
    """

    level: Int[Array, ""]
    levels: Int[Array, "num_levels 5"]
    next_cell: Int[Array, "num_cells 4"]
    goal_distance: Int[Array, " num_cells"]
    goal_cell: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    num_cells: int = eqx.field(static=True)
    one_hot: bool = eqx.field(static=True)

    def __init__(self, level: int | Int[ArrayLike, ""] = NUM_LEVELS - 1, *, one_hot: bool = True) -> None:
        if not isinstance(level, jax.core.Tracer):
            if isinstance(level, bool) or int(level) != level or not 0 <= int(level) < NUM_LEVELS:
                raise ValueError(f"GridCrossingJax level must be an int in [0, {NUM_LEVELS}), got {level!r}")
        reference = GridCrossingEnv()  # the Gymnasium env's tables: same map, same dynamics
        self.level = jnp.asarray(level, jnp.int32)
        self.levels = jnp.asarray(LEVELS, jnp.int32)
        self.next_cell = jnp.asarray(reference.next_cell, jnp.int32)
        self.goal_distance = jnp.asarray(reference.goal_distance, jnp.int32)
        self.goal_cell = int(reference.goal_cell)
        self.width = int(reference.width)
        self.num_cells = int(reference.height * reference.width)
        self.one_hot = bool(one_hot)

    # ------------------------------------------------------- derived parameters
    @property
    def max_steps(self) -> Int[Array, ""]:
        """Step limit of the current level (derived from ``level``)."""
        return self.levels[self.level, _MAX_STEPS]

    @property
    def start_region(self) -> tuple[Int[Array, ""], Int[Array, ""], Int[Array, ""], Int[Array, ""]]:
        """``(row_low, row_high, col_low, col_high)`` of the level's start cells (half-open)."""
        row = self.levels[self.level]
        return row[_ROW_LOW], row[_ROW_HIGH], row[_COL_LOW], row[_COL_HIGH]

    @property
    def num_actions(self) -> int:
        return 4

    # ------------------------------------------------------------------ protocol
    def observe(self, cell: Int[Array, ""]) -> Float[Array, " num_cells"] | Int[Array, ""]:
        return jax.nn.one_hot(cell, self.num_cells, dtype=jnp.float32) if self.one_hot else cell

    def reset(self, key: PRNGKeyArray) -> tuple[GridState, Array]:
        row_key, col_key = jax.random.split(key)
        row_low, row_high, col_low, col_high = self.start_region
        row = jax.random.randint(row_key, (), row_low, row_high)
        col = jax.random.randint(col_key, (), col_low, col_high)
        cell = (row * self.width + col).astype(jnp.int32)
        state = GridState(cell=cell, start_distance=self.goal_distance[cell], steps=jnp.zeros((), jnp.int32))
        return state, self.observe(cell)

    def step(
        self, key: PRNGKeyArray, state: GridState, action: Int[ArrayLike, ""]
    ) -> tuple[GridState, Array, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Array]]:
        cell = self.next_cell[state.cell, action]
        steps = state.steps + 1
        terminated = cell == self.goal_cell
        truncated = ~terminated & (steps >= self.max_steps)
        covered = 1.0 - self.goal_distance[cell] / jnp.maximum(state.start_distance, 1)
        completion = jnp.where(terminated, 1.0, jnp.clip(covered, 0.0, 1.0)).astype(jnp.float32)
        info = {"task_completion": completion, "level": self.level}
        new_state = GridState(cell=cell, start_distance=state.start_distance, steps=steps)
        return new_state, self.observe(cell), terminated.astype(jnp.float32), terminated, truncated, info


def gridworld_task_table(env: GridCrossingJax) -> TaskTable:
    """Task ``i`` is difficulty level ``i`` (``NUM_LEVELS`` tasks)."""
    return TaskTable(env, lambda e: e.level, jnp.arange(NUM_LEVELS, dtype=jnp.int32))
