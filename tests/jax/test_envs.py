"""JAX envs against their Gymnasium twins, task tables, derived parameters."""

from __future__ import annotations

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from syllabus_like.envs import NUM_LEVELS, CartPoleTaskWrapper, GridCrossingEnv
from syllabus_like.envs.cartpole_jax import CartPoleJax, cartpole_task_table
from syllabus_like.envs.gridworld_jax import GridCrossingJax, gridworld_task_table
from syllabus_like.jax.environment import TaskTable


def _gridworld_episode(level: int, actions: np.ndarray, seed: int):
    """Play ``actions`` in both gridworlds from the same start cell; return both transcripts."""
    env = GridCrossingJax(level)
    step = eqx.filter_jit(env.step)
    state, _ = env.reset(jax.random.key(seed))
    python = GridCrossingEnv(level=level)
    python.reset(seed=seed)
    # Same start: put the Gymnasium env where the JAX one started.
    python._cell = int(state.cell)
    python._start_distance = int(python.goal_distance[python._cell])
    jax_log, python_log = [], []
    for action in actions:
        state, observation, reward, terminated, truncated, info = step(jax.random.key(0), state, action)
        jax_log.append((int(jnp.argmax(observation)), float(reward), bool(terminated), bool(truncated)))
        cell, python_reward, python_terminated, python_truncated, python_info = python.step(int(action))
        python_log.append((cell, python_reward, python_terminated, python_truncated))
        if python_terminated or python_truncated:
            assert float(info["task_completion"]) == pytest.approx(python_info["task_completion"])
            break
    return jax_log, python_log


@pytest.mark.parametrize("level", [0, 2])
def test_gridworld_matches_the_gymnasium_env_action_for_action(level):
    rng = np.random.default_rng(level)
    # A walk that mostly heads right and down (towards the goal), with random detours.
    actions = rng.choice(4, size=200, p=[0.15, 0.45, 0.25, 0.15])
    jax_log, python_log = _gridworld_episode(level, actions, seed=level)
    assert jax_log == python_log
    assert python_log[-1][2] or python_log[-1][3]  # the episode ended (goal or step limit)
    assert len(python_log) <= int(GridCrossingJax(level).max_steps)


def test_gridworld_reaches_the_goal_with_the_same_reward():
    """The shortest path from the level-0 start: right along the bottom row to the goal."""
    env = GridCrossingJax(0)
    state, _ = env.reset(jax.random.key(3))
    row, col = divmod(int(state.cell), env.width)
    actions = [2] * (5 - row) + [1] * (24 - col)
    jax_log, python_log = _gridworld_episode(0, np.array(actions), seed=3)
    assert jax_log == python_log
    assert python_log[-1][1:3] == (1.0, True)


def test_cartpole_matches_gymnasium_action_for_action_on_a_changed_task():
    task = {"gravity": 4.0, "length": 1.2}
    python = CartPoleTaskWrapper(gym.make("CartPole-v1"))
    python.reset(seed=0, options={"task": task})
    env = CartPoleJax(gravity=task["gravity"], length=task["length"])
    state, observation = env.reset(jax.random.key(0))
    python.unwrapped.state = np.asarray(observation, np.float64)  # same start
    step = eqx.filter_jit(env.step)
    rng = np.random.default_rng(0)
    python_rewards, jax_rewards = [], []
    for _ in range(500):
        action = int(rng.integers(2))
        state, observation, reward, terminated, truncated, _ = step(jax.random.key(0), state, action)
        python_observation, python_reward, python_terminated, python_truncated, _ = python.step(action)
        np.testing.assert_allclose(observation, python_observation, rtol=1e-4, atol=1e-4)
        jax_rewards.append(float(reward))
        python_rewards.append(float(python_reward))
        assert (bool(terminated), bool(truncated)) == (python_terminated, python_truncated)
        if python_terminated or python_truncated:
            break
    assert jax_rewards == python_rewards
    assert 8 < len(python_rewards) < 500


def test_cartpole_truncates_after_max_steps_like_time_limit():
    env = CartPoleJax(max_steps=3)
    state, _ = env.reset(jax.random.key(0))
    flags = []
    for _ in range(3):
        state, _, _, terminated, truncated, info = env.step(jax.random.key(0), state, 0)
        flags.append(bool(truncated))
    assert flags == [False, False, True]
    assert float(info["task_completion"]) == 1.0


def test_derived_parameters_follow_field_changes():
    env = CartPoleJax()
    longer = eqx.tree_at(lambda e: e.length, env, jnp.float32(1.5))
    assert float(longer.polemass_length) == pytest.approx(0.15)
    heavier = eqx.tree_at(lambda e: e.masspole, longer, jnp.float32(0.5))
    assert float(heavier.total_mass) == pytest.approx(1.5) and float(heavier.polemass_length) == pytest.approx(0.75)
    grid = GridCrossingJax(4)
    easy = eqx.tree_at(lambda e: e.level, grid, jnp.int32(0))
    assert int(grid.max_steps) == 120 and int(easy.max_steps) == 40
    state, _ = eqx.filter_jit(easy.reset)(jax.random.key(0))
    assert int(state.cell) % grid.width >= 21  # starts in the goal room


def test_changing_an_env_field_does_not_recompile():
    traces = []

    @eqx.filter_jit
    def first_steps(env, key):
        traces.append(1)
        state, _ = env.reset(key)
        state, *_ = env.step(key, state, 1)
        return state.physics

    a = first_steps(CartPoleJax(), jax.random.key(0))
    b = first_steps(CartPoleJax(gravity=20.0, length=0.2), jax.random.key(0))
    assert len(traces) == 1 and not np.allclose(a, b)


def test_task_tables_apply_per_env_fields():
    env = CartPoleJax()
    table = cartpole_task_table(env, gravity=[5.0, 10.0], length=[0.25, 0.5, 1.0])
    assert table.num_tasks == 6
    assert np.allclose(table.task(4)[0], 10.0) and np.allclose(table.task(4)[1], 0.5)
    per_env = jax.vmap(lambda task: table.apply(env, task).polemass_length)(jnp.array([0, 2, 5]))
    assert np.allclose(per_env, [0.025, 0.1, 0.1])
    levels = gridworld_task_table(GridCrossingJax())
    assert levels.num_tasks == NUM_LEVELS
    assert int(levels.apply(GridCrossingJax(), 1).max_steps) == 60


def test_bad_envs_and_task_tables_are_rejected():
    with pytest.raises(ValueError, match="CartPoleJax length must be positive, got -1.0"):
        CartPoleJax(length=-1.0)
    with pytest.raises(ValueError, match=r"GridCrossingJax level must be an int in \[0, 5\), got 9"):
        GridCrossingJax(9)
    env = CartPoleJax()
    with pytest.raises(ValueError, match=r"values for field 0 must have shape \(num_tasks, \*\(\)\), got \(2, 2\)"):
        TaskTable(env, lambda e: e.gravity, np.ones((2, 2)))
    with pytest.raises(ValueError, match="values must have the structure of where"):
        TaskTable(env, lambda e: (e.gravity, e.length), np.ones(3))
    with pytest.raises(ValueError, match="the same non-zero number of tasks, got \\[2, 3\\]"):
        TaskTable(env, lambda e: (e.gravity, e.length), (np.ones(2), np.ones(3)))
    with pytest.raises(ValueError, match="where\\(env\\) failed on CartPoleJax"):
        TaskTable(env, lambda e: e.friction, np.ones(3))
    with pytest.raises(ValueError, match="gravity and length values must be positive"):
        cartpole_task_table(env, gravity=[0.0], length=[1.0])
