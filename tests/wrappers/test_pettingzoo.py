"""PettingZoo parallel envs: tasks applied at reset, per-agent and team returns reported."""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.test import parallel_api_test

from syllabus_like import DiscreteTaskSpace, DomainRandomization, PrioritizedLevelReplay, TaskSpaceError
from syllabus_like.wrappers import (
    ParallelEpisode,
    PettingZooCurriculumWrapper,
    PettingZooTaskWrapper,
)


class StaggeredParallelEnv(ParallelEnv):
    """Three agents whose episode lengths and rewards depend on the task ``k`` (1, 2 or 3).

    Agent ``a<i>`` stays for ``k + i`` steps; each step it gets reward
    ``k * (i + 1)`` when its action is 1 and ``-0.5`` when it is 0. The
    agents observe ``[k, step]``. The last agent is truncated (not
    terminated) when ``truncate_last``. Each info holds ``task_completion``:
    the fraction of its steps the agent has taken.
    """

    metadata = {"name": "staggered_v0"}

    def __init__(self, truncate_last: bool = True) -> None:
        self.possible_agents = ["a0", "a1", "a2"]
        self.agents: list[str] = []
        self.truncate_last = truncate_last
        self.k = 1
        self.change_task_calls: list[int] = []
        self._t = 0

    def change_task(self, task: int) -> None:
        self.change_task_calls.append(task)
        self.k = task

    @functools.cache  # noqa: B019 (PettingZoo's documented idiom; one space per agent)
    def observation_space(self, agent: str) -> spaces.Space:
        return spaces.Box(0.0, 100.0, shape=(2,), dtype=np.float32)

    @functools.cache  # noqa: B019 (PettingZoo's documented idiom; one space per agent)
    def action_space(self, agent: str) -> spaces.Space:
        return spaces.Discrete(2)

    def _obs(self) -> dict[str, np.ndarray]:
        return {agent: np.array([self.k, self._t], dtype=np.float32) for agent in self.agents}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.agents = list(self.possible_agents)
        self._t = 0
        return self._obs(), {agent: {} for agent in self.agents}

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        self._t += 1
        rewards, terminations, truncations, infos = {}, {}, {}, {}
        for agent in self.agents:
            rewards[agent] = np.float32(self.k * (index_of(agent) + 1) if actions[agent] == 1 else -0.5)
            lifetime = self.k + index_of(agent)
            done = self._t >= lifetime
            last = agent == self.possible_agents[-1]
            terminations[agent] = done and not (last and self.truncate_last)
            truncations[agent] = done and last and self.truncate_last
            infos[agent] = {"task_completion": min(1.0, self._t / lifetime)}
        observations = self._obs()
        self.agents = [a for a in self.agents if not (terminations[a] or truncations[a])]
        return observations, rewards, terminations, truncations, infos


def index_of(agent: str) -> int:
    return int(agent[1:])


class Recorder(DomainRandomization):
    """Domain randomization that records every update it receives."""

    def __init__(self, *args: Any, step_updates: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requires_step_updates = step_updates
        self.episodes: list[tuple[float, int, Any, float]] = []
        self.steps: list[tuple] = []

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None) -> None:
        self.episodes.append((episode_return, length, task, progress))

    def update_on_step(self, task, obs, reward, terminated, truncated, info, progress=0.0, env_id=None) -> None:
        self.steps.append((task, reward, terminated, truncated, progress, env_id))


SPACE = DiscreteTaskSpace([1, 2, 3])


def play_episode(env: Any, rng: np.random.Generator, **reset_kwargs: Any) -> dict:
    """Play one episode with random actions; return what the test itself saw."""
    observations, infos = env.reset(**reset_kwargs)
    seen = {"task": next(iter(infos.values()))["task"], "first_obs": observations, "rewards": {}, "steps": 0}
    while env.agents:
        actions = {agent: int(rng.integers(2)) for agent in env.agents}
        _, rewards, _, _, infos = env.step(actions)
        seen["steps"] += 1
        for agent, reward in rewards.items():
            seen["rewards"].setdefault(agent, []).append(float(reward))
    seen["last_infos"] = infos
    return seen


# ------------------------------------------------------------------ task wrapper
def test_task_wrapper_applies_the_task_given_at_reset() -> None:
    base = StaggeredParallelEnv()
    env = PettingZooTaskWrapper(base, SPACE)
    observations, infos = env.reset(options={"task": 3})
    assert base.change_task_calls == [3]
    assert all(obs[0] == 3 for obs in observations.values())
    assert all(info["task"] == 3 for info in infos.values())
    _, _, _, _, infos = env.step({agent: 1 for agent in env.agents})
    assert set(infos) == {"a0", "a1", "a2"} and all(info["task"] == 3 for info in infos.values())
    observations, infos = env.reset()  # keeps the task
    assert base.change_task_calls == [3] and all(obs[0] == 3 for obs in observations.values())


def test_task_wrapper_rejects_a_task_outside_the_space_before_applying_it() -> None:
    base = StaggeredParallelEnv()
    env = PettingZooTaskWrapper(base, SPACE)
    with pytest.raises(TaskSpaceError, match=r"task 4 is not in DiscreteTaskSpace\(\[1, 2, 3\]\)"):
        env.reset(options={"task": 4})
    assert base.change_task_calls == []


def test_task_wrapper_subclass_applies_tasks_to_an_env_without_change_task() -> None:
    class ViaAttribute(PettingZooTaskWrapper):
        def change_task(self, task: int) -> None:
            self.env.unwrapped.k = task

    class NoChangeTask(StaggeredParallelEnv):
        change_task = None  # type: ignore[assignment]

    with pytest.raises(NotImplementedError, match="has no change_task.*subclass PettingZooTaskWrapper and override"):
        PettingZooTaskWrapper(NoChangeTask(), SPACE).reset(options={"task": 2})
    observations, _ = ViaAttribute(NoChangeTask(), SPACE).reset(options={"task": 2})
    assert all(obs[0] == 2 for obs in observations.values())


def test_task_wrapper_rejects_what_is_not_a_parallel_env() -> None:
    with pytest.raises(TypeError, match="wraps a pettingzoo ParallelEnv, got 'env'"):
        PettingZooTaskWrapper("env", SPACE)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="task_space must be a TaskSpace, got 3"):
        PettingZooTaskWrapper(StaggeredParallelEnv(), 3)  # type: ignore[arg-type]


# ------------------------------------------------------------ curriculum wrapper
@pytest.mark.parametrize("inner_task_wrapper", [False, True])
def test_curriculum_tasks_are_applied_and_team_returns_reported(inner_task_wrapper: bool) -> None:
    base = StaggeredParallelEnv()
    inner = PettingZooTaskWrapper(base, SPACE) if inner_task_wrapper else base
    curriculum = Recorder(SPACE, seed=0)
    hooked: list[ParallelEpisode] = []
    env = PettingZooCurriculumWrapper(inner, curriculum, on_episode=hooked.append)
    rng = np.random.default_rng(0)
    played = []
    for _ in range(8):
        seen = play_episode(env, rng)
        task = seen["task"]
        played.append(task)
        assert all(obs[0] == task for obs in seen["first_obs"].values())  # the sampled task is played
        agent_returns = {agent: sum(values) for agent, values in seen["rewards"].items()}
        assert set(agent_returns) == {"a0", "a1", "a2"}
        team = sum(agent_returns.values())
        # The episode ends when the last agent is done: k + 2 steps for task k.
        assert seen["steps"] == task + 2
        assert curriculum.episodes[-1] == (pytest.approx(team), task + 2, task, 1.0)
        assert hooked[-1] == env.last_episode
        assert hooked[-1].agent_returns == pytest.approx(agent_returns)
        assert hooked[-1].team_return == pytest.approx(team)
        # Agents still present on the last step see every return in their info.
        ((last_agent, last_info),) = seen["last_infos"].items()
        assert last_agent == "a2"
        assert last_info["episode"]["return"] == pytest.approx(agent_returns["a2"])
        assert last_info["episode"]["agent_returns"] == pytest.approx(agent_returns)
        assert last_info["episode"]["team_return"] == pytest.approx(team)
        assert last_info["episode"]["length"] == task + 2
    assert len(curriculum.episodes) == 8
    assert len(set(played)) > 1
    assert base.change_task_calls == played


class ScoreRecorder(Recorder):
    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None, score=None) -> None:
        self.episodes.append((episode_return, length, task, progress, score))


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ("return", lambda team, length, progress: team),
        ("negative_return", lambda team, length, progress: -team),
        ("failure", lambda team, length, progress: 1.0 - progress),
        (lambda team_return, length, info: length + info["task_completion"], lambda team, length, progress: length + 1),
    ],
)
def test_each_episode_carries_the_score_the_wrapper_computes(score: Any, expected: Any) -> None:
    curriculum = ScoreRecorder(SPACE, seed=0)
    env = PettingZooCurriculumWrapper(StaggeredParallelEnv(), curriculum, score=score)
    rng = np.random.default_rng(1)
    for _ in range(4):
        play_episode(env, rng)
        team, length, _, progress, reported = curriculum.episodes[-1]
        assert reported == pytest.approx(expected(team, length, progress))
        assert env.last_episode.score == reported


def test_prioritized_level_replay_learns_from_a_parallel_env() -> None:
    plr = PrioritizedLevelReplay(SPACE, buffer_size=3, seed=0)
    unscored = PettingZooCurriculumWrapper(StaggeredParallelEnv(), plr)
    with pytest.raises(ValueError, match="score"):
        play_episode(unscored, np.random.default_rng(0))  # PLR says at once that it got no score
    plr = PrioritizedLevelReplay(SPACE, buffer_size=3, seed=0)
    env = PettingZooCurriculumWrapper(StaggeredParallelEnv(), plr, score="return")
    rng = np.random.default_rng(0)
    for _ in range(12):
        play_episode(env, rng)
    assert plr.metrics()["episodes"] == 12.0 and plr.metrics()["buffer_fill"] == 1.0


def test_a_bad_score_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"score must be one of .*got 'regret'"):
        PettingZooCurriculumWrapper(StaggeredParallelEnv(), Recorder(SPACE), score="regret")
    with pytest.raises(TypeError, match="must take three arguments"):
        PettingZooCurriculumWrapper(StaggeredParallelEnv(), Recorder(SPACE), score=lambda team_return: 0.0)


def test_the_episode_is_reported_once_on_the_step_the_last_agent_finishes() -> None:
    curriculum = Recorder(SPACE, seed=0)
    env = PettingZooCurriculumWrapper(StaggeredParallelEnv(), curriculum)
    env.reset(options={"task": 2})
    reported_after = []
    while env.agents:
        env.step({agent: 1 for agent in env.agents})
        reported_after.append(len(curriculum.episodes))
    # a0 leaves after 2 steps, a1 after 3, a2 after 4: only the 4th step reports.
    assert reported_after == [0, 0, 0, 1]
    # task 2, all actions 1: a0 gets 2 x 2, a1 3 x 4, a2 4 x 6.
    assert curriculum.episodes == [(4.0 + 12.0 + 24.0, 4, 2, 1.0)]
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step({})


@pytest.mark.parametrize(
    ("team_return", "expected"),
    [("sum", 40.0), ("mean", 40.0 / 3), (lambda returns: min(returns.values()), 4.0)],
)
def test_team_return_reduction(team_return: Any, expected: float) -> None:
    curriculum = Recorder(SPACE, seed=0)
    env = PettingZooCurriculumWrapper(StaggeredParallelEnv(), curriculum, team_return=team_return)
    env.reset(options={"task": 2})
    while env.agents:
        env.step({agent: 1 for agent in env.agents})
    assert curriculum.episodes[0][0] == pytest.approx(expected)
    assert env.last_episode.agent_returns == {"a0": 4.0, "a1": 12.0, "a2": 24.0}


@pytest.mark.parametrize("truncate_last", [True, False])
def test_step_updates_report_team_reward_and_the_end_of_the_episode(truncate_last: bool) -> None:
    curriculum = Recorder(SPACE, seed=0, step_updates=True)
    env = PettingZooCurriculumWrapper(StaggeredParallelEnv(truncate_last), curriculum, env_id=7)
    env.reset(options={"task": 1})
    step_rewards = []
    while env.agents:
        _, rewards, _, _, _ = env.step({agent: int(agent != "a1") for agent in env.agents})
        step_rewards.append(sum(float(r) for r in rewards.values()))
    # task 1: a0 leaves after 1 step, a1 after 2, a2 after 3.
    assert step_rewards == [1.0 - 0.5 + 3.0, -0.5 + 3.0, 3.0]
    assert [s[1] for s in curriculum.steps] == step_rewards
    assert [(s[2], s[3]) for s in curriculum.steps] == [
        (False, False),
        (False, False),
        (not truncate_last, truncate_last),
    ]
    assert all(s[0] == 1 and s[5] == 7 for s in curriculum.steps)
    assert curriculum.episodes == [(sum(step_rewards), 3, 1, 1.0)]


def test_step_updates_are_not_sent_unless_required() -> None:
    curriculum = Recorder(SPACE, seed=0, step_updates=False)
    env = PettingZooCurriculumWrapper(StaggeredParallelEnv(), curriculum)
    play_episode(env, np.random.default_rng(0))
    assert curriculum.steps == [] and len(curriculum.episodes) == 1


def test_an_explicit_task_wins_and_an_abandoned_episode_is_not_reported() -> None:
    curriculum = Recorder(DiscreteTaskSpace([1, 2, 3]), seed=0)
    base = StaggeredParallelEnv()
    env = PettingZooCurriculumWrapper(base, curriculum)
    observations, infos = env.reset(options={"task": 3})
    assert base.k == 3 and infos["a0"]["task"] == 3
    env.step({agent: 1 for agent in env.agents})
    env.reset(options={"task": 1})  # abandons the task-3 episode
    while env.agents:
        env.step({agent: 0 for agent in env.agents})
    assert curriculum.episodes == [(-0.5 * 6, 3, 1, 1.0)]


def test_a_task_server_client_like_source_works() -> None:
    class Client:
        """Not a Curriculum: just the methods a task-server client has."""

        requires_step_updates = False

        def __init__(self) -> None:
            self.reports: list[tuple] = []

        def sample(self, k: int = 1) -> list:
            return [2] * k

        def update_on_step(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("step updates were not requested")

        def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None) -> None:
            self.reports.append((episode_return, length, task, env_id))

    client = Client()
    env = PettingZooCurriculumWrapper(StaggeredParallelEnv(), client, env_id=3)
    seen = play_episode(env, np.random.default_rng(1))
    team = sum(sum(values) for values in seen["rewards"].values())
    assert client.reports == [(pytest.approx(team), 4, 2, 3)]


def test_curriculum_wrapper_rejects_bad_arguments() -> None:
    curriculum = Recorder(SPACE)
    with pytest.raises(TypeError, match=r"lacks \['update_on_episode', 'update_on_step'\]"):
        PettingZooCurriculumWrapper(StaggeredParallelEnv(), _SampleOnly())
    with pytest.raises(ValueError, match=r"team_return must be one of \('sum', 'mean'\).*got 'max'"):
        PettingZooCurriculumWrapper(StaggeredParallelEnv(), curriculum, team_return="max")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_episode must be a callable taking a ParallelEpisode, got 5"):
        PettingZooCurriculumWrapper(StaggeredParallelEnv(), curriculum, on_episode=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wraps a pettingzoo ParallelEnv, got None"):
        PettingZooCurriculumWrapper(None, curriculum)  # type: ignore[arg-type]

    class NoChangeTask(StaggeredParallelEnv):
        change_task = None  # type: ignore[assignment]

    with pytest.raises(TypeError, match="cannot apply tasks to .*PettingZooTaskWrapper subclass"):
        PettingZooCurriculumWrapper(NoChangeTask(), curriculum)
    env = PettingZooCurriculumWrapper(StaggeredParallelEnv(), curriculum)
    with pytest.raises(RuntimeError, match=r"before reset\(\)"):
        env.step({})


class _SampleOnly:
    def sample(self, k: int = 1) -> list:
        return [1] * k

    def __repr__(self) -> str:
        return "_SampleOnly()"


# ----------------------------------------------------------------- PettingZoo API
@pytest.mark.parametrize("layers", ["task", "curriculum", "both"])
def test_wrapped_env_passes_pettingzoo_parallel_api_test(layers: str) -> None:
    env: Any = StaggeredParallelEnv()
    if layers in ("task", "both"):
        env = PettingZooTaskWrapper(env, SPACE)
    if layers in ("curriculum", "both"):
        env = PettingZooCurriculumWrapper(env, Recorder(SPACE, seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the API test reports problems as warnings
        parallel_api_test(env, num_cycles=20)
    if layers != "task":
        assert len(env.source.episodes) == 2  # the API test plays two episodes to the end


# ---------------------------------------------------------------------- imports
def test_wrappers_package_does_not_import_pettingzoo() -> None:
    code = (
        "import sys, syllabus_like, syllabus_like.wrappers as w\n"
        "assert w.ReinitTaskWrapper is not None\n"
        "assert 'pettingzoo' not in sys.modules, 'pettingzoo imported'\n"
        "w.PettingZooCurriculumWrapper\n"
        "assert 'pettingzoo' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_missing_pettingzoo_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['pettingzoo'] = None  # as if it were not installed\n"
        "import syllabus_like.wrappers as w\n"
        "from syllabus_like.wrappers import *\n"
        "assert ReinitTaskWrapper is w.ReinitTaskWrapper\n"
        "try:\n"
        "    w.PettingZooTaskWrapper\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install 'syllabus-like[pettingzoo]'" in result.stdout
