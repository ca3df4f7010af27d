"""Stable-Baselines3 PPO on the gridworld family, led through it by a SequentialCurriculum.

The crossing gridworld's levels 0..4 start the agent 0..4 rooms away from the
goal (see ``syllabus_like.envs.gridworld``). The curriculum plays level 0 until
the recent mean return passes 0.8, then level 1, and so on, and finally every
level at random. ``make_curriculum_vec_env`` builds the SB3 vec env: with
``SubprocVecEnv`` each env runs in its own process and a ``"process"`` task
server, closed with the vec env, serves them the curriculum; ``envs.curriculum``
is the live curriculum. ``CurriculumCallback()`` writes the curriculum's
metrics wherever SB3's logger writes (here: stdout every few rollouts).

The evaluation of the curriculum's current tasks runs inside
``envs.evaluation()``, so its episodes never reach the curriculum; each level
is then evaluated on its own in a plain env.

In a full run (300k steps, 8 subprocesses; about 5 minutes on 2 shared
cores) the curriculum reaches its last stage and the greedy policy reaches
the goal from every level, the hardest included (success rate 1.00 on each).

Needs the ``sb3`` extra: pip install "syllabus-like[sb3]".
Run: python examples/sb3_sequential.py   (a few minutes; SYLLABUS_LIKE_QUICK=1: well under a minute)
"""

from __future__ import annotations

import os

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import SubprocVecEnv

from syllabus_like import DiscreteTaskSpace, DomainRandomization, SequentialCurriculum
from syllabus_like.envs import GRID_CROSSING_ID, NUM_LEVELS, GridCrossingEnv
from syllabus_like.integrations.sb3 import CurriculumCallback, make_curriculum_vec_env

QUICK = os.environ.get("SYLLABUS_LIKE_QUICK") == "1"
NUM_ENVS = 4 if QUICK else 8
TOTAL_TIMESTEPS = 6_000 if QUICK else 300_000


def main() -> None:
    torch.set_num_threads(1)
    space = DiscreteTaskSpace(NUM_LEVELS)
    stages = [*range(NUM_LEVELS), DomainRandomization(space)]
    curriculum = SequentialCurriculum(stages, ["episodes>=20 & episode_return>0.8"] * NUM_LEVELS, space)
    envs = make_curriculum_vec_env(GRID_CROSSING_ID, curriculum, NUM_ENVS, vec_env_cls=SubprocVecEnv, seed=0)
    try:
        model = PPO("MlpPolicy", envs, n_steps=128, batch_size=256, ent_coef=0.01, seed=0, device="cpu", verbose=1)
        model.learn(TOTAL_TIMESTEPS, callback=CurriculumCallback(), log_interval=4)
        print(f"reached stage {envs.curriculum.stage} of {len(stages) - 1} after {model.num_timesteps} steps")

        envs.server.flush()
        trained_episodes = envs.curriculum.metrics()["total_episodes"]
        with envs.evaluation():  # tasks still come from the curriculum, but no episode is reported to it
            mean_return, _ = evaluate_policy(model, envs, n_eval_episodes=2 * NUM_ENVS)
        envs.server.flush()
        assert envs.curriculum.metrics()["total_episodes"] == trained_episodes
        print(f"greedy success rate on the curriculum's current tasks: {mean_return:.2f} (not reported to it)")
    finally:
        envs.close()

    for level in range(NUM_LEVELS):  # each level on its own, in plain envs outside the curriculum
        success, _ = evaluate_policy(model, Monitor(GridCrossingEnv(level)), n_eval_episodes=10)
        print(f"level {level}: greedy success rate {success:.2f}")


if __name__ == "__main__":
    main()
