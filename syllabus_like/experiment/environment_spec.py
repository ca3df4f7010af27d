"""How a learning task builds its env from ``env_type`` and ``env_args``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

from syllabus_like.experiment.references import reference_of, resolve_reference

__all__ = ["EnvironmentSpec"]


def _is_registered(env_id: str) -> bool:
    if env_id in gym.registry:
        return True
    if env_id.startswith("syllabus_like/"):
        import syllabus_like.envs  # noqa: F401  (registers the library's own ids)

        return env_id in gym.registry
    return False


class EnvironmentSpec:
    """``env_type`` and ``env_args`` checked now; :meth:`make` builds a fresh env each call.

    ``env_type`` is a Gymnasium env class, any callable returning an env, a
    registered Gymnasium id (``"CartPole-v1"``, built with ``gym.make``), or a
    ``"package.module:Name"`` / ``"package.module.Name"`` string. A string
    that is neither a registered id nor importable is a ValueError naming what
    was tried.
    """

    def __init__(self, env_type: Any, env_args: Mapping[str, Any] | None = None) -> None:
        if env_args is None:
            env_args = {}
        if not isinstance(env_args, Mapping):
            raise ValueError(f"env_args must be a mapping of keyword arguments, got {env_args!r}")
        self.env_args = dict(env_args)
        self.env_type = env_type
        self._gym_id: str | None = None
        if isinstance(env_type, str):
            if _is_registered(env_type):
                self._gym_id = env_type
                self._factory: Callable[..., Any] = lambda **kwargs: gym.make(env_type, **kwargs)
            else:
                try:
                    self._factory = resolve_reference(env_type, "env_type")
                except ValueError as error:
                    raise ValueError(f"{error}; it is not a registered Gymnasium id either") from None
                if not callable(self._factory):
                    raise ValueError(f"env_type {env_type!r} resolves to {self._factory!r}, which is not callable")
        elif callable(env_type):
            self._factory = env_type
        else:
            raise ValueError(
                "env_type must be a Gymnasium env class, a callable returning an env, a registered Gymnasium id "
                f"or a 'package.module:Name' string, got {env_type!r}"
            )

    def make(self) -> gym.Env:
        """A new env built from ``env_type(**env_args)``."""
        env = self._factory(**self.env_args)
        if not (callable(getattr(env, "reset", None)) and callable(getattr(env, "step", None))):
            raise TypeError(f"env_type {self.env_type!r} built {env!r}, which has no reset() and step()")
        return env

    def reference(self) -> str:
        """``env_type`` as YAML holds it: the Gymnasium id, the string given, or ``"module:Name"``."""
        if isinstance(self.env_type, str):
            return self.env_type
        return reference_of(self.env_type, "env_type")
