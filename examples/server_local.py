"""A curriculum feeding a SyncVectorEnv in this process (``TaskServer(..., backend="local")``).

Eight gridworld crossings (``syllabus_like.envs.GridCrossingEnv``) step in one
``SyncVectorEnv``; a tabular Q-learner learns from all of them. A
SequentialCurriculum starts every env on the easiest level and moves to the
next once the last 50 episodes of a level succeeded 90% of the time.

What the task server adds here: one client shared by all sub-envs samples a
level at every reset (``CurriculumWrapper``) and reports every finished
episode; the training loop reads the curriculum through ``server.curriculum``,
a lock-guarded view, so it never races with the envs. With ``"local"`` all of
this is plain function calls: no thread, no process, no copy.

Run: python examples/server_local.py   (a few seconds)
"""

from __future__ import annotations

import functools

import numpy as np
from gymnasium.vector import SyncVectorEnv

from syllabus_like import SequentialCurriculum
from syllabus_like.demo.q_learning import QLearningAgent
from syllabus_like.envs import NUM_LEVELS, GridCrossingEnv
from syllabus_like.server import TaskServer
from syllabus_like.wrappers import CurriculumWrapper, TaskWrapper

NUM_ENVS = 8
TRAIN_STEPS = 6_000  # vector steps: 48,000 env steps


def make_env(client, env_id: int) -> CurriculumWrapper:
    env = GridCrossingEnv()
    return CurriculumWrapper(TaskWrapper(env, env.task_space), client, env_id=env_id)


def success_rate(agent: QLearningAgent, level: int, episodes: int = 100) -> float:
    """Greedy episodes on ``level`` that reach the goal, without learning."""
    env = GridCrossingEnv(level=level)
    wins = 0
    for episode in range(episodes):
        state, _ = env.reset(seed=episode)
        while True:
            state, _, terminated, truncated, _ = env.step(agent.act(state, greedy=True))
            if terminated or truncated:
                wins += int(terminated)
                break
    return wins / episodes


def main() -> None:
    levels = list(range(NUM_LEVELS))
    curriculum = SequentialCurriculum(
        levels,
        ["episodes>=50 & episode_return>=0.9"] * (NUM_LEVELS - 1),
        GridCrossingEnv().task_space,
        return_buffer_size=50,
        seed=0,
    )
    probe = GridCrossingEnv()
    agent = QLearningAgent(probe.observation_space.n, probe.action_space.n, seed=0)

    with TaskServer(curriculum, backend="local") as server:
        client = server.client()
        envs = SyncVectorEnv([functools.partial(make_env, client, i) for i in range(NUM_ENVS)])
        states, _ = envs.reset(seed=0)
        resetting = np.zeros(NUM_ENVS, dtype=bool)  # NEXT_STEP autoreset: the step after a done is a reset
        stage = server.curriculum.stage
        for step in range(TRAIN_STEPS):
            actions = np.array([agent.act(int(state)) for state in states])
            next_states, rewards, terminated, truncated, _ = envs.step(actions)
            for i in np.flatnonzero(~resetting):
                agent.update(
                    int(states[i]), int(actions[i]), float(rewards[i]), int(next_states[i]), bool(terminated[i])
                )
            resetting = terminated | truncated
            states = next_states
            if server.curriculum.stage != stage:
                stage = server.curriculum.stage
                metrics = server.curriculum.metrics()
                print(
                    f"vector step {step:5d}: curriculum moved to level {stage} "
                    f"(after {metrics['total_episodes']:.0f} episodes)"
                )
        envs.close()
        print(
            f"final level: {server.curriculum.stage}, episodes reported: "
            f"{server.curriculum.metrics()['total_episodes']:.0f}"
        )

    print(f"greedy success on the hardest level ({NUM_LEVELS - 1}): {success_rate(agent, NUM_LEVELS - 1):.0%}")


if __name__ == "__main__":
    main()
