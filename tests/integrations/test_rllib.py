"""RLlib integration (new API stack): one env runner, two PPO iterations on a tiny env, with a real Ray.

``ray[rllib]`` pins an older Gymnasium, so `make test` runs this file (and the RLlib
example) in a virtualenv of its own, ``.venv-rllib``; the rest of the suite runs
against the newest Gymnasium.
"""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest
import ray
import torch

torch.set_num_threads(1)

import ray.cloudpickle  # noqa: E402
from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402
from ray.rllib.callbacks.callbacks import RLlibCallback  # noqa: E402

from syllabus_like import (  # noqa: E402
    DiscreteTaskSpace,
    DomainRandomization,
    PrioritizedLevelReplay,
    SequentialCurriculum,
)
from syllabus_like.envs import GridCrossingEnv  # noqa: E402
from syllabus_like.integrations.rllib import (  # noqa: E402
    CLIENT_KEY,
    CurriculumCallback,
    CurriculumEnvCreator,
    connect_curriculum,
)
from syllabus_like.server import TaskServer  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# Ray workers cannot import this test module: send its functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = DiscreteTaskSpace(5)


def one_hot_grid() -> gym.Env:
    """The gridworld with one-hot float observations (RLlib's default models need a Box)."""
    return gym.wrappers.DtypeObservation(gym.wrappers.FlattenObservation(GridCrossingEnv()), np.float32)


class CountsEvaluationEpisodes(RLlibCallback):
    """A user's own callback, kept by connect_curriculum next to ours."""

    def on_train_result(self, *, algorithm, result, **kwargs) -> None:
        result["user_callback_ran"] = True


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        yield
    finally:
        ray.shutdown()


def tiny_ppo() -> PPOConfig:
    return (
        PPOConfig()
        .env_runners(num_env_runners=1, num_envs_per_env_runner=2)
        .training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=1)
        .evaluation(evaluation_interval=1, evaluation_duration=2, evaluation_num_env_runners=1)
        .callbacks(CountsEvaluationEpisodes)
        .debugging(seed=0)
    )


def test_ppo_plays_the_curriculum_and_reports_its_metrics(ray_session) -> None:
    curriculum = SequentialCurriculum([0, 1, DomainRandomization(SPACE)], ["episodes>=3", "episodes>=3"], SPACE)
    with TaskServer(curriculum, backend="ray") as server:
        config = connect_curriculum(tiny_ppo(), server, one_hot_grid)
        algorithm = config.build_algo()
        try:
            results = [algorithm.train() for _ in range(2)]
        finally:
            algorithm.stop()  # closes the runners' envs: their clients deliver what they buffered
        server.flush()
        metrics = server.curriculum.metrics()

    assert all(result["user_callback_ran"] for result in results)
    assert [set(result["curriculum"]) >= {"stage", "total_episodes"} for result in results] == [True, True]
    assert results[-1]["curriculum"]["stage"] >= 1  # the level-0 stage ended: the runners' episodes arrived
    assert metrics["stage"] >= results[-1]["curriculum"]["stage"]
    training_episodes = results[-1]["env_runners"]["num_episodes_lifetime"]
    evaluation_episodes = sum(result["evaluation"]["env_runners"]["num_episodes"] for result in results)
    assert evaluation_episodes >= 2
    # every training episode reached the curriculum once; no evaluation episode did
    assert metrics["total_episodes"] == training_episodes


def test_connect_curriculum_checks_its_server(ray_session) -> None:
    with TaskServer(DomainRandomization(SPACE), backend="local") as server:
        with pytest.raises(ValueError, match="needs a TaskServer with backend='ray'.*got backend='local'"):
            connect_curriculum(tiny_ppo(), server, one_hot_grid)
    with pytest.raises(TypeError, match="needs a TaskServer \\(backend='ray'\\), got 'server'"):
        connect_curriculum(tiny_ppo(), "server", one_hot_grid)  # type: ignore[arg-type]


def test_a_score_based_curriculum_gets_scores_from_the_envs(ray_session) -> None:
    plr = PrioritizedLevelReplay(SPACE, buffer_size=5, seed=0)
    with TaskServer(plr, backend="ray") as server:
        with pytest.raises(ValueError, match=r"needs a score for every episode .*pass score= to connect_curriculum"):
            connect_curriculum(tiny_ppo(), server, one_hot_grid)
        config = connect_curriculum(tiny_ppo(), server, one_hot_grid, score="negative_return")
        creator = CurriculumEnvCreator(one_hot_grid, score="negative_return")
        env = creator(config.env_config)
        assert env.score == "negative_return"
        env.reset(seed=0)
        terminated = truncated = False
        while not (terminated or truncated):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        env.close()
        server.flush()
        assert server.curriculum.metrics()["episodes"] == 1.0  # scored, so PLR took it
    with pytest.raises(ValueError, match=r"score must be one of .*got 'regret'"):
        CurriculumEnvCreator(one_hot_grid, score="regret")


def test_env_creator_explains_a_missing_client_and_bad_envs() -> None:
    with pytest.raises(KeyError, match=f"no '{CLIENT_KEY}'.*connect_curriculum"):
        CurriculumEnvCreator(one_hot_grid)({})
    with pytest.raises(TypeError, match="env must be a Gymnasium env id or a callable.*got 7"):
        CurriculumEnvCreator(7)  # type: ignore[arg-type]


def test_callback_adds_metrics_only_where_it_has_the_curriculum() -> None:
    result: dict = {}
    CurriculumCallback().on_train_result(algorithm=None, result=result)
    assert result == {}
    curriculum = SequentialCurriculum([0, 1], ["episodes>=1"], SPACE)
    CurriculumCallback(curriculum).on_train_result(algorithm=None, result=result)
    assert result["curriculum"]["stage"] == 0.0
