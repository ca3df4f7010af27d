"""Uniform sampling over the whole task space."""

from __future__ import annotations

import numpy as np

from syllabus_like.curricula.base import Curriculum

__all__ = ["DomainRandomization"]


class DomainRandomization(Curriculum):
    """Samples every task uniformly at random (finite spaces) or uniformly over
    the space's volume (spaces with a continuous member), ignoring feedback."""

    def _sample(self, k: int) -> list:
        num_tasks = self.task_space.num_tasks
        if num_tasks is not None:
            if k == 1:  # the scalar draw is 3x cheaper and yields the same stream
                return [int(self._rng.integers(num_tasks))]
            return [int(i) for i in self._rng.integers(num_tasks, size=k)]
        return [self.task_space.encode(self.task_space.sample(self._rng)) for _ in range(k)]

    def probabilities(self) -> np.ndarray | None:
        num_tasks = self.task_space.num_tasks
        return None if num_tasks is None else np.full(num_tasks, 1.0 / num_tasks)
