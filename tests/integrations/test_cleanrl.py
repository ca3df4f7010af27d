"""Helpers for CleanRL-style loops over Gymnasium vector envs."""

from __future__ import annotations

import sys

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest

from syllabus_like import DiscreteTaskSpace, DomainRandomization
from syllabus_like.envs import GRID_CROSSING_ID, CartPoleTaskWrapper, GridCrossingEnv, cartpole_task_space
from syllabus_like.integrations.cleanrl import (
    TaskTracker,
    current_tasks,
    curriculum_env_fns,
    evaluation,
    finished_episodes,
    step_batch,
)
from syllabus_like.server import TaskServer

cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = DiscreteTaskSpace(5)


class Counting(DomainRandomization):
    """DomainRandomization that counts the episodes and step batches reported to it."""

    def __init__(self, space=SPACE, seed: int = 0) -> None:
        super().__init__(space, seed=seed)
        self.episodes = 0
        self.steps: list[tuple] = []

    def update_on_episode(self, *args, **kwargs) -> None:
        self.episodes += 1

    def update_on_step(self, task, obs, reward, terminated, truncated, info, progress=0.0, env_id=None) -> None:
        self.steps.append((task, obs, reward, terminated, truncated, info))


def random_steps(envs: gym.vector.VectorEnv, n: int, rng: np.random.Generator, tracker: TaskTracker | None = None):
    """Step ``n`` times with random actions; yield what each step returned."""
    for _ in range(n):
        actions = rng.integers(0, envs.single_action_space.n, size=envs.num_envs)
        result = envs.step(actions)
        if tracker is not None:
            tracker.update(result[4])
        yield result


def test_env_fns_build_curriculum_wrapped_envs_reporting_every_episode_once() -> None:
    curriculum = Counting()
    envs = gym.vector.SyncVectorEnv(curriculum_env_fns(GRID_CROSSING_ID, curriculum, 3))
    envs.reset(seed=0)
    finished = 0
    for *_, infos in random_steps(envs, 400, np.random.default_rng(0)):
        finished += len(finished_episodes(infos))
    assert finished > 0 and curriculum.episodes == finished
    assert envs.get_attr("env_id") == (0, 1, 2)
    envs.close()


def test_task_tracker_follows_each_sub_env_task_from_infos_alone() -> None:
    curriculum = Counting()
    envs = gym.vector.SyncVectorEnv(curriculum_env_fns(GridCrossingEnv, curriculum, 4))
    tracker = TaskTracker(4, SPACE)
    _, infos = envs.reset(seed=0)
    tracker.update(infos)
    for _ in random_steps(envs, 300, np.random.default_rng(1), tracker):
        # after each step: the tracked task of every sub-env is the one it is playing now
        np.testing.assert_array_equal(tracker.tasks, current_tasks(envs))
        np.testing.assert_array_equal(tracker.encoded, current_tasks(envs, SPACE))
    assert len(set(tracker.tasks.tolist())) > 1  # tasks did change on autoresets
    envs.close()


def test_task_tracker_rebuilds_dict_tasks() -> None:
    space = cartpole_task_space()
    envs = gym.vector.SyncVectorEnv(curriculum_env_fns(CartPoleTaskWrapper, DomainRandomization(space, seed=2), 2))
    tracker = TaskTracker(2)
    _, infos = envs.reset(seed=0)
    tasks = tracker.update(infos)
    assert (
        tasks.dtype == object
        and [task == env_task for task, env_task in zip(tasks, current_tasks(envs), strict=False)] == [True] * 2
    )
    assert set(tasks[0]) == {"gravity", "length"} and isinstance(tasks[0]["gravity"], float)
    envs.close()


def test_task_tracker_explains_missing_task_infos_and_unseen_tasks() -> None:
    envs = gym.vector.SyncVectorEnv(curriculum_env_fns(GridCrossingEnv, Counting(), 2, task_info="none"))
    _, infos = envs.reset(seed=0)
    tracker = TaskTracker(2, SPACE)
    with pytest.raises(KeyError, match="task_info='reset'"):
        tracker.update(infos)
    with pytest.raises(ValueError, match="has not seen every sub-env's task yet"):
        _ = tracker.encoded
    with pytest.raises(ValueError, match="num_envs must be a positive int, got 0"):
        TaskTracker(0)
    envs.close()


def test_step_batch_feeds_update_on_step_batch_with_each_sub_env_data() -> None:
    curriculum = Counting()
    envs = gym.vector.SyncVectorEnv(curriculum_env_fns(GridCrossingEnv, Counting(), 2))
    tracker = TaskTracker(2)
    _, infos = envs.reset(seed=0)
    tracker.update(infos)
    tasks = tracker.tasks
    observations, rewards, terminations, truncations, infos = envs.step(np.array([1, 3]))
    batch = step_batch(tasks, observations, rewards, terminations, truncations, infos)
    curriculum.update_on_step_batch(batch)
    assert [step[0] for step in curriculum.steps] == tasks.tolist()
    assert [step[1] for step in curriculum.steps] == observations.tolist()
    assert all(
        step[5]["level"] == task for step, task in zip(curriculum.steps, tasks, strict=False)
    )  # each env's own info
    with pytest.raises(ValueError, match="step_batch got 2 tasks but 3 rewards"):
        step_batch(tasks, observations, np.zeros(3), terminations, truncations, infos)
    envs.close()


def test_finished_episodes_reads_record_episode_statistics() -> None:
    infos = {
        "episode": {"r": np.array([0.0, 1.0, 0.0]), "l": np.array([0, 12, 0])},
        "_episode": np.array([False, True, False]),
    }
    assert finished_episodes(infos) == [(1, 1.0, 12)]
    assert finished_episodes({}) == []


def test_evaluation_block_reports_nothing_and_restores_training() -> None:
    curriculum = Counting()
    envs = gym.vector.SyncVectorEnv(curriculum_env_fns(GridCrossingEnv, curriculum, 2))
    envs.reset(seed=0)
    with evaluation(envs):
        assert envs.get_attr("evaluating") == (True, True)
        envs.reset(seed=1)
        for _ in random_steps(envs, 400, np.random.default_rng(2)):
            pass
    assert curriculum.episodes == 0
    assert envs.get_attr("evaluating") == (False, False)
    envs.reset(seed=2)
    for _ in random_steps(envs, 400, np.random.default_rng(3)):
        pass
    assert curriculum.episodes > 0
    envs.close()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="source must be a Curriculum or a TaskServer, got 'curriculum'"):
        curriculum_env_fns(GridCrossingEnv, "curriculum", 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_envs must be a positive int, got -1"):
        curriculum_env_fns(GridCrossingEnv, Counting(), -1)
    with pytest.raises(TypeError, match="env must be a Gymnasium env id or a callable"):
        curriculum_env_fns(3, Counting(), 1)  # type: ignore[arg-type]


@pytest.mark.slow
def test_async_vector_env_on_a_process_server_with_evaluation() -> None:
    curriculum = Counting()
    with TaskServer(curriculum, backend="process") as server:
        envs = gym.vector.AsyncVectorEnv(curriculum_env_fns(GridCrossingEnv, server, 2), context="forkserver")
        tracker = TaskTracker(2, SPACE)
        _, infos = envs.reset(seed=0)
        tracker.update(infos)
        finished = 0
        for *_, infos in random_steps(envs, 300, np.random.default_rng(4), tracker):
            finished += len(finished_episodes(infos))
        np.testing.assert_array_equal(tracker.tasks, current_tasks(envs))
        with evaluation(envs):
            envs.reset(seed=5)
            for _ in random_steps(envs, 300, np.random.default_rng(5)):
                pass
        envs.close()  # delivers the reports the workers' clients still buffer
        server.flush()
        assert finished > 0 and curriculum.episodes == finished  # the training episodes, each once
