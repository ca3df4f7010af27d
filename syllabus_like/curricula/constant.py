"""A curriculum that always serves the same task."""

from __future__ import annotations

from typing import Any

import numpy as np

from syllabus_like.curricula.base import Curriculum
from syllabus_like.task_space import TaskSpace

__all__ = ["Constant"]


class Constant(Curriculum):
    """Always samples ``task``, which must belong to ``task_space``."""

    def __init__(self, task_space: TaskSpace, task: Any, *, seed: int | None = None) -> None:
        super().__init__(task_space, seed=seed)
        self._encoded = task_space.encode(task)  # TaskSpaceError if task is not in the space
        self.task = task_space.decode(self._encoded)

    def _sample(self, k: int) -> list[Any]:
        return [self._encoded] * k

    def probabilities(self) -> np.ndarray | None:
        if self.task_space.num_tasks is None:
            return None
        one_hot = np.zeros(self.task_space.num_tasks)
        one_hot[self._encoded] = 1.0
        return one_hot

    def __repr__(self) -> str:
        return f"Constant({self.task_space!r}, {self.task!r})"
