"""The library's envs render ``rgb_array`` images (what SB3's make_vec_env and RecordVideo ask for)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from syllabus_like.envs import CARTPOLE_IMAGE_SHAPE, GRID_CROSSING_ID, CartPoleTaskWrapper, GridCrossingEnv
from syllabus_like.envs.gridworld import CELL_PIXELS


def test_grid_rgb_array_shows_walls_goal_and_agent() -> None:
    env = gym.make(GRID_CROSSING_ID, render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    grid: GridCrossingEnv = env.unwrapped  # type: ignore[assignment]
    assert image.shape == (grid.height * CELL_PIXELS, grid.width * CELL_PIXELS, 3) and image.dtype == np.uint8

    def colour(cell: int) -> tuple:
        row, col = divmod(cell, grid.width)
        return tuple(image[row * CELL_PIXELS + CELL_PIXELS // 2, col * CELL_PIXELS + CELL_PIXELS // 2])

    agent_cell = grid._cell
    assert colour(0) == (40, 40, 40)  # the corner is a wall
    assert colour(grid.goal_cell) == (40, 170, 60)
    assert colour(agent_cell) == (210, 40, 40)
    env.step(0 if colour(agent_cell - grid.width) != (40, 40, 40) else 2)
    moved = env.render()
    assert not np.array_equal(moved, image)  # the picture follows the agent


def test_grid_rejects_unknown_render_modes() -> None:
    with pytest.raises(ValueError, match="render_mode must be None, 'ansi' or 'rgb_array', got 'human'"):
        GridCrossingEnv(render_mode="human")


def test_grid_passes_the_env_checker_with_rgb_array() -> None:
    from gymnasium.utils.env_checker import check_env

    check_env(GridCrossingEnv(render_mode="rgb_array"), skip_render_check=False)


def test_cartpole_rgb_array_draws_a_longer_pole_for_a_longer_task() -> None:
    env = CartPoleTaskWrapper(render_mode="rgb_array")
    assert env.render_mode == "rgb_array"
    pole_pixels = []
    for length in (0.3, 1.5):
        env.reset(seed=0, options={"task": {"gravity": 9.8, "length": length}})
        image = env.render()
        assert image.shape == CARTPOLE_IMAGE_SHAPE and image.dtype == np.uint8
        pole_pixels.append(int(np.all(image == (202, 152, 101), axis=-1).sum()))
    assert pole_pixels[1] > 3 * pole_pixels[0]


def test_cartpole_render_follows_the_cart() -> None:
    env = CartPoleTaskWrapper(render_mode="rgb_array")
    env.reset(seed=0)
    cart_columns = []
    for _ in range(2):
        image = env.render()
        cart_row = int(CARTPOLE_IMAGE_SHAPE[0] * 0.75) - 1
        cart_columns.append(np.flatnonzero(np.all(image[cart_row] == 0, axis=-1)).mean())
        for _ in range(6):
            env.step(1)  # push right (the pole has not fallen yet)
    assert cart_columns[1] > cart_columns[0]


def test_cartpole_rejects_unknown_render_modes() -> None:
    with pytest.raises(ValueError, match="render_mode must be None or 'rgb_array', got 'human'"):
        CartPoleTaskWrapper(render_mode="human")
