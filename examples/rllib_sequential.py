"""RLlib PPO (new API stack) on a family of CartPoles, led by a SequentialCurriculum in a Ray actor.

The tasks are CartPole physics, ``{"gravity": g, "length": l}``. The
curriculum starts on an easy pole (long, under low gravity), moves to the
standard CartPole once the recent mean return passes 150, and ends on a
random mix. It lives in a ``"ray"`` TaskServer (a Ray actor);
``connect_curriculum`` makes every env of every env runner draw its tasks
from it and report its episodes to it, and adds a callback that puts the
curriculum's metrics into each training result (``result["curriculum"]``).
The evaluation env runner's episodes are never reported to the curriculum.

Needs the ``rllib`` extra (and torch): pip install "syllabus-like[rllib,sb3]".
Run: python examples/rllib_sequential.py   (several minutes; SYLLABUS_LIKE_QUICK=1: well under a minute)
"""

from __future__ import annotations

import os

import ray
import torch
from ray.rllib.algorithms.ppo import PPOConfig

from syllabus_like import DomainRandomization, SequentialCurriculum
from syllabus_like.envs import CartPoleTaskWrapper, cartpole_task_space
from syllabus_like.integrations.rllib import connect_curriculum
from syllabus_like.server import TaskServer

QUICK = os.environ.get("SYLLABUS_LIKE_QUICK") == "1"
ITERATIONS = 2 if QUICK else 40
EASY = {"gravity": 5.0, "length": 1.0}
STANDARD = {"gravity": 9.8, "length": 0.5}


def make_curriculum() -> SequentialCurriculum:
    mixed = cartpole_task_space(gravity=(5.0, 15.0), length=(0.3, 1.0))
    return SequentialCurriculum(
        [EASY, STANDARD, DomainRandomization(mixed, seed=1)],
        ["episodes>=10 & episode_return>=150"] * 2,
        cartpole_task_space(),
        return_buffer_size=20,
    )


def main() -> None:
    torch.set_num_threads(1)
    ray.init(num_cpus=2 if QUICK else 4, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        with TaskServer(make_curriculum(), backend="ray") as server:
            config = (
                PPOConfig()
                .env_runners(num_env_runners=1, num_envs_per_env_runner=4)
                .training(train_batch_size_per_learner=512 if QUICK else 4000, minibatch_size=128, num_epochs=4)
                .evaluation(evaluation_interval=ITERATIONS, evaluation_duration=4, evaluation_num_env_runners=1)
                .debugging(seed=0)
            )
            algorithm = connect_curriculum(config, server, CartPoleTaskWrapper).build_algo()
            try:
                for iteration in range(1, ITERATIONS + 1):
                    result = algorithm.train()
                    curriculum = result["curriculum"]
                    print(
                        f"iteration {iteration:3d}  stage {curriculum['stage']:.0f}  "
                        f"episodes {curriculum['total_episodes']:5.0f}  "
                        f"mean return {result['env_runners'].get('episode_return_mean', float('nan')):6.1f}"
                    )
                evaluation = result["evaluation"]["env_runners"]
                print(
                    f"evaluation (not reported to the curriculum): mean return {evaluation['episode_return_mean']:.1f}"
                )
            finally:
                algorithm.stop()
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
