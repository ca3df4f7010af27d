"""Per-episode scores reach a curriculum: from the wrapper (the episode alone) or the trainer (rollout arrays)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from syllabus_like import DiscreteTaskSpace, DomainRandomization, PrioritizedLevelReplay
from syllabus_like.integrations.cleanrl import EpisodeScorer
from syllabus_like.integrations.scores import RolloutScorer
from syllabus_like.server import TaskServer
from syllabus_like.wrappers import EPISODE_SCORES, TRAINER_EPISODE_KEY, CurriculumWrapper, FinishedEpisode

SPACE = DiscreteTaskSpace(5)


class OneStepEnv(gym.Env):
    """One-step episodes: the return is the task; success 1 on tasks >= 3, else 0."""

    observation_space = gym.spaces.Box(0, 10, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.task = 0

    def change_task(self, task: int) -> None:
        self.task = task

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([self.task], np.float32), {}

    def step(self, action):
        info = {"task_completion": 1.0 if self.task >= 3 else 0.0, "my_score": 10.0 * self.task}
        return np.array([self.task], np.float32), float(self.task), True, False, info


class Recording(DomainRandomization):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.episodes: list[tuple] = []

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None, score=None, metrics=None):
        self.episodes.append((episode_return, length, task, progress, env_id, score))


def play(env: gym.Env, episodes: int) -> None:
    env.reset(seed=0)
    for _ in range(episodes):
        env.step(0)
        env.reset()


# ------------------------------------------------------------ wrapper scores
@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ("return", lambda task: float(task)),
        ("negative_return", lambda task: -float(task)),
        ("success", lambda task: 1.0 if task >= 3 else 0.0),
        ("failure", lambda task: 0.0 if task >= 3 else 1.0),
        (lambda episode_return, length, info: info["my_score"] + length, lambda task: 10.0 * task + 1),
    ],
    ids=["return", "negative_return", "success", "failure", "callable"],
)
def test_the_wrapper_scores_each_episode_from_the_episode_alone(score, expected) -> None:
    curriculum = Recording(SPACE, seed=0)
    play(CurriculumWrapper(OneStepEnv(), curriculum, score=score), 20)
    assert len(curriculum.episodes) == 20
    assert all(episode[5] == expected(episode[2]) for episode in curriculum.episodes)
    assert set(EPISODE_SCORES) == {"return", "negative_return", "success", "failure"}


def test_without_a_score_the_wrapper_reports_none_and_plr_says_where_to_get_one() -> None:
    env = CurriculumWrapper(OneStepEnv(), PrioritizedLevelReplay(SPACE, seed=0))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"needs score=.*CurriculumCallback.*EpisodeScorer.*score='failure'"):
        env.step(0)


@pytest.mark.parametrize("backend", ["local", "process"])
def test_plr_behind_a_wrapper_with_a_score_learns_a_non_uniform_distribution(backend: str) -> None:
    with TaskServer(PrioritizedLevelReplay(SPACE, seed=0), backend=backend) as server:
        env = CurriculumWrapper(OneStepEnv(), server.client(), score="return")
        play(env, 200)
        env.close()  # delivers what the client still buffers
        probabilities = server.curriculum.probabilities()
        metrics = server.curriculum.metrics()
        buffer = server.curriculum.buffer()
    assert metrics["episodes"] == 200 and metrics["buffer_fill"] == 1.0
    assert buffer == [(4, 4.0), (3, 3.0), (2, 2.0), (1, 1.0), (0, 0.0)]  # every level, ranked by its return
    assert np.argmax(probabilities) == 4 and probabilities[4] > 0.8  # far from uniform


def test_bad_score_options_fail_at_construction_naming_what_works() -> None:
    with pytest.raises(ValueError, match=r"score must be one of \['failure', 'negative_return'.*got 'regret'"):
        CurriculumWrapper(OneStepEnv(), Recording(SPACE), score="regret")
    with pytest.raises(TypeError, match=r"score must be a name in .* or a callable .*got 3"):
        CurriculumWrapper(OneStepEnv(), Recording(SPACE), score=3)
    with pytest.raises(TypeError, match=r"must take three arguments \(episode_return, episode_length, info\)"):
        CurriculumWrapper(OneStepEnv(), Recording(SPACE), score=lambda episode_return: episode_return)


@pytest.mark.parametrize(
    ("result", "error", "message"),
    [
        ("high", TypeError, "must return a real number for each episode, returned 'high'"),
        (True, TypeError, "returned True"),
        (math.nan, ValueError, "must be a finite number"),
    ],
)
def test_a_score_function_returning_no_number_is_named(result, error, message) -> None:
    env = CurriculumWrapper(OneStepEnv(), Recording(SPACE), score=lambda r, n, info: result)
    env.reset(seed=0)
    with pytest.raises(error, match=message):
        env.step(0)


def test_trainer_scoring_hands_training_episodes_over_instead_of_reporting_them() -> None:
    curriculum = Recording(SPACE, seed=0)
    env = CurriculumWrapper(OneStepEnv(), curriculum, env_id=7)
    env.set_trainer_scoring(True)
    env.reset(seed=0)
    *_, info = env.step(0)
    assert curriculum.episodes == []
    assert info[TRAINER_EPISODE_KEY] == FinishedEpisode(float(env.task), 1, env.task, float(env.task >= 3), None, 7)
    with env.evaluation():  # evaluation episodes are neither reported nor handed over
        env.reset()
        *_, info = env.step(0)
    assert TRAINER_EPISODE_KEY not in info and curriculum.episodes == []
    env.set_trainer_scoring(False)
    env.reset()
    env.step(0)
    assert len(curriculum.episodes) == 1


def test_a_wrapper_that_scores_itself_refuses_trainer_scoring() -> None:
    env = CurriculumWrapper(OneStepEnv(), Recording(SPACE), score="failure")
    with pytest.raises(ValueError, match=r"already scores each episode itself \(score='failure'\).*twice"):
        env.set_trainer_scoring(True)
    with pytest.raises(TypeError, match="set_trainer_scoring takes a bool, got 'yes'"):
        env.set_trainer_scoring("yes")


# ------------------------------------------------------------ trainer scores
def episode(task: int, episode_return: float = 0.0, length: int = 1) -> FinishedEpisode:
    return FinishedEpisode(episode_return, length, task, 0.0, None, None)


def test_positive_value_loss_over_episodes_that_span_rollouts() -> None:
    scorer = RolloutScorer(2)
    # Rollout 1 (3 steps): env 0's episode A ends at step 1; env 1's episode runs on.
    advantages = np.array([[1.0, -2.0], [-1.0, 4.0], [3.0, 2.0]])
    starts = np.array([[1, 1], [0, 0], [1, 0]])
    scorer.record_step(1, [{TRAINER_EPISODE_KEY: episode(0)}, {}])
    first = scorer.end_rollout(advantages, np.zeros((3, 2)), starts, [False, False])
    assert [(item.env_index, item.step, item.score) for item in first] == [(0, 1, (1.0 + 0.0) / 2)]
    # Rollout 2 (2 steps): env 1's episode ends at step 0 (3 steps in rollout 1, 1 here);
    # env 0's second episode (from step 2 of rollout 1) ends at the last step.
    scorer.record_step(0, [{}, {TRAINER_EPISODE_KEY: episode(1)}])
    scorer.record_step(1, [{TRAINER_EPISODE_KEY: episode(2)}, {}])
    second = scorer.end_rollout([[-5.0, 6.0], [1.0, 0.5]], np.zeros((2, 2)), [[0, 0], [0, 1]], [True, False])
    assert [(item.episode.task, item.env_index, item.step) for item in second] == [(1, 1, 0), (2, 0, 1)]
    assert second[0].score == pytest.approx((0.0 + 4.0 + 2.0 + 6.0) / 4)
    assert second[1].score == pytest.approx((3.0 + 0.0 + 1.0) / 3)


def test_max_mc_is_the_best_return_on_the_task_minus_the_mean_value() -> None:
    scorer = RolloutScorer(1, "max_mc")
    values = np.array([[1.0], [2.0], [0.5], [1.5]])
    starts = np.array([[1], [0], [1], [0]])
    scorer.record_step(1, [{TRAINER_EPISODE_KEY: episode(3, episode_return=5.0)}])
    scorer.record_step(3, [{TRAINER_EPISODE_KEY: episode(3, episode_return=2.0)}])
    scored = scorer.end_rollout(np.zeros((4, 1)), values, starts, [True])
    assert [item.score for item in scored] == [5.0 - 1.5, 5.0 - 1.0]  # R_max stays 5 on task 3


def test_episodes_ending_without_being_handed_over_only_close_their_carry() -> None:
    scorer = RolloutScorer(1)
    scorer.end_rollout([[9.0], [9.0]], np.zeros((2, 1)), [[1], [0]], [True])  # an evaluation episode
    scorer.record_step(0, [{TRAINER_EPISODE_KEY: episode(0)}])
    assert [item.score for item in scorer.end_rollout([[2.0]], [[0.0]], [[1]], [True])] == [2.0]


def test_the_rollout_scorer_names_bad_input() -> None:
    with pytest.raises(ValueError, match=r"score must be one of 'positive_value_loss', 'max_mc'; got 'gae'"):
        RolloutScorer(2, "gae")
    with pytest.raises(ValueError, match="num_envs must be a positive int, got 0"):
        RolloutScorer(0)
    scorer = RolloutScorer(2)
    with pytest.raises(ValueError, match=r"advantages must have shape \(num_steps, 2\), got \(3,\)"):
        scorer.end_rollout(np.zeros(3), None, np.zeros((3, 2)), [0, 0])
    with pytest.raises(ValueError, match=r"last_dones must have shape \(2,\), got \(3,\)"):
        scorer.end_rollout(np.zeros((3, 2)), None, np.zeros((3, 2)), [0, 0, 0])
    scorer.record_step(0, [{TRAINER_EPISODE_KEY: episode(0)}, {}])
    with pytest.raises(ValueError, match=r"handed over on \(step, env\) \[\(0, 0\)\].*no episode ending"):
        scorer.end_rollout(np.zeros((3, 2)), None, np.zeros((3, 2)), [0, 0])


class FixedLengthEnv(OneStepEnv):
    """Episodes of ``task + 1`` steps, reward 1 per step."""

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.t += 1
        return np.array([self.task], np.float32), 1.0, self.t > self.task, False, {}


@pytest.mark.parametrize("mode", [gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP])
def test_the_cleanrl_scorer_reports_each_episode_once_with_its_hand_computed_score(mode) -> None:
    from syllabus_like.integrations.cleanrl import curriculum_env_fns

    plr = PrioritizedLevelReplay(SPACE, seed=0)
    envs = gym.vector.SyncVectorEnv(curriculum_env_fns(FixedLengthEnv, plr, 2), autoreset_mode=mode)
    with EpisodeScorer(envs, plr) as scorer:
        assert envs.get_attr("trainer_scoring") == (True, True)
        envs.reset(seed=0)
        num_steps, next_done = 6, np.zeros(2, bool)
        dones = np.zeros((num_steps, 2))
        for step in range(num_steps):
            dones[step] = next_done
            _, _, terminations, truncations, infos = envs.step(np.zeros(2, np.int64))
            next_done = np.logical_or(terminations, truncations)
            scorer.record_step(step, infos)
        advantages = np.arange(12.0).reshape(6, 2) - 5.0  # column 0: -5 -3 -1 1 3 5; column 1: -4 -2 0 2 4 6
        scored = scorer.end_rollout(advantages, np.zeros((6, 2)), dones, next_done)
    assert envs.get_attr("trainer_scoring") == (False, False)
    assert plr.metrics()["episodes"] == len(scored) > 0
    ends = np.zeros((6, 2), bool)
    ends[:-1], ends[-1] = dones[1:], next_done
    for item in scored:  # by hand: the episode's steps run from the step after the env's previous end
        column = ends[:, item.env_index]
        previous = [t for t in np.flatnonzero(column) if t < item.step]
        start = previous[-1] + 1 if previous else 0
        assert item.score == pytest.approx(np.maximum(advantages[start : item.step + 1, item.env_index], 0).mean())
        assert item.episode.length == item.episode.task + 1
    envs.close()


def test_the_cleanrl_scorer_rejects_bad_arguments() -> None:
    from syllabus_like.integrations.cleanrl import curriculum_env_fns

    envs = gym.vector.SyncVectorEnv(curriculum_env_fns(OneStepEnv, Recording(SPACE), 1))
    with pytest.raises(ValueError, match="score must be one of 'positive_value_loss', 'max_mc'; got 'return'"):
        EpisodeScorer(envs, Recording(SPACE), score="return")
    with pytest.raises(TypeError, match="curriculum must be a Curriculum or a server's curriculum, got 5"):
        EpisodeScorer(envs, 5)
    envs.close()
    scored_envs = gym.vector.SyncVectorEnv(curriculum_env_fns(OneStepEnv, Recording(SPACE), 1, score="return"))
    with pytest.raises(ValueError, match="already scores each episode itself"):
        EpisodeScorer(scored_envs, Recording(SPACE))
    scored_envs.close()
    with pytest.raises(ValueError, match="score must be one of"):
        curriculum_env_fns(OneStepEnv, Recording(SPACE), 1, score="best")
    bare = gym.vector.SyncVectorEnv([OneStepEnv])
    with pytest.raises(TypeError, match="EpisodeScorer needs sub-envs wrapped in a CurriculumWrapper"):
        EpisodeScorer(bare, Recording(SPACE))
    bare.close()
