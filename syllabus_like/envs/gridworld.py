"""A gridworld "crossing" whose difficulty levels make curricula matter.

The map is one fixed maze of five rooms in a row (:data:`CROSSING_MAP`),
joined by one-cell doors that alternate between the bottom and the top row, so
the way from the left room to the goal ``G`` (bottom-right corner) snakes
through every door::

    ##########################
    #....#.........#.........#
    #....#....#....#....#....#
    #....#....#....#....#....#
    #....#....#....#....#....#
    #.........#.........#...G#
    ##########################

A *task* is a difficulty level ``0 .. NUM_LEVELS - 1``. Level ``k`` starts
the agent in a uniformly random cell of the room ``k`` rooms left of the goal
room, with a step limit. The reward is sparse: ``1.0`` on the step that
reaches the goal, ``0.0`` otherwise.

Why curricula matter here: from the hardest level (start in the leftmost
room) a random walk almost never crosses four doors within the step limit,
so an agent exploring at random gets no reward to learn from. The easier
levels are the *same map* with the start closer to the goal, so what an agent
learns there (the way from one room on) is exactly what it needs on the next
level: a tabular Q-table learned on level ``k`` transfers to level ``k + 1``.

Everything a level changes is a row of :data:`LEVELS` (plain numbers), and
the dynamics are a lookup in the static table :attr:`GridCrossingEnv.next_cell`,
so the environment ports directly to array code.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from syllabus_like.task_space import DiscreteTaskSpace, TaskSpace

__all__ = [
    "ACTION_DELTAS",
    "CELL_PIXELS",
    "CROSSING_MAP",
    "LEVELS",
    "LEVEL_FIELDS",
    "NUM_LEVELS",
    "GridCrossingEnv",
]

#: The maze: ``#`` wall, ``.`` floor, ``G`` goal (floor). Doors are floor cells in a wall column.
CROSSING_MAP: tuple[str, ...] = (
    "##########################",
    "#....#.........#.........#",
    "#....#....#....#....#....#",
    "#....#....#....#....#....#",
    "#....#....#....#....#....#",
    "#.........#.........#...G#",
    "##########################",
)

#: Per-level parameters, one row per level (level 0 easiest). Start cells are
#: drawn uniformly from rows ``[row_low, row_high)`` x columns ``[col_low, col_high)``;
#: an episode is truncated after ``max_steps`` steps.
LEVEL_FIELDS: tuple[str, ...] = ("row_low", "row_high", "col_low", "col_high", "max_steps")
LEVELS: np.ndarray = np.array(
    [
        # rows   columns   max_steps
        [1, 6, 21, 24, 40],  # goal room (goal column excluded)
        [1, 6, 16, 20, 60],  # one room to cross
        [1, 6, 11, 15, 80],  # two rooms
        [1, 6, 6, 10, 100],  # three rooms
        [1, 6, 1, 5, 120],  # four rooms: the hardest level
    ],
    dtype=np.int64,
)
LEVELS.setflags(write=False)

NUM_LEVELS: int = len(LEVELS)

#: Side, in pixels, of one cell in ``render_mode="rgb_array"`` images.
CELL_PIXELS: int = 8
_WALL_COLOUR = np.array([40, 40, 40], dtype=np.uint8)
_FLOOR_COLOUR = np.array([230, 230, 230], dtype=np.uint8)
_GOAL_COLOUR = np.array([40, 170, 60], dtype=np.uint8)
_AGENT_COLOUR = np.array([210, 40, 40], dtype=np.uint8)

#: Row and column change of each action: 0 up, 1 right, 2 down, 3 left.
ACTION_DELTAS: np.ndarray = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int64)
ACTION_DELTAS.setflags(write=False)


class GridCrossingEnv(gym.Env[int, int]):
    """The crossing gridworld; ``change_task(level)`` picks the difficulty.

    * Observation: the agent's cell as one integer ``row * width + col``
      (``Discrete(height * width)``; wall cells are never observed).
    * Actions: ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left. Moving into a
      wall leaves the agent where it is.
    * Reward: ``1.0`` when the agent steps onto the goal, else ``0.0``.
    * Termination: on reaching the goal. Truncation: after the level's
      ``max_steps`` steps.
    * ``info["task_completion"]`` on the last step of an episode: ``1.0`` on
      success, otherwise ``1 - d_end / d_start`` clipped to ``[0, 1]``, where
      ``d`` is the shortest-path distance to the goal (how much of the way the
      agent has covered).

    The level applies from the next ``reset``. Use it directly, or through
    :class:`syllabus_like.wrappers.TaskWrapper` /
    :class:`syllabus_like.wrappers.CurriculumWrapper`, which call
    :meth:`change_task`.

    Args:
        level: the initial difficulty level (default: the hardest).
        render_mode: ``None``, ``"ansi"`` (a text picture of the map) or
            ``"rgb_array"`` (an image of it, :data:`CELL_PIXELS` pixels a
            cell: walls dark, floor light, goal green, agent red), the mode
            Stable-Baselines3's ``make_vec_env`` and Gymnasium's ``RecordVideo`` ask for.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, level: int | None = None, render_mode: str | None = None) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None, 'ansi' or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode

        self.walls = np.array([[ch == "#" for ch in row] for row in CROSSING_MAP], dtype=bool)
        self.height, self.width = self.walls.shape
        (goal_row,), (goal_col,) = np.nonzero(np.array([list(row) for row in CROSSING_MAP]) == "G")
        self.goal_cell = int(goal_row * self.width + goal_col)
        self.next_cell = self._transition_table()
        self.goal_distance = self._goal_distances()

        self.observation_space = spaces.Discrete(self.height * self.width)
        self.action_space = spaces.Discrete(len(ACTION_DELTAS))
        self.task_space: TaskSpace = DiscreteTaskSpace(NUM_LEVELS)

        self.level = NUM_LEVELS - 1
        if level is not None:
            self.change_task(level)
        self._cell = -1
        self._start_distance = 1
        self._steps = 0

    # ------------------------------------------------------------------ tasks
    def change_task(self, task: int) -> None:
        """Play difficulty level ``task`` (an int in ``[0, NUM_LEVELS)``) from the next reset."""
        if isinstance(task, (bool, np.bool_)) or not isinstance(task, (int, np.integer)):
            raise TypeError(
                f"GridCrossingEnv task must be an int level in [0, {NUM_LEVELS}), got {task!r} ({type(task).__name__})"
            )
        if not 0 <= int(task) < NUM_LEVELS:
            raise ValueError(f"GridCrossingEnv level must be in [0, {NUM_LEVELS}), got {task}")
        self.level = int(task)

    @property
    def max_steps(self) -> int:
        """Step limit of the current level."""
        return int(LEVELS[self.level, LEVEL_FIELDS.index("max_steps")])

    # -------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        row_low, row_high, col_low, col_high, _ = LEVELS[self.level]
        row = int(self.np_random.integers(row_low, row_high))
        col = int(self.np_random.integers(col_low, col_high))
        self._cell = row * self.width + col
        self._start_distance = int(self.goal_distance[self._cell])
        self._steps = 0
        return self._cell, {"level": self.level}

    def step(self, action: int) -> tuple[int, SupportsFloat, bool, bool, dict]:
        if self._cell < 0:
            raise RuntimeError("GridCrossingEnv.step called before reset")
        if (
            isinstance(action, (bool, np.bool_))
            or not isinstance(action, (int, np.integer))
            or not 0 <= action < len(ACTION_DELTAS)
        ):
            raise ValueError(f"action must be an int in [0, {len(ACTION_DELTAS)}), got {action!r}")
        self._cell = int(self.next_cell[self._cell, action])
        self._steps += 1
        terminated = self._cell == self.goal_cell
        truncated = not terminated and self._steps >= self.max_steps
        reward = 1.0 if terminated else 0.0
        info: dict[str, Any] = {"level": self.level}
        if terminated or truncated:
            info["task_completion"] = self._completion(terminated)
        return self._cell, reward, terminated, truncated, info

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self._render_image()
        if self.render_mode != "ansi":
            return None
        rows = [list(row) for row in CROSSING_MAP]
        if self._cell >= 0:
            row, col = divmod(self._cell, self.width)
            rows[row][col] = "A"
        return "\n".join("".join(row) for row in rows)

    # -------------------------------------------------------------- helpers
    def _render_image(self) -> np.ndarray:
        """The map as an ``(height * CELL_PIXELS, width * CELL_PIXELS, 3)`` uint8 image."""
        cells = np.where(self.walls[..., None], _WALL_COLOUR, _FLOOR_COLOUR).astype(np.uint8)
        cells[divmod(self.goal_cell, self.width)] = _GOAL_COLOUR
        if self._cell >= 0:
            cells[divmod(self._cell, self.width)] = _AGENT_COLOUR
        return np.repeat(np.repeat(cells, CELL_PIXELS, axis=0), CELL_PIXELS, axis=1)

    def _completion(self, reached_goal: bool) -> float:
        if reached_goal:
            return 1.0
        covered = 1.0 - self.goal_distance[self._cell] / self._start_distance
        return float(min(max(covered, 0.0), 1.0))

    def _transition_table(self) -> np.ndarray:
        """``next_cell[cell, action]``: where ``action`` leads from ``cell`` (walls block)."""
        table = np.zeros((self.height * self.width, len(ACTION_DELTAS)), dtype=np.int64)
        for row in range(self.height):
            for col in range(self.width):
                for action, (d_row, d_col) in enumerate(ACTION_DELTAS):
                    to_row, to_col = row + d_row, col + d_col
                    inside = 0 <= to_row < self.height and 0 <= to_col < self.width
                    if not inside or self.walls[to_row, to_col]:
                        to_row, to_col = row, col
                    table[row * self.width + col, action] = to_row * self.width + to_col
        table.setflags(write=False)
        return table

    def _goal_distances(self) -> np.ndarray:
        """Shortest-path distance from every cell to the goal (breadth-first search)."""
        unreachable = self.height * self.width
        distance = np.full(self.height * self.width, unreachable, dtype=np.int64)
        distance[self.goal_cell] = 0
        frontier = [self.goal_cell]
        while frontier:
            next_frontier = []
            for cell in frontier:
                for neighbour in self.next_cell[cell]:
                    if distance[neighbour] == unreachable:
                        distance[neighbour] = distance[cell] + 1
                        next_frontier.append(int(neighbour))
            frontier = next_frontier
        distance.setflags(write=False)
        return distance
