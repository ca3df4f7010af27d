"""A CleanRL-style training loop over an AsyncVectorEnv fed by a curriculum (``backend="process"``).

The environments run in worker processes; the curriculum stays here, in the
training process. ``server.client()`` is a small picklable handle: each worker
gets a copy inside its env factory, connects to the server on first use,
prefetches its next task so a reset never waits, and sends each finished
episode's report with that request. The training loop itself is the usual
CleanRL shape (``make_env`` thunks, ``RecordEpisodeStatistics``,
``envs.step`` in a loop, episodes logged from ``infos``), here with a tabular
Q-learner instead of a network so that it runs in seconds.

Three things to notice:

* the wrappers are built with ``task_info="reset"``, so a sub-env's reset
  info carries its new task: ``infos["task"]``, marked by ``infos["_task"]``
  on the step that autoresets it, and the loop knows which level each sub-env
  plays and can log returns per level (by default the task stays out of
  infos, which costs nothing);
* ``server.curriculum`` is safe to use from the loop while workers report
  (every call holds the server's lock);
* ``envs.close()`` makes each worker's wrapper close its client, which
  delivers what it still buffered; ``server.flush()`` then waits until every
  report is applied.

The workers are started with ``forkserver`` (Linux's default from Python 3.14;
``spawn`` works as well). Keep the ``if __name__ == "__main__":`` guard: those
start methods import this file in every worker.

Run: python examples/server_process_async.py   (a few seconds)
"""

from __future__ import annotations

from collections import defaultdict

import gymnasium as gym
import numpy as np

from syllabus_like import SequentialCurriculum
from syllabus_like.demo.q_learning import QLearningAgent
from syllabus_like.envs import NUM_LEVELS, GridCrossingEnv
from syllabus_like.server import TaskServer
from syllabus_like.wrappers import CurriculumWrapper, TaskWrapper

NUM_ENVS = 8
TOTAL_TIMESTEPS = 60_000


def make_env(client, env_id: int):
    """A CleanRL-style thunk: the worker process calls it to build its env."""

    def thunk() -> gym.Env:
        env = GridCrossingEnv()
        env = TaskWrapper(env, env.task_space)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        return CurriculumWrapper(env, client, env_id=env_id, task_info="reset")

    return thunk


def main() -> None:
    curriculum = SequentialCurriculum(
        list(range(NUM_LEVELS)),
        ["episodes>=50 & episode_return>=0.9"] * (NUM_LEVELS - 1),
        GridCrossingEnv().task_space,
        return_buffer_size=50,
        seed=0,
    )
    probe = GridCrossingEnv()
    agent = QLearningAgent(probe.observation_space.n, probe.action_space.n, seed=0)

    with TaskServer(curriculum, backend="process") as server:
        envs = gym.vector.AsyncVectorEnv([make_env(server.client(), i) for i in range(NUM_ENVS)], context="forkserver")
        returns_by_level: dict[int, list[float]] = defaultdict(list)
        obs, infos = envs.reset(seed=1)
        levels = infos["task"].copy()  # the level each sub-env is playing
        resetting = np.zeros(NUM_ENVS, dtype=bool)
        for global_step in range(0, TOTAL_TIMESTEPS, NUM_ENVS):
            actions = np.array([agent.act(int(state)) for state in obs])
            next_obs, rewards, terminations, truncations, infos = envs.step(actions)
            for i in np.flatnonzero(~resetting):  # the step after a done is the autoreset: no transition
                agent.update(int(obs[i]), int(actions[i]), float(rewards[i]), int(next_obs[i]), bool(terminations[i]))
            if "episode" in infos:
                for i in np.flatnonzero(infos["_episode"]):
                    returns_by_level[int(levels[i])].append(float(infos["episode"]["r"][i]))
            if "task" in infos:  # sub-envs that reset to a new level on this step
                levels[infos["_task"]] = infos["task"][infos["_task"]]
            resetting = terminations | truncations
            obs = next_obs

            if global_step % 8_000 == 0:
                metrics = server.curriculum.metrics()
                print(
                    f"global_step={global_step:6d}  level={metrics['stage']:.0f}  "
                    f"episodes={metrics['total_episodes']:.0f}"
                )
        envs.close()
        server.flush()
        print(f"episodes reported to the curriculum: {server.curriculum.metrics()['total_episodes']:.0f}")

    for level in sorted(returns_by_level):
        returns = returns_by_level[level]
        print(f"level {level}: {len(returns):5d} episodes, success rate {np.mean(returns):.2f}")


if __name__ == "__main__":
    main()
