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
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

import numpy as np

from syllabus_like.conditions import Condition, parse_condition
from syllabus_like.task_space import BoxTaskSpace, SubsetTaskSpace, TaskSpace, TaskSpaceError, encoding_key
from syllabus_like.validation import check_positive_int

__all__ = [
    "DEFAULT_SMOOTHING",
    "SEQUENTIAL_METRICS",
    "SEQUENTIAL_PROGRESS_METRICS",
    "Stage",
    "check_custom_metrics",
    "check_sequential_arguments",
    "check_smoothing",
    "is_subspace",
    "normalize_condition",
    "normalize_stage",
    "sequential_metric_names",
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

#: The progress and smoothed metrics both SequentialCurricula (Python and JAX) read besides
#: :data:`SEQUENTIAL_METRICS`; :func:`sequential_metric_names` lists the full set either accepts.
#:
#: ``success_rate``        mean reported progress (``info["task_completion"]``, 0..1) of this
#:                         stage's last ``return_buffer_size`` episodes (no value before the first)
#: ``episode_return_ema``  exponential moving average of this stage's episode returns
#: ``success_rate_ema``    exponential moving average of this stage's episode progress
#:
#: Every user metric ``name`` declared with ``custom_metrics`` adds ``name`` (the mean of its last
#: ``return_buffer_size`` values reported in this stage) and ``name_ema``.
SEQUENTIAL_PROGRESS_METRICS: tuple[str, ...] = ("success_rate", "episode_return_ema", "success_rate_ema")

#: Weight of the newest value in the ``*_ema`` metrics: ``ema = (1 - s) * ema + s * value``,
#: starting from the stage's first value (lerax's adaptive curricula smooth the same way).
DEFAULT_SMOOTHING = 0.05

_METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_./]*\Z")


def check_custom_metrics(custom_metrics: Any) -> tuple[str, ...]:
    """The user metric names as a tuple; ValueError for a name the condition language cannot read or a clash."""
    if isinstance(custom_metrics, (str, bytes)) or not isinstance(custom_metrics, Sequence):
        raise TypeError(f"custom_metrics must be a list of metric names, got {custom_metrics!r}")
    names = tuple(custom_metrics)
    reserved = set(SEQUENTIAL_METRICS) | set(SEQUENTIAL_PROGRESS_METRICS) | {"stage", "done"}
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not _METRIC_NAME.match(name):
            raise ValueError(
                f"custom metric name {name!r} is not a name conditions can read "
                "(a letter or '_', then letters, digits, '_', '.', '/')"
            )
        if name in reserved or name.endswith("_ema") or name in seen:
            raise ValueError(
                f"custom metric name {name!r} clashes with a built-in metric, an '_ema' variant or another "
                f"custom metric; built-in names are: {', '.join(sorted(reserved))}"
            )
        seen.add(name)
    return names


def check_smoothing(smoothing: Any) -> float:
    """``smoothing`` as a float in (0, 1]; ValueError otherwise."""
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0.0 < smoothing <= 1.0:
        raise ValueError(f"smoothing must be a number in (0, 1], got {smoothing!r}")
    return float(smoothing)


def sequential_metric_names(custom_metrics: Sequence[str] = ()) -> tuple[str, ...]:
    """Every name a SequentialCurriculum's conditions may read (Python and JAX alike), given its user metrics."""
    custom = tuple(name for metric in custom_metrics for name in (metric, f"{metric}_ema"))
    return (*SEQUENTIAL_METRICS, *SEQUENTIAL_PROGRESS_METRICS, *custom)


def check_sequential_arguments(
    curriculum_list: Any,
    stopping_conditions: Any,
    *,
    loop: bool,
    return_buffer_size: Any,
    final_condition_allowed: bool = False,
) -> None:
    """Raise a clear error unless the arguments describe a valid sequence of stages.

    ``N`` stages need ``N - 1`` stopping conditions, or ``N`` with ``loop=True``.
    With ``final_condition_allowed``, ``N`` conditions without ``loop`` are valid
    too: the last one marks the curriculum done.
    """
    if isinstance(curriculum_list, (str, bytes)) or not isinstance(curriculum_list, Sequence):
        raise TypeError(f"curriculum_list must be a list of stages, got {curriculum_list!r}")
    if len(curriculum_list) == 0:
        raise ValueError("SequentialCurriculum needs at least one stage, got an empty curriculum_list")
    if isinstance(stopping_conditions, (str, bytes)) or not isinstance(stopping_conditions, Sequence):
        raise TypeError(f"stopping_conditions must be a list, got {stopping_conditions!r}")
    stages, given = len(curriculum_list), len(stopping_conditions)
    if loop:
        valid, wanted, hint = given == stages, f"{stages} stopping conditions (loop=True: one per stage)", ""
    else:
        valid, wanted, hint = given == stages - 1, f"{stages - 1} stopping conditions", ""
        if final_condition_allowed:
            valid = valid or given == stages
            hint = f" ({stages} would mark the curriculum done after its last stage)"
    if not valid:
        raise ValueError(f"{stages} stages need {wanted}, got {given}{hint}")
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
    condition: Any,
    index: int,
    *,
    accepted: str = "a condition string, a Condition or a callable",
    metrics: Sequence[str] = SEQUENTIAL_METRICS,
) -> Condition | Callable[..., Any]:
    """Stopping condition ``index`` as a parsed :class:`Condition` over ``metrics``, or a callable.

    Strings are parsed (syntax errors and unknown metrics are ValueErrors
    naming the condition's index); a :class:`Condition` must read only
    ``metrics`` (default: :data:`SEQUENTIAL_METRICS`, what both runtimes
    compute); any other callable is returned as it is. ``accepted`` names what
    the caller accepts, for the TypeError on anything else.
    """
    if isinstance(condition, str):
        try:
            return parse_condition(condition, metrics=metrics)
        except ValueError as error:
            raise ValueError(f"stopping condition {index} is invalid: {error}") from error
    if isinstance(condition, Condition):
        unknown = condition.metrics - set(metrics)
        if unknown:
            raise ValueError(
                f"stopping condition {index} ({condition}) reads unknown metrics {sorted(unknown)}; "
                f"valid metrics are: {', '.join(metrics)}"
            )
        return condition
    if callable(condition):
        return cast(Callable[..., Any], condition)
    raise TypeError(f"stopping condition {index} must be {accepted}, got {condition!r}")
