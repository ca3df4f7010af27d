"""A curriculum over a PettingZoo parallel env (needs: pip install 'syllabus-like[pettingzoo]').

Two agents on a line of ``n`` cells start at opposite ends and must meet.
The task is ``n``: short lines are easy, long lines hard. A
SequentialCurriculum plays the short lines until the team meets often
enough, then moves on to the long ones. The policy here is a fixed
"step towards your partner with probability p" rule, standing in for a
learner; what matters is the plumbing:

* ``PettingZooCurriculumWrapper`` samples a task at every ``reset()``,
  applies it through the env's ``change_task``, and reports each finished
  episode (all agents done) with the *team return* = sum of both agents'
  returns;
* per-agent returns arrive through the ``on_episode`` hook (and in the last
  step's ``info[agent]["episode"]``).

Run: python examples/pettingzoo_curriculum.py   (about a second)
"""

from __future__ import annotations

import functools
from collections import defaultdict

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from syllabus_like import DiscreteTaskSpace, SequentialCurriculum
from syllabus_like.wrappers import ParallelEpisode, PettingZooCurriculumWrapper


class RendezvousEnv(ParallelEnv):
    """Two agents on a line of ``length`` cells; each step each moves left, stays or moves right.

    Both get reward 1 on the step they share a cell (which ends the episode for
    both) and -0.01 per step otherwise; after ``4 * length`` steps both are truncated.
    """

    metadata = {"name": "rendezvous_v0"}

    def __init__(self, length: int = 3) -> None:
        self.possible_agents = ["left", "right"]
        self.agents: list[str] = []
        self.length = length
        self.positions: dict[str, int] = {}
        self._t = 0

    def change_task(self, length: int) -> None:
        self.length = length

    @functools.cache  # noqa: B019 (PettingZoo's documented idiom; one space per agent)
    def observation_space(self, agent: str) -> spaces.Space:
        return spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    @functools.cache  # noqa: B019 (PettingZoo's documented idiom; one space per agent)
    def action_space(self, agent: str) -> spaces.Space:
        return spaces.Discrete(3)  # 0: left, 1: stay, 2: right

    def _observations(self) -> dict[str, np.ndarray]:
        gap = (self.positions["right"] - self.positions["left"]) / max(1, self.length - 1)
        return {"left": np.array([gap], np.float32), "right": np.array([-gap], np.float32)}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.agents = list(self.possible_agents)
        self.positions = {"left": 0, "right": self.length - 1}
        self._t = 0
        return self._observations(), {agent: {} for agent in self.agents}

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        self._t += 1
        for agent, action in actions.items():
            self.positions[agent] = int(np.clip(self.positions[agent] + action - 1, 0, self.length - 1))
        met = self.positions["left"] == self.positions["right"]
        timeout = self._t >= 4 * self.length
        agents = self.agents
        rewards = {agent: 1.0 if met else -0.01 for agent in agents}
        terminations = {agent: met for agent in agents}
        truncations = {agent: timeout and not met for agent in agents}
        infos = {agent: {"task_completion": float(met)} for agent in agents}
        observations = self._observations()
        self.agents = [] if met or timeout else agents
        return observations, rewards, terminations, truncations, infos


def policy(observation: np.ndarray, rng: np.random.Generator, skill: float = 0.5) -> int:
    """Step towards the partner with probability ``skill``, otherwise act at random."""
    if rng.random() < skill:
        return 2 if observation[0] > 0 else 0
    return int(rng.integers(3))


def main() -> None:
    task_space = DiscreteTaskSpace([3, 5, 9, 17])
    # Stage 0 plays lines of 3 or 5 cells; once 40 episodes are done and the
    # mean team return is above 1.5 (the pair meets quickly), stage 1 plays 9 or 17.
    curriculum = SequentialCurriculum([[3, 5], [9, 17]], ["episodes>=40 & episode_return>1.5"], task_space, seed=0)
    per_agent: dict[str, list[float]] = defaultdict(list)
    stage_of_episode: list[int] = []

    def on_episode(episode: ParallelEpisode) -> None:
        for agent, value in episode.agent_returns.items():
            per_agent[agent].append(value)
        stage_of_episode.append(curriculum.stage)

    env = PettingZooCurriculumWrapper(RendezvousEnv(), curriculum, on_episode=on_episode)
    rng = np.random.default_rng(0)
    team_returns: dict[int, list[float]] = defaultdict(list)
    for episode in range(200):
        observations, infos = env.reset(seed=episode)
        while env.agents:
            actions = {agent: policy(observations[agent], rng) for agent in env.agents}
            observations, rewards, terminations, truncations, infos = env.step(actions)
        team_returns[env.task].append(env.last_episode.team_return)

    switched = f"after {stage_of_episode.index(1) + 1} episodes" if 1 in stage_of_episode else "never"
    print(f"stage reached: {curriculum.stage} (moved to stage 1 {switched})")
    for task in task_space.tasks:
        values = team_returns.get(task, [])
        mean = f"{np.mean(values):+.2f}" if values else "   -"
        print(f"line length {task:2d}: {len(values):3d} episodes, mean team return {mean}")
    for agent, values in per_agent.items():
        print(f"agent {agent!r}: mean return {np.mean(values):+.3f} over {len(values)} episodes")


if __name__ == "__main__":
    main()
