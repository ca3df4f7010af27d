"""ReinitTaskWrapper: one freshly built env per task, a bounded cache that closes what it evicts."""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from syllabus_like import BoxTaskSpace, DictTaskSpace, DiscreteTaskSpace, DomainRandomization, TaskSpaceError
from syllabus_like.wrappers import CurriculumWrapper, ReinitTaskWrapper, TaskWrapper


class Ledger:
    """Records which envs were built and closed, in order."""

    def __init__(self) -> None:
        self.built: list[Any] = []
        self.closed: list[Any] = []


class FixedTaskEnv(gym.Env):
    """An env whose task is fixed at construction.

    Observation: ``[task value, a number drawn from the env's RNG at reset]``.
    Every step rewards the task value; episodes last ``episode_length`` steps.
    """

    def __init__(self, task: Any, ledger: Ledger, obs_size: int = 2, episode_length: int = 3) -> None:
        self.task = task
        self.value = float(np.sum(task["x"]) if isinstance(task, dict) else np.sum(task))
        self.ledger = ledger
        self.episode_length = episode_length
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(obs_size,), dtype=np.float64)
        self.action_space = spaces.Discrete(2)
        self.closed = False
        self._t = 0
        ledger.built.append(task)

    def _obs(self, noise: float) -> np.ndarray:
        obs = np.zeros(self.observation_space.shape)
        obs[:2] = [self.value, noise]
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._t = 0
        return self._obs(float(self.np_random.random())), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self._t += 1
        return self._obs(0.0), self.value, self._t >= self.episode_length, False, {}

    def close(self) -> None:
        assert not self.closed, f"env for task {self.task!r} closed twice"
        self.closed = True
        self.ledger.closed.append(self.task)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


def make_wrapper(ledger: Ledger, n_tasks: int = 5, cache_size: int = 2, **kwargs: Any) -> ReinitTaskWrapper:
    return ReinitTaskWrapper(
        lambda task: FixedTaskEnv(task, ledger), DiscreteTaskSpace(n_tasks), cache_size=cache_size, **kwargs
    )


def test_is_a_task_wrapper_playing_the_first_task_until_told_otherwise(ledger: Ledger) -> None:
    env = make_wrapper(ledger)
    assert isinstance(env, TaskWrapper)
    assert ledger.built == [0]
    obs, info = env.reset(seed=1)
    assert obs[0] == 0.0 and info["task"] == 0
    assert env.observation_space == spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)


def test_reset_with_a_task_builds_and_plays_that_task(ledger: Ledger) -> None:
    env = make_wrapper(ledger)
    obs, info = env.reset(options={"task": 3})
    assert ledger.built == [0, 3]
    assert obs[0] == 3.0 and info["task"] == 3 and env.task == 3
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(0)
        assert reward == 3.0 and info["task"] == 3
    assert terminated
    # Without a task option the current task is kept and nothing is rebuilt.
    obs, info = env.reset()
    assert obs[0] == 3.0 and info["task"] == 3 and ledger.built == [0, 3]


def test_cached_envs_are_reused(ledger: Ledger) -> None:
    env = make_wrapper(ledger, cache_size=3)
    for task in [1, 0, 1, 2, 0, 2]:
        obs, _ = env.reset(options={"task": task})
        assert obs[0] == task
    assert ledger.built == [0, 1, 2]
    assert ledger.closed == []


def test_full_cache_closes_the_least_recently_used_env(ledger: Ledger) -> None:
    env = make_wrapper(ledger, cache_size=2)
    env.reset(options={"task": 1})
    env.reset(options={"task": 0})  # 0 is now more recent than 1
    env.reset(options={"task": 2})  # evicts 1, not 0
    assert ledger.closed == [1]
    assert env.cached_tasks == [0, 2]
    env.reset(options={"task": 1})  # rebuilt; evicts 0
    assert ledger.built == [0, 1, 2, 1]
    assert ledger.closed == [1, 0]
    assert env.cached_tasks == [2, 1]


def test_cache_size_one_rebuilds_on_every_task_change(ledger: Ledger) -> None:
    env = make_wrapper(ledger, cache_size=1)
    for task in [1, 2, 2, 1]:
        env.reset(options={"task": task})
    assert ledger.built == [0, 1, 2, 1]
    assert ledger.closed == [0, 1, 2]


def test_close_closes_every_cached_env_once_and_is_idempotent(ledger: Ledger) -> None:
    env = make_wrapper(ledger, cache_size=3)
    env.reset(options={"task": 1})
    env.reset(options={"task": 2})
    env.reset(options={"task": 3})  # evicts 0
    env.close()
    env.close()
    assert sorted(ledger.closed) == [0, 1, 2, 3]  # FixedTaskEnv.close asserts it is not closed twice
    with pytest.raises(RuntimeError, match="closed"):
        env.reset(options={"task": 1})


def test_a_task_outside_the_space_raises_before_anything_is_built(ledger: Ledger) -> None:
    env = make_wrapper(ledger, n_tasks=5)
    env.reset(options={"task": 2})
    with pytest.raises(TaskSpaceError, match=re.escape("task 7 is not in DiscreteTaskSpace(5)")):
        env.reset(options={"task": 7})
    assert ledger.built == [0, 2]
    assert env.task == 2  # the previous task and env stay in place
    obs, info = env.reset()
    assert obs[0] == 2.0 and info["task"] == 2


def test_a_bad_initial_task_raises_before_anything_is_built(ledger: Ledger) -> None:
    with pytest.raises(TaskSpaceError, match="task 'hard' is not in"):
        make_wrapper(ledger, initial_task="hard")
    assert ledger.built == []


def test_an_env_with_different_spaces_is_closed_and_named(ledger: Ledger) -> None:
    def env_fn(task: int) -> gym.Env:
        return FixedTaskEnv(task, ledger, obs_size=3 if task == 4 else 2)

    env = ReinitTaskWrapper(env_fn, DiscreteTaskSpace(5))
    env.reset(options={"task": 1})
    with pytest.raises(ValueError, match=r"env_fn\(4\) built an env whose observation space .*\(3,\).* differs"):
        env.reset(options={"task": 4})
    assert ledger.built == [0, 1, 4]
    assert ledger.closed == [4]
    assert env.cached_tasks == [0, 1]
    obs, info = env.reset()
    assert obs[0] == 1.0 and info["task"] == 1


def test_env_fn_must_return_an_env(ledger: Ledger) -> None:
    with pytest.raises(TypeError, match=r"env_fn\(0\) must return a gymnasium.Env, got 'not an env'"):
        ReinitTaskWrapper(lambda task: "not an env", DiscreteTaskSpace(2))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"cache_size": 0}, ValueError, "cache_size must be an int >= 1, got 0"),
        ({"cache_size": 2.5}, ValueError, "cache_size must be an int >= 1, got 2.5"),
        ({"task_space": [0, 1]}, TypeError, r"task_space must be a TaskSpace, got \[0, 1\]"),
        ({"env_fn": "CartPole-v1"}, TypeError, "env_fn must be a callable task -> gymnasium.Env, got 'CartPole-v1'"),
    ],
)
def test_bad_arguments_are_named(ledger: Ledger, kwargs: dict, error: type, message: str) -> None:
    arguments = {"env_fn": lambda task: FixedTaskEnv(task, ledger), "task_space": DiscreteTaskSpace(2)}
    arguments.update(kwargs)
    env_fn = arguments.pop("env_fn")
    task_space = arguments.pop("task_space")
    with pytest.raises(error, match=message):
        ReinitTaskWrapper(env_fn, task_space, **arguments)
    assert ledger.built == []


def test_unhashable_array_tasks_are_cached_by_encoding(ledger: Ledger) -> None:
    space = BoxTaskSpace(0.0, 1.0, shape=(2,))
    env = ReinitTaskWrapper(lambda task: FixedTaskEnv(task, ledger), space, cache_size=2)
    initial = ledger.built[0]
    assert space.contains(initial)  # the default initial task of an infinite space is in it

    env.reset(options={"task": np.array([0.25, 0.5])})
    env.reset(options={"task": [0.25, 0.5]})  # same task, as a list: reused
    obs, info = env.reset(options={"task": np.array([0.5, 0.5])})
    assert obs[0] == 1.0 and np.array_equal(info["task"], [0.5, 0.5])
    assert len(ledger.built) == 3
    assert len(ledger.closed) == 1 and ledger.closed[0] is initial


def test_unhashable_dict_tasks_are_cached_by_encoding(ledger: Ledger) -> None:
    space = DictTaskSpace({"x": BoxTaskSpace(0.0, 2.0, shape=(1,)), "level": DiscreteTaskSpace(3)})
    env = ReinitTaskWrapper(
        lambda task: FixedTaskEnv(task, ledger), space, cache_size=4, initial_task={"x": [0.0], "level": 0}
    )
    for task in [{"x": [1.5], "level": 2}, {"level": 2, "x": np.array([1.5])}, {"x": [1.5], "level": 1}]:
        obs, info = env.reset(options={"task": task})
        assert obs[0] == 1.5 and info["task"] is task
    assert len(ledger.built) == 3


def test_rebuilt_envs_are_seeded_from_the_first_reset_seed(ledger: Ledger) -> None:
    def run(seed: int) -> list[float]:
        env = make_wrapper(Ledger(), cache_size=1)
        noises = [env.reset(seed=seed)[0][1]]
        for task in [1, 2, 1]:
            noises.append(env.reset(options={"task": task})[0][1])
        return noises

    first, again, other = run(0), run(0), run(1)
    assert first == again
    assert len(set(first)) == len(first)
    assert first[1:] != other[1:]


def test_driven_by_a_curriculum_wrapper(ledger: Ledger) -> None:
    class Recorder(DomainRandomization):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.episodes: list[tuple[float, int, Any]] = []

        def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None) -> None:
            self.episodes.append((episode_return, length, task))

    space = DiscreteTaskSpace(4)
    curriculum = Recorder(space, seed=3)
    env = CurriculumWrapper(ReinitTaskWrapper(lambda task: FixedTaskEnv(task, ledger), space), curriculum)
    played = []
    for _ in range(6):
        obs, _ = env.reset()
        assert obs[0] == env.task
        played.append(env.task)
        terminated = False
        while not terminated:
            _, _, terminated, _, _ = env.step(0)
    assert curriculum.episodes == [(3.0 * task, 3, task) for task in played]
    assert len(set(played)) > 1
    assert sorted(ledger.built) == sorted({0} | set(played))  # each task built once (default cache holds 8)
