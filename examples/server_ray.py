"""A curriculum in a Ray actor feeding rollout workers (``TaskServer(..., backend="ray")``).

The curriculum is copied into a Ray actor; rollout workers are Ray tasks that
may run on any node of the cluster (``ray.init(address="auto")`` to join one;
here a local Ray with two CPUs). Each task gets a client (a small handle on
the actor), plays episodes with the current Q-table and returns its
transitions; the driver learns from them and reads the curriculum through
``server.curriculum``, a proxy that forwards each call to the actor.

Reports are fire-and-forget actor calls, batched with task requests. A Ray
actor call costs far more than a socket message, so Ray clients default to
``prefetch="auto"``: each request carries enough tasks for about 0.1 s of the
worker's resets (one for slow environments, many for fast ones such as this
gridworld). ``CurriculumWrapper.close()`` (via ``env.close()``) delivers what
a worker still buffered before its task returns.

Run: python examples/server_ray.py   (needs: pip install 'syllabus-like[ray]'; about 15 s, mostly Ray's start)
"""

from __future__ import annotations

import numpy as np
import ray

from syllabus_like import SequentialCurriculum
from syllabus_like.demo.q_learning import QLearningAgent
from syllabus_like.envs import NUM_LEVELS, GridCrossingEnv
from syllabus_like.server import TaskServer
from syllabus_like.wrappers import CurriculumWrapper, TaskWrapper

NUM_WORKERS = 2
EPISODES_PER_ROLLOUT = 25
ITERATIONS = 40


@ray.remote
def rollout(client, q_values: np.ndarray, episodes: int, seed: int) -> list[tuple]:
    """Play ``episodes`` epsilon-greedy episodes with ``q_values``; return the transitions."""
    env = GridCrossingEnv()
    env = CurriculumWrapper(TaskWrapper(env, env.task_space), client)
    agent = QLearningAgent(*q_values.shape, seed=seed)
    agent.q_values = q_values
    transitions = []
    for episode in range(episodes):
        state, _ = env.reset(seed=seed if episode == 0 else None)
        done = False
        while not done:
            action = agent.act(state)
            next_state, reward, terminated, truncated, _ = env.step(action)
            transitions.append((state, action, float(reward), next_state, terminated))
            state, done = next_state, terminated or truncated
    env.close()  # closes the client: its buffered reports reach the actor before we return
    return transitions


def main() -> None:
    ray.init(num_cpus=NUM_WORKERS, include_dashboard=False)
    try:
        curriculum = SequentialCurriculum(
            list(range(NUM_LEVELS)),
            ["episodes>=50 & episode_return>=0.9"] * (NUM_LEVELS - 1),
            GridCrossingEnv().task_space,
            return_buffer_size=50,
            seed=0,
        )
        probe = GridCrossingEnv()
        agent = QLearningAgent(probe.observation_space.n, probe.action_space.n, seed=0)
        with TaskServer(curriculum, backend="ray") as server:
            client = server.client()
            for iteration in range(ITERATIONS):
                q_values = ray.put(agent.q_values.copy())
                batches = ray.get(
                    [
                        rollout.remote(client, q_values, EPISODES_PER_ROLLOUT, seed=iteration * NUM_WORKERS + worker)
                        for worker in range(NUM_WORKERS)
                    ]
                )
                for transitions in batches:
                    for transition in transitions:
                        agent.update(*transition)
                if iteration % 5 == 0 or iteration == ITERATIONS - 1:
                    metrics = server.curriculum.metrics()  # runs in the actor
                    print(
                        f"iteration {iteration:2d}: level {metrics['stage']:.0f}, "
                        f"{metrics['total_episodes']:.0f} episodes reported"
                    )
            server.flush()
            print(f"final level: {server.curriculum.stage}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
