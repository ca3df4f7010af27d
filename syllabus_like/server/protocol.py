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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "EPISODE",
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


def pack_steps(env_id: int | None, steps: Sequence[tuple]) -> tuple:
    """The STEPS record of ``steps``, each ``(task, obs, reward, terminated, truncated, info, progress)``.

    Columns pickle several times faster than a list of tuples, mostly because
    observations that are numpy arrays of one dtype and shape travel as one
    stacked array instead of one array each.
    """
    tasks, observations, rewards, terminated, truncated, infos, progresses = zip(*steps)
    return (STEPS, env_id, tasks, _stack(observations), rewards, terminated, truncated, infos, progresses)


def unpack_steps(record: tuple) -> list[tuple]:
    """The step tuples packed by :func:`pack_steps` (stacked observations come back as rows)."""
    _, _, tasks, observations, rewards, terminated, truncated, infos, progresses = record
    return list(zip(tasks, observations, rewards, terminated, truncated, infos, progresses))


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
