"""The SB3 callback feeds score-driven curricula the scores of SB3's own rollout buffer, each episode once."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the sb3 extra is part of `make test`; install syllabus-like[sb3]")
torch.set_num_threads(1)

from stable_baselines3 import DQN, PPO  # noqa: E402
from stable_baselines3.common.vec_env import SubprocVecEnv  # noqa: E402

from syllabus_like import DiscreteTaskSpace, DomainRandomization, PrioritizedLevelReplay  # noqa: E402
from syllabus_like.envs import GRID_CROSSING_ID  # noqa: E402
from syllabus_like.integrations.sb3 import CurriculumCallback, make_curriculum_vec_env  # noqa: E402

SPACE = DiscreteTaskSpace(5)


class RecordingPLR(PrioritizedLevelReplay):
    """A PLR that keeps every report it gets."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reports: list[dict] = []

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None, score=None, metrics=None):
        self.reports.append({"return": episode_return, "length": length, "task": task, "env": env_id, "score": score})
        super().update_on_episode(episode_return, length, task, progress, env_id=env_id, score=score)


class BufferCopyingCallback(CurriculumCallback):
    """Keeps a copy of each rollout's arrays (what the scores are computed from) before scoring it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rollouts: list[dict[str, np.ndarray]] = []

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.rollouts.append(
            {
                "advantages": buffer.advantages.copy(),
                "values": buffer.values.copy(),
                "starts": buffer.episode_starts.copy(),
                "last_dones": np.asarray(self.locals["dones"]).copy(),
            }
        )
        super()._on_rollout_end()


def tiny_ppo(envs: object) -> PPO:
    return PPO("MlpPolicy", envs, n_steps=32, batch_size=32, n_epochs=1, device="cpu", seed=0)


def hand_scores(rollouts: list[dict[str, np.ndarray]], env: int, quantity: str) -> list[tuple[int, float]]:
    """Each finished episode of ``env``: (length, mean of the per-step quantity), from the rollouts joined up."""
    joined = {key: np.concatenate([rollout[key][:, env] for rollout in rollouts]) for key in ("advantages", "values")}
    starts = np.concatenate([rollout["starts"][:, env] for rollout in rollouts])
    ends = np.append(starts[1:], rollouts[-1]["last_dones"][env]).astype(bool)
    per_step = np.maximum(joined["advantages"], 0.0) if quantity == "positive_value_loss" else joined["values"]
    episodes, start = [], 0
    for end in np.flatnonzero(ends):
        episodes.append((end + 1 - start, float(per_step[start : end + 1].mean())))
        start = end + 1
    return episodes


def test_the_callback_feeds_plr_the_positive_value_loss_of_each_episode_once() -> None:
    curriculum = RecordingPLR(SPACE, seed=0)
    envs = make_curriculum_vec_env(GRID_CROSSING_ID, curriculum, 2, seed=0)
    callback = BufferCopyingCallback()
    tiny_ppo(envs).learn(32 * 2 * 8, callback=callback)
    assert callback.active_score == "positive_value_loss"  # "auto": PLR requires scores
    monitored = sum(len(episodes) for episodes in envs.get_attr("episode_returns"))
    assert len(curriculum.reports) == monitored >= 2  # every training episode, once
    for env in (0, 1):
        expected = hand_scores(callback.rollouts, env, "positive_value_loss")
        reported = [(report["length"], report["score"]) for report in curriculum.reports if report["env"] == env]
        assert [length for length, _ in reported] == [length for length, _ in expected]
        np.testing.assert_allclose([score for _, score in reported], [score for _, score in expected], rtol=1e-6)
    assert curriculum.metrics()["episodes"] == monitored
    assert envs.get_attr("trainer_scoring") == [False, False]  # handed back to the wrappers after learn()
    envs.close()


def test_the_callback_computes_max_mc_from_the_values_and_the_best_return() -> None:
    curriculum = RecordingPLR(SPACE, seed=0)
    envs = make_curriculum_vec_env(GRID_CROSSING_ID, curriculum, 2, seed=0)
    callback = BufferCopyingCallback(score="max_mc")
    tiny_ppo(envs).learn(32 * 2 * 8, callback=callback)
    best: dict[int, float] = {}
    expected = {env: iter(hand_scores(callback.rollouts, env, "max_mc")) for env in (0, 1)}
    for report in curriculum.reports:  # in the order they were reported, as R_max grows
        length, mean_value = next(expected[report["env"]])
        best[report["task"]] = max(best.get(report["task"], -np.inf), report["return"])
        assert report["length"] == length
        assert report["score"] == pytest.approx(best[report["task"]] - mean_value, rel=1e-6)
    assert curriculum.reports
    envs.close()


def test_subprocess_envs_hand_their_episodes_to_the_callback_through_the_process_server() -> None:
    curriculum = PrioritizedLevelReplay(SPACE, seed=0)
    envs = make_curriculum_vec_env(GRID_CROSSING_ID, curriculum, 2, vec_env_cls=SubprocVecEnv, seed=0)
    tiny_ppo(envs).learn(32 * 2 * 6, callback=CurriculumCallback())
    monitored = sum(len(episodes) for episodes in envs.get_attr("episode_returns"))
    envs.close()  # the clients deliver whatever they buffer: nothing, the trainer reported every episode
    assert curriculum.metrics()["episodes"] == monitored >= 2


def test_wrapper_scores_need_no_trainer_scores_and_auto_leaves_other_curricula_alone() -> None:
    curriculum = PrioritizedLevelReplay(SPACE, seed=0)
    envs = make_curriculum_vec_env(GRID_CROSSING_ID, curriculum, 2, seed=0, score="failure")
    callback = CurriculumCallback()
    tiny_ppo(envs).learn(32 * 2 * 4, callback=callback)
    assert callback.active_score is None and curriculum.metrics()["episodes"] > 0
    assert all(0.0 <= score <= 1.0 for _, score in curriculum.buffer())  # 1 - success, from the wrappers
    envs.close()
    uniform = make_curriculum_vec_env(GRID_CROSSING_ID, DomainRandomization(SPACE), 1, seed=0)
    callback = CurriculumCallback()
    tiny_ppo(uniform).learn(32, callback=callback)
    assert callback.active_score is None and uniform.get_attr("trainer_scoring") == [False]
    uniform.close()


def test_score_options_that_cannot_work_are_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError, match="score must be one of 'positive_value_loss', 'max_mc', 'auto', None"):
        CurriculumCallback(score="gae")
    with pytest.raises(ValueError, match="score must be one of"):
        make_curriculum_vec_env(GRID_CROSSING_ID, DomainRandomization(SPACE), score="regret")
    scored = make_curriculum_vec_env(GRID_CROSSING_ID, PrioritizedLevelReplay(SPACE), 1, score="return")
    with pytest.raises(ValueError, match=r"already scores each episode itself \(score='return'\)"):
        tiny_ppo(scored).learn(32, callback=CurriculumCallback(score="positive_value_loss"))
    scored.close()
    envs = make_curriculum_vec_env(GRID_CROSSING_ID, PrioritizedLevelReplay(SPACE), 1)
    dqn = DQN("MlpPolicy", envs, learning_starts=0, device="cpu", seed=0)
    with pytest.raises(ValueError, match=r"on-policy rollout buffer \(PPO, A2C\).*DQN.*score='failure'"):
        dqn.learn(32, callback=CurriculumCallback())
    envs.close()
