"""Gymnasium's CartPole with the pole length and gravity as tasks.

CartPole keeps two quantities derived from its parameters,
``total_mass = masscart + masspole`` and ``polemass_length = masspole * length``,
and its equations of motion (Barto, Sutton & Anderson, 1983; Florian, 2007)
read both. Setting ``length`` or ``gravity`` alone would leave them stale, so
:class:`CartPoleTaskWrapper` recomputes them whenever it applies a task.

A task is a dict ``{"gravity": g, "length": l}`` of floats. ``length`` has the
meaning CartPole (and gymnax) give it: *half* the pole's length, in metres
(default 0.5, a 1 m pole); ``gravity`` is in m/s^2 (default 9.8).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from syllabus_like.task_space import BoxTaskSpace, DictTaskSpace, TaskSpace
from syllabus_like.wrappers.task_wrapper import TaskWrapper

__all__ = ["CARTPOLE_DEFAULT_TASK", "CartPoleTaskWrapper", "cartpole_task_space"]

#: The parameters of an unmodified CartPole-v1.
CARTPOLE_DEFAULT_TASK: dict[str, float] = {"gravity": 9.8, "length": 0.5}


def cartpole_task_space(
    gravity: tuple[float, float] = (1.0, 25.0), length: tuple[float, float] = (0.1, 2.0)
) -> DictTaskSpace:
    """The task space ``{"gravity": [low, high], "length": [low, high]}`` (scalar boxes)."""
    return DictTaskSpace(
        {
            "gravity": BoxTaskSpace(gravity[0], gravity[1], shape=()),
            "length": BoxTaskSpace(length[0], length[1], shape=()),
        }
    )


class CartPoleTaskWrapper(TaskWrapper):
    """Applies ``{"gravity": g, "length": l}`` tasks to a CartPole env.

    Args:
        env: a CartPole env (``gym.make("CartPole-v1")`` or a ``CartPoleEnv``);
            defaults to ``gym.make("CartPole-v1")``.
        task_space: the tasks allowed; defaults to :func:`cartpole_task_space`.
            It must produce dicts with the keys ``"gravity"`` and ``"length"``.

    Set a task with ``reset(options={"task": {"gravity": 3.7, "length": 1.0}})``
    or through :class:`~syllabus_like.wrappers.CurriculumWrapper`.
    """

    def __init__(self, env: gym.Env | None = None, task_space: TaskSpace | None = None) -> None:
        env = gym.make("CartPole-v1") if env is None else env
        if not isinstance(env.unwrapped, CartPoleEnv):
            raise TypeError(f"CartPoleTaskWrapper needs a CartPole env, got {env.unwrapped!r}")
        super().__init__(env, cartpole_task_space() if task_space is None else task_space)

    def change_task(self, task: Mapping[str, Any]) -> None:
        """Set gravity and (half) pole length, and the quantities CartPole derives from them."""
        if not isinstance(task, Mapping) or set(task) != set(CARTPOLE_DEFAULT_TASK):
            raise ValueError(
                f"a CartPole task is a dict with keys 'gravity' and 'length', got {task!r}"
            )
        gravity, length = float(task["gravity"]), float(task["length"])
        if not (gravity > 0.0 and length > 0.0):
            raise ValueError(f"CartPole gravity and length must be positive, got {task!r}")
        cartpole: CartPoleEnv = self.env.unwrapped  # type: ignore[assignment]
        cartpole.gravity = gravity
        cartpole.length = length
        cartpole.total_mass = cartpole.masspole + cartpole.masscart
        cartpole.polemass_length = cartpole.masspole * length
