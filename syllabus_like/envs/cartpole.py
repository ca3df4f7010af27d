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
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from syllabus_like.task_space import BoxTaskSpace, DictTaskSpace, TaskSpace
from syllabus_like.wrappers.task_wrapper import TaskWrapper

__all__ = [
    "CARTPOLE_DEFAULT_TASK",
    "CARTPOLE_IMAGE_SHAPE",
    "CartPoleTaskWrapper",
    "cartpole_task_space",
    "draw_cartpole",
]

#: The parameters of an unmodified CartPole-v1.
CARTPOLE_DEFAULT_TASK: dict[str, float] = {"gravity": 9.8, "length": 0.5}

#: (height, width, channels) of the images ``render_mode="rgb_array"`` returns.
CARTPOLE_IMAGE_SHAPE: tuple[int, int, int] = (200, 300, 3)


def draw_cartpole(cartpole: CartPoleEnv) -> np.ndarray:
    """An image of ``cartpole``'s cart and pole (white background, black cart, brown pole).

    The horizontal scale shows the track from ``-x_threshold`` to
    ``x_threshold``; the pole is drawn ``2 * length`` long on that scale, so a
    longer-pole task shows a longer pole. Before the first reset the cart is
    drawn upright at the centre.
    """
    height, width, _ = CARTPOLE_IMAGE_SHAPE
    image = np.full(CARTPOLE_IMAGE_SHAPE, 255, dtype=np.uint8)
    x, _, theta, _ = (0.0, 0.0, 0.0, 0.0) if cartpole.state is None else (float(v) for v in cartpole.state)
    scale = width / (2.0 * cartpole.x_threshold)
    track_row = int(height * 0.75)
    image[track_row, :] = 0
    cart_col = int(round(width / 2 + x * scale))
    cart_half_width, cart_height = 15, 12
    rows = slice(track_row - cart_height, track_row)
    cols = slice(max(cart_col - cart_half_width, 0), max(min(cart_col + cart_half_width, width), 0))
    image[rows, cols] = 0
    pole_pixels = 2.0 * float(cartpole.length) * scale
    along = np.linspace(0.0, pole_pixels, max(int(pole_pixels), 2))
    pole_rows = np.rint(track_row - cart_height - along * np.cos(theta)).astype(int)
    pole_cols = np.rint(cart_col + along * np.sin(theta)).astype(int)
    for offset in (-2, -1, 0, 1, 2):  # a pole five pixels thick
        shifted = pole_cols + offset
        inside = (pole_rows >= 0) & (pole_rows < height) & (shifted >= 0) & (shifted < width)
        image[pole_rows[inside], shifted[inside]] = (202, 152, 101)
    return image


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
        render_mode: ``None`` (render as ``env`` does) or ``"rgb_array"``: an
            image of the cart and of the pole at its current length, drawn
            with numpy (no pygame needed), :data:`CARTPOLE_IMAGE_SHAPE` pixels.

    Set a task with ``reset(options={"task": {"gravity": 3.7, "length": 1.0}})``
    or through :class:`~syllabus_like.wrappers.CurriculumWrapper`.
    """

    def __init__(
        self, env: gym.Env | None = None, task_space: TaskSpace | None = None, *, render_mode: str | None = None
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"CartPoleTaskWrapper render_mode must be None or 'rgb_array', got {render_mode!r}")
        env = gym.make("CartPole-v1") if env is None else env
        if not isinstance(env.unwrapped, CartPoleEnv):
            raise TypeError(f"CartPoleTaskWrapper needs a CartPole env, got {env.unwrapped!r}")
        super().__init__(env, cartpole_task_space() if task_space is None else task_space)
        self._own_render_mode = render_mode

    @property
    def render_mode(self) -> str | None:  # type: ignore[override]
        return self._own_render_mode if self._own_render_mode is not None else self.env.render_mode

    def render(self) -> Any:
        if self._own_render_mode == "rgb_array":
            return draw_cartpole(self.env.unwrapped)  # type: ignore[arg-type]
        return self.env.render()

    def change_task(self, task: Mapping[str, Any]) -> None:
        """Set gravity and (half) pole length, and the quantities CartPole derives from them."""
        if not isinstance(task, Mapping) or set(task) != set(CARTPOLE_DEFAULT_TASK):
            raise ValueError(f"a CartPole task is a dict with keys 'gravity' and 'length', got {task!r}")
        gravity, length = float(task["gravity"]), float(task["length"])
        if not (gravity > 0.0 and length > 0.0):
            raise ValueError(f"CartPole gravity and length must be positive, got {task!r}")
        cartpole: CartPoleEnv = self.env.unwrapped  # type: ignore[assignment]
        cartpole.gravity = gravity
        cartpole.length = length
        cartpole.total_mass = cartpole.masspole + cartpole.masscart
        cartpole.polemass_length = cartpole.masspole * length
