"""Prioritized Level Replay (Jiang, Grefenstette & Rocktäschel, ICML 2021), and its
robust variant (Jiang et al., "Replay-Guided Adversarial Environment Design", NeurIPS 2021).

PLR keeps a buffer of levels (tasks) with a *score* each, an estimate of how
much the agent can still learn there (e.g. the mean positive value loss of an
episode, or MaxMC). Each draw replays a level from the buffer with
probability ``p`` (``replay_prob``), or plays a level that is not in the
buffer (uniformly) with probability ``1 - p``. Replay distribution over the
buffer (paper, Section 3)::

    P_replay(l_i) = (1 - rho) * P_S(l_i) + rho * P_C(l_i)

    P_S(l_i) = h(S_i) ** (1 / beta) / sum_j h(S_j) ** (1 / beta)     score prioritisation
        rank:  h(S_i) = 1 / rank(S_i)     (rank 1 = highest score)
        topk:  h(S_i) = 1 if rank(S_i) <= k else 0
    P_C(l_i) = (c - C_i) / sum_j (c - C_j)                             staleness

with ``beta`` the temperature, ``rho`` the staleness coefficient, ``c`` the
number of episodes reported so far and ``C_i`` that count when level ``i``'s
score was last updated (uniform over the buffer while every staleness is 0).

This is the same curriculum as :class:`syllabus_like.jax.PrioritizedLevelReplay`,
with the same parameters and the same distribution for the same stream of
episodes (tested to float32 tolerance): the buffer holds ``buffer_size``
levels (at most ``num_tasks``), sorted by score, best first, so a level's
rank is its position; a replayed level takes its episode's score; a new level
enters only by beating the lowest-scored one when the buffer is full (ties
keep the level already there); among equal scores, levels keep their order.
Scores are kept in float32, as in the JAX version, so both rank alike.
Replay starts once ``min_fill`` of the buffer is filled; when every task is in
the buffer, every draw is a replay. The two draw from different random
streams: a Python draw first decides replay-or-new, then picks a slot or a
task; the JAX one searches one table.

Robust PLR (``robust=True``): the trainer trains only on replayed levels; an
episode on a new level is only *evaluated* (its score still updates the
buffer). :meth:`PrioritizedLevelReplay.should_train_on` tells the trainer
which case the latest draw of a task was.

Each episode needs a score: ``update_on_episode(..., score=s)``. A report
without one raises at once (a PLR fed no scores would silently be uniform).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.feedback import (
    check_fraction,
    check_positive_float,
    distribution_entropy,
    require_finite_task_space,
)
from syllabus_like.task_space import TaskSpace
from syllabus_like.validation import check_positive_int

__all__ = ["PrioritizedLevelReplay"]

_FLOAT32 = np.finfo(np.float32)


def _rank_key(score: np.floating | np.ndarray) -> Any:
    """The score the buffer is sorted by: NaN and -inf rank lowest, +inf highest (as in the JAX version)."""
    return np.nan_to_num(score, nan=_FLOAT32.min, posinf=_FLOAT32.max, neginf=_FLOAT32.min)


class PrioritizedLevelReplay(Curriculum):
    """PLR over a finite task space (formulas in the module docstring).

    Args:
        task_space: a finite task space.
        buffer_size: levels kept with a score (clamped to the number of tasks).
        prioritization: ``"rank"`` or ``"topk"``.
        temperature: ``beta`` > 0; lower concentrates on the best scores.
        top_k: ``k`` for ``"topk"``.
        staleness_coef: ``rho`` in [0, 1].
        replay_prob: ``p`` in [0, 1], the chance a draw replays from the buffer.
        min_fill: fraction of the buffer that must hold levels before replay starts.
        robust: robust PLR; see :meth:`should_train_on`.
        seed: seed of the curriculum's generator.
    """

    def __init__(
        self,
        task_space: TaskSpace,
        *,
        buffer_size: int = 4096,
        prioritization: Literal["rank", "topk"] = "rank",
        temperature: float = 0.1,
        top_k: int = 1,
        staleness_coef: float = 0.1,
        replay_prob: float = 0.5,
        min_fill: float = 0.0,
        robust: bool = False,
        seed: int | None = None,
    ) -> None:
        self.num_tasks = require_finite_task_space(task_space, "PrioritizedLevelReplay")
        super().__init__(task_space, seed=seed)
        check_positive_int("buffer_size", buffer_size)
        if prioritization not in ("rank", "topk"):
            raise ValueError(f"prioritization must be 'rank' or 'topk', got {prioritization!r}")
        self.temperature = check_positive_float("temperature", temperature)
        self.top_k = check_positive_int("top_k", top_k)
        self.staleness_coef = check_fraction("staleness_coef", staleness_coef)
        self.replay_prob = check_fraction("replay_prob", replay_prob)
        self.min_fill = check_fraction("min_fill", min_fill)
        if not isinstance(robust, bool):
            raise ValueError(f"robust must be True or False, got {robust!r}")
        self.prioritization = prioritization
        self.robust = robust
        self.buffer_size = min(buffer_size, self.num_tasks)
        size = self.buffer_size
        self._levels = np.full(size, -1, np.int64)  # sorted by score, best first; -1: empty
        self._scores = np.zeros(size, np.float32)
        self._last_played = np.zeros(size, np.int64)
        self._max_returns = np.full(size, -np.inf)
        self._slot_of_task = np.full(self.num_tasks, -1, np.int64)
        self._filled = 0
        self._episode_count = 0
        self._trained_on: dict[int, bool] = {}  # task -> whether its latest draw was a replay
        self._replay_cdf: np.ndarray | None = None  # cached until the next update
        self._outside_tasks: np.ndarray | None = None  # cached until the buffer's membership changes

    # ---------------------------------------------------------- distribution
    def effective_replay_prob(self) -> float:
        """``p`` once ``min_fill`` of the buffer holds levels; 1 when every task is in the buffer."""
        needed = max(float(np.ceil(np.float32(self.min_fill) * np.float32(self.buffer_size))), 1.0)
        if self._filled < needed:
            return 0.0
        return 1.0 if self._filled == self.num_tasks else self.replay_prob

    def replay_distribution(self) -> np.ndarray:
        """``P_replay`` over the filled buffer slots (best score first)."""
        filled = self._filled
        if filled == 0:
            return np.zeros(0)
        rank = np.arange(1, filled + 1, dtype=np.float64)
        if self.prioritization == "rank":
            weight = rank ** (-1.0 / self.temperature)
        else:
            weight = (rank <= self.top_k).astype(np.float64)
        score_part = weight / weight.sum()
        staleness = (self._episode_count - self._last_played[:filled]).astype(np.float64)
        total = staleness.sum()
        staleness_part = staleness / total if total > 0 else np.full(filled, 1.0 / filled)
        return (1.0 - self.staleness_coef) * score_part + self.staleness_coef * staleness_part

    def probabilities(self) -> np.ndarray:
        replay = self.effective_replay_prob()
        probabilities = np.zeros(self.num_tasks)
        outside = self.num_tasks - self._filled
        if outside:
            probabilities[self._slot_of_task < 0] = (1.0 - replay) / outside
        if self._filled:
            probabilities[self._levels[: self._filled]] += replay * self.replay_distribution()
        return probabilities

    # --------------------------------------------------------------- sampling
    def _sample(self, k: int) -> list[int]:
        replay = self.effective_replay_prob()
        replayed = self._rng.random(k) < replay
        tasks = np.empty(k, np.int64)
        num_replays = int(replayed.sum())
        if num_replays:
            if self._replay_cdf is None:
                self._replay_cdf = np.cumsum(self.replay_distribution())
            cdf = self._replay_cdf
            slots = np.searchsorted(cdf, self._rng.random(num_replays) * cdf[-1], side="right")
            tasks[replayed] = self._levels[np.minimum(slots, self._filled - 1)]
        if num_replays < k:
            tasks[~replayed] = self._sample_outside(k - num_replays)
        result = tasks.tolist()
        if self.robust:
            for task, was_replay in zip(result, replayed.tolist()):
                self._trained_on[task] = was_replay
        return result

    def _sample_outside(self, n: int) -> np.ndarray:
        """``n`` tasks drawn uniformly from those outside the buffer."""
        outside = self.num_tasks - self._filled
        if 2 * outside >= self.num_tasks:  # rejection: fewer than 2 tries per task on average
            drawn: list[np.ndarray] = []
            still_needed = n
            while still_needed:
                candidates = self._rng.integers(self.num_tasks, size=2 * still_needed)
                candidates = candidates[self._slot_of_task[candidates] < 0][:still_needed]
                drawn.append(candidates)
                still_needed -= len(candidates)
            return np.concatenate(drawn)
        if self._outside_tasks is None:
            self._outside_tasks = np.flatnonzero(self._slot_of_task < 0)
        return self._outside_tasks[self._rng.integers(outside, size=n)]

    def should_train_on(self, task: Any) -> bool:
        """Whether the trainer should use the episode on ``task`` for a gradient update.

        Always True for plain PLR. For robust PLR, True only when the latest
        draw of ``task`` replayed it from the buffer; an episode on a new level
        is only evaluated (its score is still reported to the curriculum).
        """
        if not self.robust:
            return True
        return self._trained_on.get(int(self.task_space.encode(task)), False)

    # ---------------------------------------------------------------- updates
    def update_on_episode(
        self,
        episode_return: float,
        length: int,
        task: Any,
        progress: float = 0.0,
        env_id: int | None = None,
        score: float | None = None,
    ) -> None:
        """Score ``task``'s level with ``score``: a replayed level takes it, a new one may enter the buffer."""
        encoded = int(self.task_space.encode(task))
        if score is None:
            raise ValueError(
                "PrioritizedLevelReplay.update_on_episode needs score= (a per-episode learning-potential score, "
                "e.g. the mean positive value loss or MaxMC of the episode), got score=None; pass it from the "
                "trainer or the wrapper that reports episodes"
            )
        score32 = np.float32(score)
        key = _rank_key(score32)
        self._episode_count += 1
        slot = int(self._slot_of_task[encoded])
        if slot >= 0:
            best = max(float(self._max_returns[slot]), float(episode_return))
            others = np.delete(_rank_key(self._scores[: self._filled]), slot)
            position = int(np.count_nonzero(others > key) + np.count_nonzero(others[:slot] == key))
            self._move(slot, position)
            self._set_slot(position, encoded, score32, best)
        else:
            position = int(np.count_nonzero(_rank_key(self._scores[: self._filled]) >= key))
            if position >= self.buffer_size:
                return  # does not beat the lowest-scored level of a full buffer
            if self._filled == self.buffer_size:  # the lowest-scored level leaves
                self._slot_of_task[self._levels[-1]] = -1
                self._levels[-1] = -1
                self._filled -= 1
            self._filled += 1
            self._move(self._filled - 1, position)
            self._set_slot(position, encoded, score32, float(episode_return))
            self._outside_tasks = None

    def _move(self, source: int, target: int) -> None:
        """Move slot ``source`` to ``target``, shifting the slots between by one."""
        if source != target:
            low, high = min(source, target), max(source, target) + 1
            shift = 1 if source > target else -1
            for array in (self._levels, self._scores, self._last_played, self._max_returns):
                array[low:high] = np.roll(array[low:high], shift)
            self._slot_of_task[self._levels[low:high][self._levels[low:high] >= 0]] = np.flatnonzero(
                self._levels[low:high] >= 0
            ) + low

    def _set_slot(self, slot: int, task: int, score: np.float32, max_return: float) -> None:
        self._levels[slot] = task
        self._scores[slot] = score
        self._last_played[slot] = self._episode_count
        self._max_returns[slot] = max_return
        self._slot_of_task[task] = slot
        self._replay_cdf = None

    # -------------------------------------------------------------- reporting
    def max_return(self, task: Any) -> float:
        """The best return seen on ``task``'s level while in the buffer (``-inf`` otherwise), for MaxMC scores."""
        slot = int(self._slot_of_task[int(self.task_space.encode(task))])
        return float(self._max_returns[slot]) if slot >= 0 else float("-inf")

    def buffer(self) -> list[tuple[Any, float]]:
        """The buffered levels (decoded) with their scores, best first."""
        return [
            (self.task_space.decode(int(level)), float(score))
            for level, score in zip(self._levels[: self._filled], self._scores[: self._filled])
        ]

    def metrics(self) -> dict[str, float]:
        filled = self._filled
        return {
            "buffer_fill": filled / self.buffer_size,
            "mean_score": float(np.mean(self._scores[:filled], dtype=np.float64)) if filled else 0.0,
            "max_score": float(self._scores[0]) if filled else 0.0,
            "replay_prob": self.effective_replay_prob(),
            "episodes": float(self._episode_count),
            "entropy": distribution_entropy(self.probabilities()),
        }

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        filled = self._filled
        state.update(
            levels=self._levels[:filled].tolist(),
            scores=self._scores[:filled].tolist(),
            last_played=self._last_played[:filled].tolist(),
            max_returns=self._max_returns[:filled].tolist(),
            episode_count=self._episode_count,
            trained_on=dict(self._trained_on),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        levels = np.asarray(state["levels"], np.int64)
        filled = len(levels)
        if filled > self.buffer_size or np.any(levels < 0) or np.any(levels >= self.num_tasks):
            raise ValueError(
                f"state_dict holds {filled} levels {levels.tolist()[:8]}..., which do not fit a buffer of "
                f"{self.buffer_size} over {self.num_tasks} tasks"
            )
        self._levels[:] = -1
        self._scores[:] = 0.0
        self._last_played[:] = 0
        self._max_returns[:] = -np.inf
        self._levels[:filled] = levels
        self._scores[:filled] = np.asarray(state["scores"], np.float32)
        self._last_played[:filled] = np.asarray(state["last_played"], np.int64)
        self._max_returns[:filled] = np.asarray(state["max_returns"], np.float64)
        self._slot_of_task[:] = -1
        self._slot_of_task[levels] = np.arange(filled)
        self._filled = filled
        self._episode_count = int(state["episode_count"])
        self._trained_on = {int(task): bool(flag) for task, flag in state["trained_on"].items()}
        self._replay_cdf = None
        self._outside_tasks = None
