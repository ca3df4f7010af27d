"""What a sequential curriculum's arguments and metrics are.

Shared by the Python :class:`~syllabus_like.SequentialCurriculum` and the JAX
one (:mod:`syllabus_like.jax.curricula.sequential`) so that both accept exactly the same
arguments and their conditions read exactly the same metric names. Depends
only on :mod:`syllabus_like.validation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from syllabus_like.validation import check_positive_int

__all__ = ["SEQUENTIAL_METRICS", "check_sequential_arguments"]

#: The metric names a sequential curriculum's stopping conditions may read.
#:
#: ``steps``           environment steps of the episodes counted in ``episodes`` (sum of their lengths)
#: ``total_steps``     environment steps of every episode reported since construction
#: ``episodes``        episodes finished in this stage on a task of this stage
#: ``total_episodes``  episodes reported since construction, whatever their task
#: ``tasks``           tasks sampled in this stage (``sample(k)`` adds ``k``)
#: ``total_tasks``     tasks sampled since construction
#: ``episode_return``  mean return of this stage's last ``return_buffer_size`` episodes
#:                     (no value, so every comparison on it is False, until one finishes)
SEQUENTIAL_METRICS: tuple[str, ...] = (
    "steps",
    "total_steps",
    "episodes",
    "total_episodes",
    "tasks",
    "total_tasks",
    "episode_return",
)


def check_sequential_arguments(
    curriculum_list: Any, stopping_conditions: Any, *, loop: bool, return_buffer_size: Any
) -> None:
    """Raise a clear error unless the arguments describe a valid sequence of stages.

    ``N`` stages need ``N - 1`` stopping conditions, or ``N`` with ``loop=True``.
    """
    if isinstance(curriculum_list, (str, bytes)) or not isinstance(curriculum_list, Sequence):
        raise TypeError(f"curriculum_list must be a list of stages, got {curriculum_list!r}")
    if len(curriculum_list) == 0:
        raise ValueError("SequentialCurriculum needs at least one stage, got an empty curriculum_list")
    if isinstance(stopping_conditions, (str, bytes)) or not isinstance(stopping_conditions, Sequence):
        raise TypeError(f"stopping_conditions must be a list, got {stopping_conditions!r}")
    expected = len(curriculum_list) if loop else len(curriculum_list) - 1
    if len(stopping_conditions) != expected:
        raise ValueError(
            f"{len(curriculum_list)} stages need {expected} stopping conditions"
            f"{' (loop=True: one per stage)' if loop else ''}, got {len(stopping_conditions)}"
        )
    check_positive_int("return_buffer_size", return_buffer_size)
