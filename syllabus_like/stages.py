"""What a sequential curriculum's arguments and metrics are.

Shared by the Python :class:`~syllabus_like.SequentialCurriculum` and the JAX
one (:mod:`syllabus_like.jax.curricula.sequential`) so that both accept exactly the same
arguments, normalise stages (:func:`normalize_stage`) and stopping conditions
(:func:`normalize_condition`) the same way with the same messages, and their
conditions read exactly the same metric names. Depends only on
:mod:`syllabus_like.conditions`, :mod:`syllabus_like.task_space` and
:mod:`syllabus_like.validation`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from syllabus_like.conditions import Condition, parse_condition
from syllabus_like.task_space import BoxTaskSpace, SubsetTaskSpace, TaskSpace, TaskSpaceError, encoding_key
from syllabus_like.validation import check_positive_int

__all__ = [
    "SEQUENTIAL_METRICS",
    "Stage",
    "check_sequential_arguments",
    "is_subspace",
    "normalize_condition",
    "normalize_stage",
    "stage_error",
]

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


@dataclasses.dataclass(frozen=True)
class Stage:
    """One normalised item of ``curriculum_list``.

    Attributes:
        kind: ``"curriculum"`` (a curriculum of the caller's kind, run as the
            stage), ``"space"`` (a task space inside the curriculum's: uniform
            over it), ``"tasks"`` (a list of tasks: uniform over them) or
            ``"task"`` (always that task).
        value: the curriculum, the task space, a :class:`SubsetTaskSpace` of
            the listed tasks (in the given order), or the task.
    """

    kind: Literal["curriculum", "space", "tasks", "task"]
    value: Any


def stage_error(index: int, error: Exception | str) -> ValueError:
    """The error for an invalid stage ``index``, naming the stage and the reason."""
    return ValueError(f"stage {index} of SequentialCurriculum is invalid: {error}")


def is_subspace(child: TaskSpace, parent: TaskSpace) -> bool:
    """Whether every task of ``child`` is a task of ``parent`` (exact for finite and Box spaces)."""
    if child == parent:
        return True
    if child.tasks is not None:
        return all(parent.contains(task) for task in child.tasks)
    if isinstance(child, BoxTaskSpace) and isinstance(parent, BoxTaskSpace):
        return parent.contains(child.low) and parent.contains(child.high)
    probe = np.random.default_rng(0)
    return all(parent.contains(child.sample(probe)) for _ in range(64))


def normalize_stage(
    item: Any,
    index: int,
    task_space: TaskSpace,
    *,
    curriculum_type: type | tuple[type, ...],
    check_curriculum: Callable[[Any], None] | None = None,
) -> Stage:
    """Classify and check stage ``index`` of ``curriculum_list`` against the curriculum's ``task_space``.

    ``curriculum_type`` is what runs as a stage on this side (Python:
    ``Curriculum``; JAX: the functional ``AbstractCurriculum``), and
    ``check_curriculum`` raises if such a curriculum does not fit the task
    space. Every failure is a ValueError naming the stage.
    """
    try:
        if isinstance(item, curriculum_type):
            if check_curriculum is not None:
                check_curriculum(item)
            return Stage("curriculum", item)
        if isinstance(item, TaskSpace):
            if not is_subspace(item, task_space):
                raise ValueError(f"task space {item!r} is not inside {task_space!r}")
            return Stage("space", item)
        if isinstance(item, list):
            if not item:
                raise ValueError("an empty list of tasks")
            keys = [encoding_key(task_space.encode(task)) for task in item]
            if len(set(keys)) != len(keys):
                raise ValueError(f"duplicate tasks in {item!r}")
            return Stage("tasks", SubsetTaskSpace(task_space, item))
        task_space.encode(item)
        return Stage("task", item)
    except (TaskSpaceError, ValueError, TypeError) as error:
        raise stage_error(index, error) from error


def normalize_condition(
    condition: Any, index: int, *, accepted: str = "a condition string, a Condition or a callable"
) -> Condition | Callable[..., Any]:
    """Stopping condition ``index`` as a parsed :class:`Condition` over :data:`SEQUENTIAL_METRICS`, or a callable.

    Strings are parsed (syntax errors and unknown metrics are ValueErrors
    naming the condition's index); a :class:`Condition` must read only
    sequential metrics; any other callable is returned as it is. ``accepted``
    names what the caller accepts, for the TypeError on anything else.
    """
    if isinstance(condition, str):
        try:
            return parse_condition(condition, metrics=SEQUENTIAL_METRICS)
        except ValueError as error:
            raise ValueError(f"stopping condition {index} is invalid: {error}") from error
    if isinstance(condition, Condition):
        unknown = condition.metrics - set(SEQUENTIAL_METRICS)
        if unknown:
            raise ValueError(
                f"stopping condition {index} ({condition}) reads unknown metrics {sorted(unknown)}; "
                f"valid metrics are: {', '.join(SEQUENTIAL_METRICS)}"
            )
        return condition
    if callable(condition):
        return condition
    raise TypeError(f"stopping condition {index} must be {accepted}, got {condition!r}")
