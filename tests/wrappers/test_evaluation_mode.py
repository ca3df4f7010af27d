"""CurriculumWrapper's evaluation mode: episodes played under it never reach the curriculum."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

from syllabus_like import Curriculum, DiscreteTaskSpace
from syllabus_like.envs import GridCrossingEnv
from syllabus_like.wrappers import CurriculumWrapper

SPACE = DiscreteTaskSpace(5)


class Recorder(Curriculum):
    """Always level 0; records every episode and step it is told about."""

    def __init__(self, requires_step_updates: bool = False) -> None:
        super().__init__(SPACE)
        self.requires_step_updates = requires_step_updates
        self.sampled = 0
        self.episodes: list[tuple] = []
        self.steps = 0

    def _sample(self, k: int) -> list:
        self.sampled += k
        return [0] * k

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None) -> None:
        self.episodes.append((episode_return, length, task))

    def update_on_step(self, *args, **kwargs) -> None:
        self.steps += 1


def play_episode(env: gym.Env) -> int:
    """Walk right until the episode ends (level 0 starts next to the goal); return its length."""
    env.reset()
    for length in range(1, 1000):
        _, _, terminated, truncated, _ = env.step(1 if length % 2 else 2)
        if terminated or truncated:
            return length
    raise AssertionError("episode did not end")


def test_episodes_inside_evaluation_are_not_reported_but_tasks_are_still_drawn() -> None:
    curriculum = Recorder(requires_step_updates=True)
    env = CurriculumWrapper(GridCrossingEnv(), curriculum)
    play_episode(env)
    assert len(curriculum.episodes) == 1
    steps = curriculum.steps
    with env.evaluation() as same:
        assert same is env and env.evaluating
        play_episode(env)
        play_episode(env)
    assert not env.evaluating
    assert len(curriculum.episodes) == 1 and curriculum.steps == steps  # neither episodes nor steps
    assert curriculum.sampled == 3
    play_episode(env)
    assert len(curriculum.episodes) == 2 and curriculum.steps > steps


def test_the_episode_in_progress_when_evaluation_starts_is_not_reported() -> None:
    curriculum = Recorder()
    env = CurriculumWrapper(GridCrossingEnv(), curriculum)
    env.reset()
    env.step(0)
    env.set_evaluation(True)
    env.set_evaluation(False)  # a training episode played partly by an evaluator is neither
    for _ in range(200):
        _, _, terminated, truncated, _ = env.step(1)
        if terminated or truncated:
            break
    assert curriculum.episodes == []


def test_an_episode_started_in_evaluation_is_not_reported_when_it_ends_after_it() -> None:
    curriculum = Recorder()
    env = CurriculumWrapper(GridCrossingEnv(), curriculum)
    with env.evaluation():
        env.reset()
    for _ in range(200):
        _, _, terminated, truncated, _ = env.step(1)
        if terminated or truncated:
            break
    assert curriculum.episodes == []
    play_episode(env)
    assert len(curriculum.episodes) == 1


def test_nested_evaluation_restores_the_outer_setting() -> None:
    env = CurriculumWrapper(GridCrossingEnv(), Recorder())
    with env.evaluation():
        with env.evaluation():
            pass
        assert env.evaluating
    assert not env.evaluating


def test_set_evaluation_takes_a_bool() -> None:
    env = CurriculumWrapper(GridCrossingEnv(), Recorder())
    with pytest.raises(TypeError, match="set_evaluation takes a bool, got 'yes'"):
        env.set_evaluation("yes")  # type: ignore[arg-type]


def test_vector_env_form_through_call() -> None:
    curriculum = Recorder()
    envs = SyncVectorEnv([lambda: CurriculumWrapper(GridCrossingEnv(), curriculum) for _ in range(2)])
    envs.reset(seed=0)
    envs.call("set_evaluation", True)
    assert envs.get_attr("evaluating") == (True, True)
    for _ in range(100):
        envs.step(np.array([1, 1]))
    assert curriculum.episodes == []
    envs.call("set_evaluation", False)
    envs.reset()
    for _ in range(100):
        envs.step(np.array([1, 2]))
    assert len(curriculum.episodes) > 0
