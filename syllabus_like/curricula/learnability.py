"""Learnability sampling, "Sampling For Learnability" (SFL; Rutherford et al., 2024, arXiv:2408.15099).

A task the agent always solves, or never solves, teaches it little; one it
solves about half the time teaches it most. SFL scores task ``i`` by its
*learnability*::

    L_i = p_i (1 - p_i)

with ``p_i`` the agent's success rate there, and trains on the most learnable
tasks. Here ``p_i`` is an exponential moving average of the episodes'
success (``progress``, clipped to [0, 1]) with step ``ema_rate``, starting at
the first observed success; tasks never reported have ``L_i = 0``.

The distribution mixes a *learnable* part with uniform exploration::

    P(i) = learnable_prob * P_L(i) + (1 - learnable_prob) / N

    sampling="topk":  P_L uniform over the buffer, the (at most) ``top_k``
                      tasks of highest positive learnability (ties: lower index first)
    sampling="dist":  P_L(i) = L_i / sum_j L_j

and ``P_L`` is uniform over all tasks while no task has positive
learnability. These are the buffer semantics of the Syllabus library's
``Learnability`` (top-k with ``learnable_prob``, or proportional), except
that its buffer may hold tasks of zero learnability and its success rates come
from separate evaluation passes over every task; here they come from the
training episodes themselves, hence the default ``learnable_prob=0.5`` that
keeps half the draws exploring.

The same curriculum as :class:`syllabus_like.jax.Learnability`: same
parameters, same ``probabilities()`` for the same stream of episodes (tested
to float32 tolerance; estimates are kept in float32 as there); different
random streams.

Cost: with ``sampling="topk"`` an update moves one task in a sorted list of
the learnable tasks (a bisection and a memmove) and a draw is O(1), so
neither depends much on the number of tasks; ``sampling="dist"`` rebuilds its
cumulative table at the first draw after an update (O(number of tasks)).
Uniform numbers come from the generator in blocks, part of the state.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping
from typing import Any, Literal, cast

import numpy as np

from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.feedback import (
    check_fraction,
    check_positive_float,
    distribution_entropy,
    episode_success,
    require_finite_task_space,
)
from syllabus_like.curricula.state_checks import checked_bools, checked_floats, checked_spare_uniforms
from syllabus_like.task_space import TaskSpace
from syllabus_like.validation import check_positive_int

__all__ = ["Learnability", "learnability"]

#: Uniform doubles drawn from the generator at a time.
_UNIFORM_BLOCK = 256


def learnability(success_rate: np.ndarray) -> np.ndarray:
    """``p (1 - p)``, computed as ``q (1 - q)`` with ``q = min(p, 1 - p)`` so that ``p`` and
    ``1 - p`` tie exactly (in float32 too), whatever the rounding of ``1 - p``."""
    q = np.minimum(success_rate, np.float32(1.0) - success_rate)
    return cast(np.ndarray, q * (np.float32(1.0) - q))


class Learnability(Curriculum):
    """Samples tasks by their learnability ``p (1 - p)`` (formulas in the module docstring).

    Args:
        task_space: a finite task space.
        ema_rate: step of the success-rate moving average, in (0, 1].
        top_k: size of the learnable buffer for ``sampling="topk"`` (clamped to the number of tasks).
        learnable_prob: share of draws from the learnable part, in [0, 1].
        sampling: ``"topk"`` or ``"dist"``.
        seed: seed of the curriculum's generator.
    """

    def __init__(
        self,
        task_space: TaskSpace,
        *,
        ema_rate: float = 0.1,
        top_k: int = 100,
        learnable_prob: float = 0.5,
        sampling: Literal["topk", "dist"] = "topk",
        seed: int | None = None,
    ) -> None:
        self.num_tasks = require_finite_task_space(task_space, "Learnability")
        super().__init__(task_space, seed=seed)
        self.ema_rate = check_positive_float("ema_rate", ema_rate)
        if self.ema_rate > 1.0:
            raise ValueError(f"ema_rate must be in (0, 1], got {ema_rate!r}")
        self.top_k = min(check_positive_int("top_k", top_k), self.num_tasks)
        self.learnable_prob = check_fraction("learnable_prob", learnable_prob)
        if sampling not in ("topk", "dist"):
            raise ValueError(f"sampling must be 'topk' or 'dist', got {sampling!r}")
        self.sampling = sampling
        self._success = np.zeros(self.num_tasks, np.float32)
        self._seen = np.zeros(self.num_tasks, bool)
        self._cdf: np.ndarray | None = None  # cached until the next update ("dist")
        self._ranked: list[tuple[float, int]] = []  # (-L, task) of the tasks with L > 0, ascending
        self._spare_uniforms: list[float] = []  # the next doubles of the generator's stream, last one first

    def learnability(self) -> np.ndarray:
        """``p (1 - p)`` per task, 0 for tasks never reported."""
        return np.where(self._seen, learnability(self._success), np.float32(0.0))

    def buffer(self) -> np.ndarray:
        """The encoded tasks of the learnable buffer (``sampling="topk"``), most learnable first."""
        return np.array([task for _, task in self._ranked[: self.top_k]], np.int64)

    def probabilities(self) -> np.ndarray:
        uniform = np.full(self.num_tasks, 1.0 / self.num_tasks)
        if self.sampling == "topk":
            buffer = self.buffer()
            learnable = np.zeros(self.num_tasks)
            learnable[buffer] = 1.0 / len(buffer) if len(buffer) else 0.0
        else:
            learnable = self.learnability().astype(np.float64)
        total = learnable.sum()
        learnable = learnable / total if total > 0 else uniform
        return self.learnable_prob * learnable + (1.0 - self.learnable_prob) * uniform

    def _uniform(self) -> float:
        if not self._spare_uniforms:
            self._spare_uniforms = self._rng.random(_UNIFORM_BLOCK).tolist()[::-1]
        return self._spare_uniforms.pop()

    def _sample(self, k: int) -> list[int]:
        if self.sampling == "topk":
            return [self._draw_topk() for _ in range(k)]
        if self._cdf is None:
            self._cdf = np.cumsum(self.probabilities())
        cdf = self._cdf
        indices = np.minimum(np.searchsorted(cdf, self._rng.random(k) * cdf[-1], side="right"), self.num_tasks - 1)
        return cast(list[int], indices.tolist())

    def _draw_topk(self) -> int:
        """Uniform over the buffer with chance ``learnable_prob`` (over all tasks while it is empty), else uniform."""
        size = min(self.top_k, len(self._ranked))
        if size and self._uniform() < self.learnable_prob:
            return self._ranked[min(int(self._uniform() * size), size - 1)][1]
        return min(int(self._uniform() * self.num_tasks), self.num_tasks - 1)

    def update_on_episode(
        self,
        episode_return: float,
        length: int,
        task: Any,
        progress: float = 0.0,
        env_id: int | None = None,
        score: float | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """Move ``task``'s success rate towards the episode's success (``progress``).

        ``metrics`` is accepted for the base class's contract and ignored.
        """
        encoded, success = episode_success(self.task_space, task, progress, "Learnability")
        old = float(learnability(self._success[encoded])) if self._seen[encoded] else 0.0
        if old > 0:
            del self._ranked[bisect_left(self._ranked, (-old, encoded))]
        if self._seen[encoded]:
            self._success[encoded] += np.float32(self.ema_rate) * (success - self._success[encoded])
        else:
            self._success[encoded] = success
            self._seen[encoded] = True
        new = float(learnability(self._success[encoded]))
        if new > 0:
            insort(self._ranked, (-new, encoded))
        self._cdf = None

    def success_rates(self) -> np.ndarray:
        """The success-rate estimate per task (0 for tasks never reported)."""
        return self._success.astype(np.float64)

    def metrics(self) -> dict[str, float]:
        scores = self.learnability()
        return {
            "buffer_fill": len(self.buffer()) / self.top_k,
            "mean_learnability": float(scores.mean()),
            "max_learnability": float(scores.max()),
            "tasks_seen": float(self._seen.sum()),
            "mean_success_rate": float(self._success[self._seen].mean()) if self._seen.any() else 0.0,
            "entropy": distribution_entropy(self.probabilities()),
        }

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            success=self._success.tolist(), seen=self._seen.tolist(), spare_uniforms=list(self._spare_uniforms)
        )
        return state

    def _check_state(self, state: Any) -> dict[str, Any]:
        checked = super()._check_state(state)
        what = f"num_tasks={self.num_tasks}"
        checked["success"] = checked_floats(
            "success", state["success"], self.num_tasks, what=what, low=0.0, high=1.0, finite=True, float32=True
        )
        checked["seen"] = checked_bools("seen", state["seen"], self.num_tasks, what=what)
        checked["spare_uniforms"] = checked_spare_uniforms(state["spare_uniforms"], _UNIFORM_BLOCK)
        return checked

    def _restore_state(self, checked: dict[str, Any]) -> None:
        super()._restore_state(checked)
        self._success = np.array(checked["success"], np.float32)
        self._seen = np.array(checked["seen"], bool)
        self._cdf = None
        scores = self.learnability()
        self._ranked = sorted((-float(scores[task]), int(task)) for task in np.flatnonzero(scores > 0))
        self._spare_uniforms = checked["spare_uniforms"]
