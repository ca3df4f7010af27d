"""The task-parameterised environments: the crossing gridworld and CartPole with tasks."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.utils.env_checker import check_env

from syllabus_like import Curriculum, DiscreteTaskSpace, DomainRandomization, TaskSpaceError
from syllabus_like.envs import (
    CARTPOLE_DEFAULT_TASK,
    CROSSING_MAP,
    GRID_CROSSING_ID,
    LEVEL_FIELDS,
    LEVELS,
    NUM_LEVELS,
    CartPoleTaskWrapper,
    GridCrossingEnv,
    cartpole_task_space,
)
from syllabus_like.wrappers import CurriculumWrapper, TaskWrapper

HARDEST = NUM_LEVELS - 1


def level_field(level: int, name: str) -> int:
    return int(LEVELS[level, LEVEL_FIELDS.index(name)])


def shortest_path_action(env: GridCrossingEnv, cell: int) -> int:
    """An action that brings the agent one step closer to the goal."""
    distances = env.goal_distance[env.next_cell[cell]]
    return int(np.argmin(distances))


def play(env: gym.Env, actions) -> list[tuple]:
    return [env.step(action) for action in actions]


# --------------------------------------------------------------- the map and levels


def test_map_is_closed_and_every_start_cell_reaches_the_goal():
    env = GridCrossingEnv()
    assert env.walls[0].all() and env.walls[-1].all() and env.walls[:, 0].all() and env.walls[:, -1].all()
    assert all(len(row) == env.width for row in CROSSING_MAP)
    unreachable = env.height * env.width
    previous_farthest = 0
    for level in range(NUM_LEVELS):
        rows = range(level_field(level, "row_low"), level_field(level, "row_high"))
        cols = range(level_field(level, "col_low"), level_field(level, "col_high"))
        cells = [r * env.width + c for r in rows for c in cols]
        assert not any(env.walls[r, c] for r in rows for c in cols), f"level {level} starts in a wall"
        assert env.goal_cell not in cells
        distances = env.goal_distance[cells]
        assert distances.max() < unreachable
        # every level starts strictly farther from the goal than the one before
        assert distances.min() > previous_farthest
        previous_farthest = int(distances.max())
        # and its step limit leaves room for the longest shortest path
        assert level_field(level, "max_steps") >= 2 * distances.max()


def test_task_space_lists_the_levels():
    env = GridCrossingEnv()
    assert env.task_space == DiscreteTaskSpace(NUM_LEVELS)
    assert env.level == HARDEST  # the default level is the hardest


def test_reset_starts_in_the_level_start_region_and_is_deterministic_given_the_seed():
    env = GridCrossingEnv()
    for level in range(NUM_LEVELS):
        env.change_task(level)
        starts = [env.reset(seed=7 if i == 0 else None)[0] for i in range(30)]
        for cell in starts:
            row, col = divmod(cell, env.width)
            assert level_field(level, "row_low") <= row < level_field(level, "row_high")
            assert level_field(level, "col_low") <= col < level_field(level, "col_high")
        assert len(set(starts)) > 1  # the start cell is random...
        env.change_task(level)
        again = [env.reset(seed=7 if i == 0 else None)[0] for i in range(30)]
        assert again == starts  # ... and reproducible
    first_starts = [GridCrossingEnv().reset(seed=seed)[0] for seed in range(10)]
    assert len(set(first_starts)) > 1  # different seeds, different starts


def test_reaching_the_goal_gives_reward_one_terminates_and_reports_full_completion():
    env = GridCrossingEnv(level=HARDEST)
    cell, info = env.reset(seed=1)
    assert info == {"level": HARDEST}
    distance = int(env.goal_distance[cell])
    for step in range(distance):
        cell, reward, terminated, truncated, info = env.step(shortest_path_action(env, cell))
        last = step == distance - 1
        assert reward == (1.0 if last else 0.0)
        assert terminated is last and truncated is False
        assert ("task_completion" in info) is last  # only at the episode's end
    assert cell == env.goal_cell
    assert info["task_completion"] == 1.0


def test_running_out_of_steps_truncates_with_partial_completion():
    env = GridCrossingEnv(level=1)
    cell, _ = env.reset(seed=3)
    start_distance = int(env.goal_distance[cell])
    limit = level_field(1, "max_steps")
    # two steps towards the goal, then stand still against the top wall
    for _ in range(2):
        cell, *_ = env.step(shortest_path_action(env, cell))
    results = play(env, [0] * (limit - 3))
    assert all(r[1] == 0.0 and not r[2] and not r[3] for r in results)
    cell, reward, terminated, truncated, info = env.step(0)
    assert (reward, terminated, truncated) == (0.0, False, True)
    expected = 1.0 - env.goal_distance[cell] / start_distance
    assert info["task_completion"] == pytest.approx(max(0.0, min(1.0, expected)))
    assert 0.0 <= info["task_completion"] < 1.0


def test_walking_away_from_the_goal_clips_completion_at_zero():
    env = GridCrossingEnv(level=0)
    env.reset(seed=0)
    *_, info = play(env, [3] * level_field(0, "max_steps"))[-1]  # keep walking left, away from the goal
    assert info["task_completion"] == 0.0


def test_walls_block_moves():
    env = GridCrossingEnv()
    for cell in range(env.height * env.width):
        row, col = divmod(cell, env.width)
        if env.walls[row, col]:
            continue
        for action in range(4):
            to_row, to_col = divmod(int(env.next_cell[cell, action]), env.width)
            assert not env.walls[to_row, to_col]
            assert abs(to_row - row) + abs(to_col - col) <= 1


def test_change_task_validates_levels():
    env = GridCrossingEnv()
    with pytest.raises(ValueError, match=r"level must be in \[0, 5\), got 5"):
        env.change_task(NUM_LEVELS)
    with pytest.raises(ValueError, match=r"got -1"):
        env.change_task(-1)
    with pytest.raises(TypeError, match=r"int level in \[0, 5\), got 'hard' \(str\)"):
        env.change_task("hard")
    with pytest.raises(TypeError, match=r"got 1.0 \(float\)"):
        env.change_task(1.0)
    with pytest.raises(TypeError, match=r"got True \(bool\)"):
        env.change_task(True)
    with pytest.raises(ValueError, match="level must be in"):
        GridCrossingEnv(level=9)
    env.change_task(np.int64(2))
    assert env.level == 2 and env.max_steps == level_field(2, "max_steps")


def test_step_checks_its_inputs():
    env = GridCrossingEnv()
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    env.reset(seed=0)
    for bad in (4, -1, 1.5, "up"):
        with pytest.raises(ValueError, match=r"action must be an int in \[0, 4\)"):
            env.step(bad)
    with pytest.raises(ValueError, match="render_mode"):
        GridCrossingEnv(render_mode="human")


def test_passes_the_gymnasium_env_checker_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(GRID_CROSSING_ID).unwrapped)
        check_env(gym.make(GRID_CROSSING_ID, level=0, render_mode="ansi").unwrapped)


def test_ansi_render_shows_the_agent_on_the_map():
    env = GridCrossingEnv(level=0, render_mode="ansi")
    cell, _ = env.reset(seed=0)
    picture = env.render().splitlines()
    row, col = divmod(cell, env.width)
    assert picture[row][col] == "A"
    assert sum(line.count("A") for line in picture) == 1
    assert picture[0] == CROSSING_MAP[0]


def test_task_wrapper_applies_levels_at_reset():
    env = TaskWrapper(GridCrossingEnv(), GridCrossingEnv().task_space)
    cell, info = env.reset(seed=0, options={"task": 0})
    assert info["task"] == 0 and env.unwrapped.level == 0
    assert level_field(0, "col_low") <= cell % env.unwrapped.width < level_field(0, "col_high")
    with pytest.raises(TaskSpaceError, match="7"):
        env.reset(options={"task": 7})


class _Recorder(Curriculum):
    """Serves levels in turn and records every finished episode."""

    def __init__(self) -> None:
        super().__init__(DiscreteTaskSpace(NUM_LEVELS), seed=0)
        self.episodes: list[tuple] = []
        self._next = 0

    def _sample(self, k: int) -> list:
        tasks = [(self._next + i) % NUM_LEVELS for i in range(k)]
        self._next += k
        return tasks

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None) -> None:
        self.episodes.append((episode_return, length, task, progress))


def test_curriculum_wrapper_receives_returns_and_completion():
    recorder = _Recorder()
    env = CurriculumWrapper(GridCrossingEnv(), recorder)
    cell, _ = env.reset(seed=0)
    assert env.task == 0
    steps = 0
    while True:  # level 0: walk to the goal
        cell, reward, terminated, truncated, _ = env.step(shortest_path_action(env.unwrapped, cell))
        steps += 1
        if terminated:
            break
    env.reset()
    assert env.task == 1
    for _ in range(level_field(1, "max_steps")):  # level 1: stand still against the top wall
        *_, terminated, truncated, _ = env.step(0)
    assert truncated
    assert recorder.episodes[0] == (1.0, steps, 0, 1.0)
    episode_return, length, task, progress = recorder.episodes[1]
    assert (episode_return, length, task) == (0.0, level_field(1, "max_steps"), 1)
    assert 0.0 <= progress < 1.0


# -------------------------------------------------------------------------- CartPole


def reference_cartpole_step(state, action, gravity, length, masscart=1.0, masspole=0.1, force_mag=10.0, tau=0.02):
    """The CartPole equations of motion (Florian, 2007), with semi-explicit Euler as CartPole-v1 uses."""
    x, x_dot, theta, theta_dot = state
    force = force_mag if action == 1 else -force_mag
    total_mass = masscart + masspole
    polemass_length = masspole * length
    temp = (force + polemass_length * theta_dot**2 * math.sin(theta)) / total_mass
    theta_acc = (gravity * math.sin(theta) - math.cos(theta) * temp) / (
        length * (4.0 / 3.0 - masspole * math.cos(theta) ** 2 / total_mass)
    )
    x_acc = temp - polemass_length * theta_acc * math.cos(theta) / total_mass
    return np.array([x + tau * x_dot, x_dot + tau * x_acc, theta + tau * theta_dot, theta_dot + tau * theta_acc])


@pytest.mark.parametrize(
    "task", [{"gravity": 9.8, "length": 0.5}, {"gravity": 3.7, "length": 1.5}, {"gravity": 24.0, "length": 0.2}]
)
def test_cartpole_follows_the_equations_of_motion_for_each_task(task):
    env = CartPoleTaskWrapper()
    env.reset(seed=0, options={"task": task})
    cartpole = env.unwrapped
    assert cartpole.polemass_length == pytest.approx(cartpole.masspole * task["length"])
    assert cartpole.total_mass == pytest.approx(cartpole.masspole + cartpole.masscart)
    state = np.array([0.1, -0.3, 0.08, 0.5])
    cartpole.state = state.copy()
    for action in (1, 0, 0, 1):
        expected = reference_cartpole_step(state, action, task["gravity"], task["length"])
        obs, *_ = env.step(action)
        np.testing.assert_allclose(obs, expected, rtol=1e-5, atol=1e-6)
        state = expected


def falls_after(task, steps=500) -> int:
    """Steps until the pole falls from a small tilt while the cart alternates left and right."""
    env = CartPoleTaskWrapper()
    env.reset(seed=0, options={"task": task})
    env.unwrapped.state = np.array([0.0, 0.0, 0.05, 0.0])
    for step in range(steps):
        *_, terminated, truncated, _ = env.step(step % 2)
        if terminated or truncated:
            return step + 1
    return steps


def test_a_longer_pole_falls_slower_and_stronger_gravity_faster():
    default = falls_after(CARTPOLE_DEFAULT_TASK)
    assert falls_after({"gravity": 9.8, "length": 2.0}) > default > falls_after({"gravity": 9.8, "length": 0.1})
    assert falls_after({"gravity": 2.0, "length": 0.5}) > default > falls_after({"gravity": 25.0, "length": 0.5})


def test_cartpole_default_task_reproduces_plain_cartpole():
    wrapped = CartPoleTaskWrapper()
    wrapped.reset(seed=5, options={"task": {"gravity": 20.0, "length": 1.8}})
    wrapped_obs, info = wrapped.reset(seed=5, options={"task": dict(CARTPOLE_DEFAULT_TASK)})
    assert info["task"] == CARTPOLE_DEFAULT_TASK
    plain = gym.make("CartPole-v1")
    plain_obs, _ = plain.reset(seed=5)
    np.testing.assert_array_equal(wrapped_obs, plain_obs)
    actions = [0, 1, 1, 0, 1, 1, 1, 0]
    for (w_obs, w_reward, *_), (p_obs, p_reward, *_) in zip(play(wrapped, actions), play(plain, actions), strict=False):
        np.testing.assert_array_equal(w_obs, p_obs)
        assert w_reward == p_reward


def test_cartpole_rejects_bad_tasks_and_envs():
    env = CartPoleTaskWrapper()
    with pytest.raises(TaskSpaceError, match="gravity"):
        env.reset(options={"task": {"gravity": 100.0, "length": 0.5}})  # outside the default space
    with pytest.raises(ValueError, match="keys 'gravity' and 'length', got {'gravity': 9.8}"):
        env.change_task({"gravity": 9.8})
    with pytest.raises(ValueError, match="must be positive"):
        env.change_task({"gravity": 9.8, "length": -1.0})
    with pytest.raises(TypeError, match="needs a CartPole env"):
        CartPoleTaskWrapper(GridCrossingEnv())


def test_cartpole_with_a_curriculum_plays_a_new_task_each_episode():
    space = cartpole_task_space(gravity=(5.0, 15.0), length=(0.3, 1.0))
    env = CurriculumWrapper(CartPoleTaskWrapper(CartPoleEnv(), space), DomainRandomization(space, seed=0))
    seen = []
    for episode in range(3):
        env.reset(seed=0 if episode == 0 else None)
        task = env.task
        assert task in space
        assert env.unwrapped.gravity == pytest.approx(float(task["gravity"]))
        assert env.unwrapped.length == pytest.approx(float(task["length"]))
        seen.append(float(task["length"]))
    assert len(set(seen)) == 3
