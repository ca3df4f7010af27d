"""What the feedback-driven curricula share: task-space checks, argument checks, entropy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from syllabus_like.task_space import TaskSpace

__all__ = [
    "check_fraction",
    "check_positive_float",
    "distribution_entropy",
    "episode_success",
    "require_finite_task_space",
]


def require_finite_task_space(task_space: TaskSpace, curriculum: str) -> int:
    """The number of tasks of a finite ``task_space``; TypeError/ValueError saying which spaces work otherwise."""
    if not isinstance(task_space, TaskSpace):
        raise TypeError(f"{curriculum} needs a TaskSpace (e.g. DiscreteTaskSpace(5)), got {task_space!r}")
    num_tasks = task_space.num_tasks
    if num_tasks is None:
        raise ValueError(
            f"{curriculum} needs a finite task space (DiscreteTaskSpace, MultiDiscreteTaskSpace, SubsetTaskSpace, "
            f"or a Tuple/Dict of those); got {task_space!r}, which has infinitely many tasks "
            "(for Box task spaces use ALPGMM)"
        )
    return int(num_tasks)


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1], or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def check_positive_float(name: str, value: Any) -> float:
    """``value`` as a float > 0, or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    if not (math.isfinite(float(value)) and float(value) > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def distribution_entropy(probabilities: np.ndarray) -> float:
    """Shannon entropy (nats) of a probability vector; zero entries contribute nothing."""
    positive = probabilities[probabilities > 0]
    return float(-np.sum(positive * np.log(positive)))


def episode_success(task_space: TaskSpace, task: Any, progress: Any, curriculum: str) -> tuple[int, np.float32]:
    """The task's index and the episode's success, ``progress`` clipped to [0, 1] as float32.

    TaskSpaceError for a task outside the space; ValueError for a NaN progress,
    which a success-driven curriculum cannot learn from.
    """
    encoded = int(task_space.encode(task))
    success = float(progress)
    if success != success:
        raise ValueError(f"{curriculum} needs a progress (success) in [0, 1], got NaN for task {task!r}")
    return encoded, np.float32(min(max(success, 0.0), 1.0))
