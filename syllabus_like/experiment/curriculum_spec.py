"""A learning task's curriculum given in YAML: ``{"type": "SequentialCurriculum", ...}``.

``type`` names a curriculum of this library (``SequentialCurriculum``,
``Constant``, ``DomainRandomization``, any name exported by
:mod:`syllabus_like.curricula`) or a ``"package.module:Name"`` class; the
other keys are its keyword arguments. The task space is the env's
``task_space`` (looked up on the env and on ``env.unwrapped``); the seed is
the learning task's unless the dict gives one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syllabus_like import curricula
from syllabus_like.curricula import Curriculum
from syllabus_like.experiment.references import resolve_reference
from syllabus_like.task_space import TaskSpace

__all__ = ["build_curriculum", "env_task_space"]


def env_task_space(env: Any) -> TaskSpace:
    """The env's ``task_space`` (on the env or its unwrapped core); ValueError when it has none."""
    for holder in (env, getattr(env, "unwrapped", None)):
        space = getattr(holder, "task_space", None)
        if isinstance(space, TaskSpace):
            return space
    raise ValueError(
        f"a curriculum needs the env's task space, but {env!r} has no task_space attribute; "
        "give the curriculum as an object built over your task space instead"
    )


def build_curriculum(config: Mapping[str, Any], env: Any, seed: int | None) -> Curriculum:
    """The curriculum ``config`` describes, over ``env``'s task space."""
    settings = dict(config)
    type_name = settings.pop("type", None)
    if not isinstance(type_name, str):
        raise ValueError(
            f"a curriculum given as a dict needs a 'type' (e.g. 'SequentialCurriculum'), got {dict(config)!r}"
        )
    curriculum_type = (
        getattr(curricula, type_name)
        if type_name in curricula.__all__
        else resolve_reference(type_name, "curriculum type")
    )
    if not (isinstance(curriculum_type, type) and issubclass(curriculum_type, Curriculum)):
        raise ValueError(f"curriculum type {type_name!r} is not a Curriculum subclass: {curriculum_type!r}")
    settings.setdefault("seed", seed)
    try:
        return curriculum_type(task_space=env_task_space(env), **settings)
    except TypeError as error:
        raise ValueError(f"curriculum {type_name!r} rejects the settings {settings!r}: {error}") from error
