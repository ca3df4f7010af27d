"""Building an agent from the YAML's ``agent:`` block: ``{"type": "package.module:Name", "args": {...}}``.

A library agent named without the arguments that follow from the env (for
:class:`~syllabus_like.agents.QLearningAgent`, the sizes of its ``Discrete``
spaces) is built with its ``from_spaces(observation_space, action_space,
**args)`` classmethod from the first task's env. A ``seed`` argument, when the
agent (its constructor or its ``from_spaces``) takes one and the block gives
none, is the run's seed.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from syllabus_like.experiment.references import resolve_reference

__all__ = ["AGENT_FIELDS", "build_agent"]

AGENT_FIELDS = ("type", "args")


def _accepts(function: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _binds(function: Any, arguments: Mapping[str, Any]) -> bool:
    try:
        inspect.signature(function).bind(**arguments)
    except TypeError:
        return False
    except ValueError:  # no signature to inspect: just try it
        return True
    return True


def build_agent(config: Mapping[str, Any] | str, env: Any, seed: int | None = None) -> Any:
    """The agent ``config`` names, sized from ``env`` when its arguments leave the sizes out."""
    if isinstance(config, str):
        config = {"type": config}
    if not isinstance(config, Mapping) or "type" not in config:
        raise ValueError(f"an agent is given as {{'type': 'package.module:Name', 'args': {{...}}}}, got {config!r}")
    unknown = [key for key in config if key not in AGENT_FIELDS]
    if unknown:
        raise ValueError(f"unknown agent setting(s) {unknown}; valid ones are: {', '.join(AGENT_FIELDS)}")
    agent_type = resolve_reference(config["type"], "agent type")
    arguments = dict(config.get("args") or {})
    takes_seed = _accepts(agent_type, "seed") or _accepts(getattr(agent_type, "from_spaces", None), "seed")
    if seed is not None and "seed" not in arguments and takes_seed:
        arguments["seed"] = seed
    if not _binds(agent_type, arguments) and callable(getattr(agent_type, "from_spaces", None)):
        return agent_type.from_spaces(env.observation_space, env.action_space, **arguments)
    try:
        return agent_type(**arguments)
    except TypeError as error:
        raise ValueError(f"agent {config['type']!r} rejects the arguments {arguments!r}: {error}") from error
