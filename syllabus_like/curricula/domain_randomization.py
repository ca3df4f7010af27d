"""Uniform sampling over the whole task space."""

from __future__ import annotations

import numpy as np

from syllabus_like.curricula.base import Curriculum

__all__ = ["DomainRandomization"]


#: Largest task count drawn as ``floor(u * n)`` from one uniform double ``u``;
#: each task's probability is then exact to within ``n / 2**53`` (< 1e-6 relative).
_FLOAT_DRAW_LIMIT = 2**32


class DomainRandomization(Curriculum):
    """Samples every task uniformly at random (finite spaces) or uniformly over
    the space's volume (spaces with a continuous member), ignoring feedback."""

    def _sample(self, k: int) -> list:
        num_tasks = self.task_space.num_tasks
        if num_tasks is not None:
            if num_tasks <= _FLOAT_DRAW_LIMIT:
                # One double per task: ~0.4 us for a single draw against ~1.1 us for
                # Generator.integers, and sample(1) k times equals sample(k) once.
                if k == 1:
                    return [int(self._rng.random() * num_tasks)]
                return (self._rng.random(k) * num_tasks).astype(np.int64).tolist()
            return [int(i) for i in self._rng.integers(num_tasks, size=k)]
        return [self.task_space.encode(self.task_space.sample(self._rng)) for _ in range(k)]

    def probabilities(self) -> np.ndarray | None:
        num_tasks = self.task_space.num_tasks
        return None if num_tasks is None else np.full(num_tasks, 1.0 / num_tasks)
