"""Learning-progress curriculum (Kanitscheider et al., 2021, arXiv:2106.14876).

Tasks on which the agent's success rate is *changing* are the ones it is
learning (or forgetting) right now; sample those. Per task ``i`` keep two
exponential moving averages of the success rate, a fast one and a slow one
that follows the fast one::

    p_fast_i <- (1 - a_fast) * p_fast_i + a_fast * p_i
    p_slow_i <- (1 - a_slow) * p_slow_i + a_slow * p_fast_i

where ``p_i`` is an episode's success (its ``progress``, clipped to [0, 1]);
both start at the first observed ``p_i``. The bidirectional learning progress is::

    LP_i = | f(p_fast_i) - f(p_slow_i) |,   f(p) = (1 - theta) p / (p + theta (1 - 2 p))

``f`` (the paper's reweighting, ``theta`` = ``reweight_threshold``) maps
0 -> 0, ``theta`` -> 1/2, 1 -> 1, magnifying changes of small success rates.
Sampling weights are ``sigmoid(z_i / temperature)`` with ``z`` the z-score of
``LP`` over tasks (all equal when every LP is), normalised: every task keeps
some probability, tasks with unusually high progress get most of it.

The same curriculum as :class:`syllabus_like.jax.LearningProgress`: same
parameters, and for the same stream of episodes the same ``probabilities()``
(tested to float32 tolerance; the estimates are kept in float32 as there).
One Python episode report is one JAX batch with a single episode. The two
draw from different random streams.

Cost: an update changes one task's LP and the running sums of LP and LP^2
(the mean and spread of the z-score), O(1). A draw proposes a uniform task
and accepts it with chance ``sigmoid(z_i / temperature)`` (at most 1, so
accepted draws follow the distribution exactly); after 32 rejections in a
row it draws from the full cumulative table instead (built in
O(number of tasks), cached until the next update). The running sums are
recomputed exactly every ``num_tasks`` updates, so rounding never builds up.
Uniform numbers come from the generator in blocks, part of the state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.feedback import (
    check_positive_float,
    distribution_entropy,
    episode_success,
    require_finite_task_space,
)
from syllabus_like.curricula.state_checks import checked_bools, checked_floats, checked_spare_uniforms, is_int
from syllabus_like.task_space import TaskSpace

__all__ = ["LearningProgress"]

#: Uniform doubles drawn from the generator at a time.
_UNIFORM_BLOCK = 256

#: Rejected proposals before a draw falls back to the cumulative table.
_MAX_REJECTIONS = 32


def _check_rate(name: str, value: Any) -> float:
    rate = check_positive_float(name, value)
    if rate > 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return rate


class LearningProgress(Curriculum):
    """Samples tasks by learning progress ``|f(p_fast) - f(p_slow)|`` (formulas in the module docstring).

    Args:
        task_space: a finite task space.
        fast_rate: ``a_fast``, the fast EMA's step size, in (0, 1].
        slow_rate: ``a_slow``, the slow EMA's step size (smaller: slower), in (0, 1].
        reweight_threshold: ``theta`` in (0, 1) of the reweighting ``f``.
        temperature: > 0; divides the z-scores before the sigmoid.
        seed: seed of the curriculum's generator.
    """

    def __init__(
        self,
        task_space: TaskSpace,
        *,
        fast_rate: float = 0.1,
        slow_rate: float = 0.1,
        reweight_threshold: float = 0.1,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self.num_tasks = require_finite_task_space(task_space, "LearningProgress")
        super().__init__(task_space, seed=seed)
        self.fast_rate = _check_rate("fast_rate", fast_rate)
        self.slow_rate = _check_rate("slow_rate", slow_rate)
        self.reweight_threshold = check_positive_float("reweight_threshold", reweight_threshold)
        if self.reweight_threshold >= 1.0:
            raise ValueError(f"reweight_threshold must be in (0, 1), got {reweight_threshold!r}")
        self.temperature = check_positive_float("temperature", temperature)
        self._fast = np.zeros(self.num_tasks, np.float32)
        self._slow = np.zeros(self.num_tasks, np.float32)
        self._seen = np.zeros(self.num_tasks, bool)
        self._cdf: np.ndarray | None = None  # cached until the next update
        self._progress = np.zeros(self.num_tasks)  # LP per task
        self._sum = 0.0  # running sums of LP and LP^2 over all tasks
        self._sum_of_squares = 0.0
        self._updates_since_exact_sums = 0
        self._spare_uniforms: list[float] = []  # the next doubles of the generator's stream, last one first

    def reweight(self, p: np.ndarray) -> np.ndarray:
        """``f(p) = (1 - theta) p / (p + theta (1 - 2 p))``."""
        theta = self.reweight_threshold
        return (1.0 - theta) * p / (p + theta * (1.0 - 2.0 * p))

    def learning_progress(self) -> np.ndarray:
        """``|f(p_fast) - f(p_slow)|`` per task (0 for tasks never reported)."""
        return self._learning_progress(self._fast, self._slow, self._seen)

    def _learning_progress(self, fast: np.ndarray, slow: np.ndarray, seen: np.ndarray) -> np.ndarray:
        fast64, slow64 = fast.astype(np.float64), slow.astype(np.float64)
        return np.where(seen, np.abs(self.reweight(fast64) - self.reweight(slow64)), 0.0)

    def probabilities(self) -> npt.NDArray[np.float64]:
        progress = self.learning_progress()
        spread = progress.std()
        z = (progress - progress.mean()) / (spread if spread > 0 else 1.0)
        weights = 1.0 / (1.0 + np.exp(-z / self.temperature))
        return cast(npt.NDArray[np.float64], weights / weights.sum())

    def _uniform(self) -> float:
        if not self._spare_uniforms:
            self._spare_uniforms = self._rng.random(_UNIFORM_BLOCK).tolist()[::-1]
        return self._spare_uniforms.pop()

    def _sample(self, k: int) -> list[int]:
        num_tasks = self.num_tasks
        mean = self._sum / num_tasks
        variance = self._sum_of_squares / num_tasks - mean * mean
        # Rounding leaves a tiny variance where every LP is equal: the distribution is then uniform.
        spread_out = variance > 1e-12 * mean * mean + 1e-300
        scale = 1.0 / (math.sqrt(variance) * self.temperature) if spread_out else 0.0
        progress = self._progress
        tasks = []
        for _ in range(k):
            for _ in range(_MAX_REJECTIONS):
                task = min(int(self._uniform() * num_tasks), num_tasks - 1)
                z = (progress[task] - mean) * scale
                if self._uniform() * (1.0 + math.exp(-z)) < 1.0:  # accept with chance sigmoid(z)
                    tasks.append(task)
                    break
            else:
                tasks.append(self._draw_from_table())
        return tasks

    def _draw_from_table(self) -> int:
        if self._cdf is None:
            self._cdf = np.cumsum(self.probabilities())
        cdf = self._cdf
        return min(int(np.searchsorted(cdf, self._uniform() * cdf[-1], side="right")), self.num_tasks - 1)

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
        """Move ``task``'s fast and slow success estimates towards the episode's success (``progress``).

        ``metrics`` is accepted for the base class's contract and ignored.
        """
        encoded, success = episode_success(self.task_space, task, progress, "LearningProgress")
        if not self._seen[encoded]:
            self._fast[encoded] = self._slow[encoded] = success
            self._seen[encoded] = True
        else:
            fast = self._fast[encoded] + np.float32(self.fast_rate) * (success - self._fast[encoded])
            self._slow[encoded] = self._slow[encoded] + np.float32(self.slow_rate) * (fast - self._slow[encoded])
            self._fast[encoded] = fast
        self._cdf = None
        theta = self.reweight_threshold
        fast, slow = float(self._fast[encoded]), float(self._slow[encoded])
        new = abs(
            (1.0 - theta) * fast / (fast + theta * (1.0 - 2.0 * fast))
            - (1.0 - theta) * slow / (slow + theta * (1.0 - 2.0 * slow))
        )
        old = self._progress[encoded]
        self._progress[encoded] = new
        self._updates_since_exact_sums += 1
        if self._updates_since_exact_sums >= self.num_tasks:
            self._exact_sums()
        else:
            self._sum += new - old
            self._sum_of_squares += new * new - old * old

    def _exact_sums(self) -> None:
        self._sum = float(self._progress.sum())
        self._sum_of_squares = float(np.dot(self._progress, self._progress))
        self._updates_since_exact_sums = 0

    def success_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """The fast and slow success estimates per task (0 for tasks never reported)."""
        return self._fast.astype(np.float64), self._slow.astype(np.float64)

    def metrics(self) -> dict[str, float]:
        progress = self.learning_progress()
        return {
            "mean_learning_progress": float(progress.mean()),
            "max_learning_progress": float(progress.max()),
            "tasks_seen": float(self._seen.sum()),
            "mean_success_rate": float(self._fast[self._seen].mean()) if self._seen.any() else 0.0,
            "entropy": distribution_entropy(self.probabilities()),
        }

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            fast=self._fast.tolist(),
            slow=self._slow.tolist(),
            seen=self._seen.tolist(),
            sums=[self._sum, self._sum_of_squares, self._updates_since_exact_sums],
            spare_uniforms=list(self._spare_uniforms),
        )
        return state

    def _check_state(self, state: Any) -> dict[str, Any]:
        checked = super()._check_state(state)
        what = f"num_tasks={self.num_tasks}"
        for name in ("fast", "slow"):
            checked[name] = checked_floats(
                name, state[name], self.num_tasks, what=what, low=0.0, high=1.0, finite=True, float32=True
            )
        checked["seen"] = checked_bools("seen", state["seen"], self.num_tasks, what=what)
        sums = state["sums"]
        if (
            not isinstance(sums, list)
            or len(sums) != 3
            or not all(isinstance(value, float) and math.isfinite(value) for value in sums[:2])  # NumPy's too
            or not is_int(sums[2])
            or not 0 <= sums[2] < self.num_tasks
        ):
            raise ValueError(
                "state field 'sums' must be [sum of LP, sum of LP^2, updates since they were summed exactly]: "
                f"two finite floats and an int in [0, {self.num_tasks}), got {sums!r:.80}"
            )
        # The running sums drift from the exact ones by rounding only (they are resummed every num_tasks updates).
        progress = self._learning_progress(
            np.array(checked["fast"], np.float32), np.array(checked["slow"], np.float32), np.array(checked["seen"])
        )
        tolerance = 1e-6 * max(1.0, float(self.num_tasks))
        for index, (name, exact) in enumerate(
            [("sum of LP", progress.sum()), ("sum of LP^2", np.dot(progress, progress))]
        ):
            if not abs(sums[index] - exact) <= tolerance:
                raise ValueError(
                    f"state field 'sums': the {name}, {float(sums[index])!r}, does not match 'fast', 'slow' and 'seen' "
                    f"(their {name} is {float(exact)!r})"
                )
        checked["sums"] = [sums[0], sums[1], int(sums[2])]
        checked["spare_uniforms"] = checked_spare_uniforms(state["spare_uniforms"], _UNIFORM_BLOCK)
        return checked

    def _restore_state(self, checked: dict[str, Any]) -> None:
        super()._restore_state(checked)
        self._fast = np.array(checked["fast"], np.float32)
        self._slow = np.array(checked["slow"], np.float32)
        self._seen = np.array(checked["seen"], bool)
        self._cdf = None
        self._progress = self.learning_progress()
        self._sum, self._sum_of_squares, self._updates_since_exact_sums = checked["sums"]
        self._spare_uniforms = checked["spare_uniforms"]
