"""Stable-Baselines3 integration: make_curriculum_vec_env, CurriculumCallback, evaluation, worker errors."""

from __future__ import annotations

import csv
import sys

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the sb3 extra is part of `make test`; install syllabus-like[sb3]")
torch.set_num_threads(1)

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecCheckNan  # noqa: E402

from syllabus_like import DiscreteTaskSpace, DomainRandomization, SequentialCurriculum  # noqa: E402
from syllabus_like.envs import GRID_CROSSING_ID, GridCrossingEnv  # noqa: E402
from syllabus_like.integrations.sb3 import (  # noqa: E402
    CurriculumCallback,
    CurriculumVecEnv,
    curriculum_evaluation,
    make_curriculum_vec_env,
)

# The env factories below are defined in this test module, which worker processes cannot import:
# send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SPACE = DiscreteTaskSpace(5)


def sequential() -> SequentialCurriculum:
    return SequentialCurriculum([0, 1, DomainRandomization(SPACE)], ["episodes>=10", "episodes>=10"], SPACE)


def tiny_ppo(envs: object, n_steps: int = 32) -> PPO:
    return PPO("MlpPolicy", envs, n_steps=n_steps, batch_size=32, n_epochs=1, device="cpu", seed=0)


class FailingGrid(GridCrossingEnv):
    """Raises its own error on the given step of its first episode."""

    def __init__(self, fail_at_step: int = 3) -> None:
        super().__init__()
        self.fail_at_step = fail_at_step
        self.steps_taken = 0

    def step(self, action: int):  # type: ignore[override]
        self.steps_taken += 1
        if self.steps_taken == self.fail_at_step:
            raise ValueError(f"GridCrossing broke on purpose at step {self.fail_at_step}")
        return super().step(action)


def refuses_to_build() -> gym.Env:
    raise KeyError("no such maze: 'labyrinth'")


# ------------------------------------------------------------------ in-process (DummyVecEnv)
def test_dummy_vec_env_feeds_the_curriculum_itself_and_the_callback_logs_it(tmp_path) -> None:
    curriculum = sequential()
    envs = make_curriculum_vec_env(GRID_CROSSING_ID, curriculum, 2, seed=0)
    assert isinstance(envs, CurriculumVecEnv) and isinstance(envs.venv, DummyVecEnv)
    assert envs.curriculum is curriculum and envs.server is None and envs.num_envs == 2
    model = tiny_ppo(envs)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(640, callback=CurriculumCallback(log_n_tasks=-1))
    monitored = sum(len(episodes) for episodes in envs.get_attr("episode_returns"))
    assert monitored > 0
    assert curriculum.metrics()["total_episodes"] == monitored  # every training episode, once
    with open(tmp_path / "progress.csv") as file:
        rows = list(csv.DictReader(file))
    assert "curriculum/stage" in rows[-1] and "curriculum/task_probability/4" in rows[-1]
    assert float(rows[-1]["curriculum/total_episodes"]) <= monitored
    envs.close()


def test_same_seed_same_first_observations() -> None:
    first = [make_curriculum_vec_env(GRID_CROSSING_ID, DomainRandomization(SPACE, seed=1), 3, seed=7) for _ in range(2)]
    observations = [envs.reset() for envs in first]
    np.testing.assert_array_equal(observations[0], observations[1])
    for envs in first:
        envs.close()


def test_callback_finds_the_curriculum_through_vec_env_wrappers_and_can_stop_learning() -> None:
    curriculum = sequential()
    envs = VecCheckNan(make_curriculum_vec_env(GRID_CROSSING_ID, curriculum, 2, seed=0))
    callback = CurriculumCallback(stop_condition="stage>=1")
    model = tiny_ppo(envs)
    model.learn(20_000, callback=callback)
    assert callback.curriculum is curriculum
    assert callback.stopped and curriculum.stage >= 1
    assert model.num_timesteps < 20_000  # stopped at the first rollout after the switch
    # a later chunk continues from there and stops at once, the condition still holding
    steps = model.num_timesteps
    model.learn(20_000, callback=callback, reset_num_timesteps=False)
    assert model.num_timesteps <= steps + 2 * 32 + 2
    envs.close()


def test_callback_without_a_curriculum_env_says_what_to_do() -> None:
    envs = DummyVecEnv([lambda: GridCrossingEnv()])
    with pytest.raises(
        ValueError, match="found no curriculum.*make_curriculum_vec_env.*CurriculumCallback\\(curriculum\\)"
    ):
        tiny_ppo(envs).learn(32, callback=CurriculumCallback())


def test_callback_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="log_n_tasks must be an int >= -1.*got -2"):
        CurriculumCallback(log_n_tasks=-2)
    with pytest.raises(TypeError, match="stop_condition must be condition text.*got 3"):
        CurriculumCallback(stop_condition=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stage >>= 1"):
        CurriculumCallback(stop_condition="stage >>= 1")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_envs": 0}, ValueError, "n_envs must be a positive int, got 0"),
        ({"vec_env_cls": list}, TypeError, "vec_env_cls must be DummyVecEnv, SubprocVecEnv.*got <class 'list'>"),
        ({"seed": 1.5}, TypeError, "seed must be an int or None, got 1.5"),
        ({"env_kwargs": ["level", 1]}, TypeError, "env_kwargs must be a mapping"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        make_curriculum_vec_env(GRID_CROSSING_ID, DomainRandomization(SPACE), **kwargs)


def test_bad_env_or_curriculum_fail_at_construction() -> None:
    with pytest.raises(TypeError, match="needs a Curriculum as curriculum, got 'sequential'"):
        make_curriculum_vec_env(GRID_CROSSING_ID, "sequential")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="env must be a Gymnasium env id or a callable.*got 42"):
        make_curriculum_vec_env(42, DomainRandomization(SPACE))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="returned 'not an env', not a gymnasium.Env"):
        make_curriculum_vec_env(lambda: "not an env", DomainRandomization(SPACE))


def test_evaluation_is_not_reported_in_process() -> None:
    curriculum = DomainRandomization(SPACE)
    envs = make_curriculum_vec_env(GRID_CROSSING_ID, curriculum, 2, seed=0)
    model = tiny_ppo(envs)
    model.learn(320)
    before = curriculum_episodes(curriculum)
    with envs.evaluation():
        assert all(envs.get_attr("evaluating"))
        evaluate_policy(model, envs, n_eval_episodes=6)
    assert not any(envs.get_attr("evaluating"))
    assert curriculum_episodes(curriculum) == before
    # Each env first finishes the episode that began during evaluation (never reported), then
    # at least one whole training episode: GridCrossing truncates at 120 steps, so 2 x 120 steps
    # per env are enough whatever the policy does.
    model.learn(2 * 2 * 120 + 64, reset_num_timesteps=False)
    assert curriculum_episodes(curriculum) > before
    envs.close()


def curriculum_episodes(curriculum: DomainRandomization) -> int:
    """Episodes the curriculum was told about (counted by the fixture below)."""
    return int(getattr(curriculum, "spy_count", 0))


@pytest.fixture(autouse=True)
def count_reported_episodes(monkeypatch) -> None:
    """Count DomainRandomization.update_on_episode calls on each instance (as ``spy_count``)."""
    original = DomainRandomization.update_on_episode

    def counting(self, *args, **kwargs):
        self.spy_count = getattr(self, "spy_count", 0) + 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DomainRandomization, "update_on_episode", counting)


# --------------------------------------------------------------- worker processes (SubprocVecEnv)
@pytest.mark.slow
def test_subproc_vec_env_is_served_by_a_process_server_that_closes_with_it() -> None:
    curriculum = sequential()
    envs = make_curriculum_vec_env(GRID_CROSSING_ID, curriculum, 2, vec_env_cls=SubprocVecEnv, seed=0)
    assert isinstance(envs.venv, SubprocVecEnv)
    assert envs.server is not None and envs.server.backend == "process"
    model = tiny_ppo(envs)
    model.learn(640, callback=CurriculumCallback())
    trained = sum(len(episodes) for episodes in envs.get_attr("episode_returns"))
    assert trained > 0
    with curriculum_evaluation(envs):
        evaluate_policy(model, envs, n_eval_episodes=6)
    assert sum(len(episodes) for episodes in envs.get_attr("episode_returns")) >= trained + 6
    server = envs.server
    envs.close()
    assert server.closed
    # the reports the clients still buffered arrived before the server closed: every training episode, once,
    # and no evaluation episode
    assert curriculum.metrics()["total_episodes"] == trained


@pytest.mark.slow
def test_an_env_raising_in_a_worker_surfaces_its_own_exception() -> None:
    envs = make_curriculum_vec_env(FailingGrid, DomainRandomization(SPACE), 2, vec_env_cls=SubprocVecEnv, seed=0)
    envs.reset()
    with pytest.raises(ValueError, match="broke on purpose at step 3") as raised:
        for _ in range(5):
            envs.step(np.zeros(2, dtype=np.int64))
    assert "in the worker process" in str(raised.value.__cause__)
    server = envs.server
    envs.close()  # does not hang on the dead worker, and closes the server
    assert server.closed


@pytest.mark.slow
def test_an_env_failing_to_build_in_a_worker_surfaces_its_own_exception() -> None:
    with pytest.raises(KeyError, match="no such maze"):
        make_curriculum_vec_env(refuses_to_build, DomainRandomization(SPACE), 2, vec_env_cls=SubprocVecEnv)


@pytest.mark.slow
def test_sb3_make_vec_env_with_the_library_env_id_in_subprocesses() -> None:
    """SB3's own make_vec_env passes render_mode='rgb_array' to every worker's env.

    The "module:" prefix makes gymnasium import the module that registers the id in each worker (the
    worker re-runs a user's script, registering it there too, but not the test runner).
    """
    envs = make_vec_env(f"syllabus_like.envs:{GRID_CROSSING_ID}", n_envs=2, vec_env_cls=SubprocVecEnv, seed=0)
    envs.reset()
    images = envs.get_images()
    assert len(images) == 2 and images[0].ndim == 3 and images[0].dtype == np.uint8
    envs.close()


def test_render_mode_reaches_the_env_through_env_kwargs() -> None:
    envs = make_curriculum_vec_env(
        GRID_CROSSING_ID, DomainRandomization(SPACE), 2, env_kwargs={"render_mode": "rgb_array"}
    )
    envs.reset()
    images = envs.get_images()
    assert [image.shape for image in images] == [images[0].shape] * 2 and images[0].shape[2] == 3
    envs.close()
