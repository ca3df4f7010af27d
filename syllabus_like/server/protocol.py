"""What clients and the task server say to each other.

Every backend speaks the same small protocol; only the transport differs
(direct calls, a socket, Ray actor calls).

A client sends **requests** ``(reports, num_tasks, wants_reply)``:

* ``reports`` is a list of report records, applied to the curriculum in order:

  - ``(EPISODE, episode_return, length, task, progress, env_id, extras)``: ``extras`` is None or
    the keywords given with the episode (``score``: a per-episode learning-potential score;
    ``metrics``: the user's named values, see :func:`episode_extras`); they are passed on only
    when given, so curricula written before those keywords existed keep working (a record of
    six fields is one without extras)
  - ``(STEPS, env_id, tasks, observations, rewards, terminated, truncated, infos, progresses)``:
    consecutive step updates of one env, in columns (see :func:`pack_steps`),
    applied with one ``update_on_step_batch``
  - ``(PROGRESS, task, progress, env_id)``

* ``num_tasks`` tasks are sampled *after* the reports are applied;
* a request with ``num_tasks > 0`` or ``wants_reply`` gets exactly one
  **reply** ``(ok, payload, requires_step_updates)``: when ``ok`` the payload
  is the list of tasks, otherwise it is the error message for the client.
  Every reply carries the curriculum's current ``requires_step_updates`` so
  clients follow it (e.g. across the stages of a SequentialCurriculum).

Requests that need no reply are fire-and-forget. Replies come back in the
order of the requests that asked for them.

**Bad input is refused, not fatal.** Before a request touches the curriculum
the server checks it (:func:`check_request`): well-formed records, tasks of
the served task space (stored in their canonical form, so ``2.0`` or ``True``
arrive as the space's ``2`` or ``1``), episode lengths that are non-negative
ints, returns that are real numbers (NaN and +-inf are data: see
:class:`~syllabus_like.SequentialCurriculum`), progress in [0, 1], and at most
:data:`MAX_TASKS_PER_REQUEST` tasks. A request that fails a check raises
:class:`BadRequest`: nothing of it is applied and only its sender is told,
while the server keeps serving everyone. A refused request that asked for
no reply is told with the sender's next request that asks for one, which is
refused (not applied) in turn, so that the client learns of the first (the
``"process"`` backend; with Ray, whose fire-and-forget calls have no reply,
such a refusal is only logged, in the actor). An exception from the curriculum itself on a checked request still
stops the server (fail-stop), since the curriculum's state may be
half-updated. Clients check each report's numbers as it is made, so a
well-behaved worker learns of such a mistake at the call that made it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from syllabus_like.task_space import TaskSpace, TaskSpaceError
from syllabus_like.validation import check_progress

__all__ = [
    "EPISODE",
    "MAX_CLIENT_TASKS",
    "MAX_TASKS_PER_REQUEST",
    "BadRequest",
    "check_episode_fields",
    "check_num_tasks",
    "check_progress",
    "check_request",
    "PROGRESS",
    "STEPS",
    "TaskServerError",
    "apply_reports",
    "episode_extras",
    "pack_steps",
    "unpack_steps",
]

EPISODE = 0
STEPS = 1
PROGRESS = 2


#: The most tasks one request may ask for; the server refuses more.
MAX_TASKS_PER_REQUEST = 1 << 20
#: The largest ``k`` of a client's ``sample(k)`` and the largest ``prefetch``: the request
#: ``sample`` sends asks for at most both together, which stays within MAX_TASKS_PER_REQUEST.
MAX_CLIENT_TASKS = MAX_TASKS_PER_REQUEST // 2


class TaskServerError(RuntimeError):
    """The task server cannot serve a request: it failed, it was closed, or it is unreachable."""


def episode_extras(score: Any = None, metrics: Any = None) -> dict[str, Any] | None:
    """The keywords an episode report carries beyond the six fields, checked where it is reported.

    ``score`` becomes a float; ``metrics`` a plain ``{name: float}`` dict. A
    TypeError for anything else, so a bad report fails in the worker that
    made it, not in the server. None when there is nothing to carry.
    """
    extras: dict[str, Any] = {}
    if score is not None:
        if isinstance(score, (bool, np.bool_)) or not isinstance(score, (int, float, np.integer, np.floating)):
            raise TypeError(f"an episode's score must be a real number or None, got {score!r}")
        extras["score"] = float(score)
    if metrics is not None:
        if not isinstance(metrics, Mapping):
            raise TypeError(f"episode metrics must be a mapping of metric names to numbers, got {metrics!r}")
        checked = {}
        for name, value in metrics.items():
            if not isinstance(name, str):
                raise TypeError(f"episode metric names must be strings, got {name!r}")
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"episode metric {name!r} must be a real number, got {value!r}")
            checked[name] = float(value)
        extras["metrics"] = checked
    return extras or None


class BadRequest(ValueError):
    """A request refused because of what it holds; only its sender is told (see the module docstring)."""


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_episode_fields(episode_return: Any, length: Any) -> tuple[float, int]:
    """An episode's return as a float (NaN and +-inf are allowed) and its length as a non-negative int."""
    if type(episode_return) is float and type(length) is int and length >= 0:  # the usual case, first
        return episode_return, length
    if isinstance(episode_return, (bool, np.bool_)) or not isinstance(episode_return, numbers.Real):
        raise ValueError(f"episode_return must be a real number, got {_short(episode_return)}")
    if isinstance(length, (bool, np.bool_)) or not isinstance(length, numbers.Integral) or length < 0:
        raise ValueError(f"an episode's length must be a non-negative int, got {_short(length)}")
    return float(episode_return), int(length)


def check_num_tasks(num_tasks: Any) -> int:
    """The tasks one request asks for: an int in [0, MAX_TASKS_PER_REQUEST]."""
    if (
        isinstance(num_tasks, (bool, np.bool_))
        or not isinstance(num_tasks, (int, np.integer))
        or not 0 <= num_tasks <= MAX_TASKS_PER_REQUEST
    ):
        raise ValueError(
            f"a request may ask for 0 to {MAX_TASKS_PER_REQUEST} tasks (MAX_TASKS_PER_REQUEST), got {_short(num_tasks)}"
        )
    return int(num_tasks)


def _check_env_id(env_id: Any) -> Any:
    if env_id is not None and (isinstance(env_id, bool) or not isinstance(env_id, (int, np.integer))):
        raise ValueError(f"env_id must be an int or None, got {_short(env_id)}")
    return env_id


def _canonical(task_space: TaskSpace, task: Any) -> Any:
    """``task`` as the space's own object (``2.0`` -> ``2``); TaskSpaceError if it is not in the space."""
    return task_space.decode(task_space.encode(task))


def _check_extras(extras: Any) -> dict[str, Any] | None:
    """An EPISODE record's extras, checked again by the server (a client may not be ours)."""
    if extras is None:
        return None
    if not isinstance(extras, dict) or not set(extras) <= {"score", "metrics"}:
        raise ValueError(f"an episode's extras must be None or a dict of 'score' and 'metrics', got {_short(extras)}")
    try:
        return episode_extras(**extras)
    except TypeError as error:
        raise ValueError(str(error)) from error


def _check_report(report: Any, task_space: TaskSpace) -> tuple:
    if not isinstance(report, tuple) or not report:
        raise ValueError(f"a report must be a non-empty tuple, got {_short(report)}")
    kind = report[0]
    if kind == EPISODE and type(kind) is int and len(report) in (6, 7):
        _, episode_return, length, task, progress, env_id = report[:6]
        episode_return, length = check_episode_fields(episode_return, length)
        task = _canonical(task_space, task)
        extras = _check_extras(report[6] if len(report) == 7 else None)
        return (EPISODE, episode_return, length, task, check_progress(progress), _check_env_id(env_id), extras)
    if kind == STEPS and type(kind) is int and len(report) == 9:
        _, env_id, tasks, observations, rewards, terminated, truncated, infos, progresses = report
        columns = (tasks, observations, rewards, terminated, truncated, infos, progresses)
        if not all(isinstance(column, (tuple, list, np.ndarray)) for column in columns):
            raise ValueError("a STEPS report's columns must be sequences")
        if len({len(column) for column in columns}) != 1:
            raise ValueError(f"a STEPS report's columns differ in length: {[len(column) for column in columns]}")
        for reward in rewards:
            check_episode_fields(reward, 0)
        return (
            STEPS,
            _check_env_id(env_id),
            tuple(_canonical(task_space, task) for task in tasks),
            observations,
            rewards,
            terminated,
            truncated,
            infos,
            tuple(check_progress(progress) for progress in progresses),
        )
    if kind == PROGRESS and type(kind) is int and len(report) == 4:
        _, task, progress, env_id = report
        return (PROGRESS, _canonical(task_space, task), check_progress(progress), _check_env_id(env_id))
    raise ValueError(f"unknown or malformed report {_short(report)}; expected an EPISODE, STEPS or PROGRESS record")


def check_request(reports: Any, num_tasks: Any, task_space: TaskSpace) -> tuple[list[tuple], int]:
    """The request's reports with canonical tasks, and its task count; :class:`BadRequest` if anything is wrong.

    Runs before anything is applied, so a refused request changes nothing.
    """
    try:
        if not isinstance(reports, list):
            raise ValueError(f"reports must be a list, got {_short(reports)}")
        checked = [_check_report(report, task_space) for report in reports]
        return checked, check_num_tasks(num_tasks)
    except (TaskSpaceError, ValueError, TypeError) as error:
        raise BadRequest(str(error)) from error


def pack_steps(env_id: int | None, steps: Sequence[tuple]) -> tuple:
    """The STEPS record of ``steps``, each ``(task, obs, reward, terminated, truncated, info, progress)``.

    Columns pickle several times faster than a list of tuples, mostly because
    observations that are numpy arrays of one dtype and shape travel as one
    stacked array instead of one array each.
    """
    tasks, observations, rewards, terminated, truncated, infos, progresses = zip(*steps, strict=False)
    return (STEPS, env_id, tasks, _stack(observations), rewards, terminated, truncated, infos, progresses)


def unpack_steps(record: tuple) -> list[tuple]:
    """The step tuples packed by :func:`pack_steps` (stacked observations come back as rows)."""
    _, _, tasks, observations, rewards, terminated, truncated, infos, progresses = record
    return list(zip(tasks, observations, rewards, terminated, truncated, infos, progresses, strict=False))


def _stack(observations: tuple) -> Any:
    first = observations[0]
    if type(first) is not np.ndarray or first.dtype == object:
        return observations
    dtype, shape = first.dtype, first.shape
    for observation in observations:
        if type(observation) is not np.ndarray or observation.dtype != dtype or observation.shape != shape:
            return observations
    return np.array(observations)


def apply_reports(curriculum: Any, reports: Sequence[tuple]) -> None:
    """Apply report records (see the module docstring) to ``curriculum``, in order."""
    for report in reports:
        kind = report[0]
        if kind == EPISODE:
            _, episode_return, length, task, progress, env_id, *rest = report
            extras = rest[0] if rest else None
            if extras:
                curriculum.update_on_episode(episode_return, length, task, progress, env_id=env_id, **extras)
            else:
                curriculum.update_on_episode(episode_return, length, task, progress, env_id=env_id)
        elif kind == STEPS:
            curriculum.update_on_step_batch(unpack_steps(report), env_id=report[1])
        elif kind == PROGRESS:
            _, task, progress, env_id = report
            curriculum.update_task_progress(task, progress, env_id=env_id)
        else:
            raise ValueError(f"unknown report kind {kind!r}; expected EPISODE, STEPS or PROGRESS")
