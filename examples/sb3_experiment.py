"""Stable-Baselines3 PPO run through a two-task experiment of the experiment layer.

The first learning task leads PPO through levels 0, 1 and 2 of the crossing
gridworld with a SequentialCurriculum (its evaluations play level 2, the
env's own level, and never reach the curriculum); the second trains on level
3 directly. Each task stops at its episode budget or once an evaluation scores
high enough. ``SB3Agent`` wraps the PPO model: the experiment hands it each
task's env and an SB3 callback asks the task after every episode whether to
evaluate and whether to stop, so the statistics are those of any other agent.

The same experiment as YAML, for ``syllabus-like run``, is
``examples/experiments/sb3_gridworld.yml``.

Needs the ``sb3`` extra: pip install "syllabus-like[sb3]".
Run: python examples/sb3_experiment.py   (a few minutes; SYLLABUS_LIKE_QUICK=1: seconds)
"""

from __future__ import annotations

import os
import tempfile

import torch
from stable_baselines3 import PPO

from syllabus_like.envs import GridCrossingEnv
from syllabus_like.experiment import Experiment, LearningTask
from syllabus_like.integrations.sb3 import SB3Agent

QUICK = os.environ.get("SYLLABUS_LIKE_QUICK") == "1"
EPISODES = 60 if QUICK else 1500


def main() -> None:
    torch.set_num_threads(1)
    advance = "episodes>=20 & episode_return>=0.8"
    tasks = [
        LearningTask(
            GridCrossingEnv,
            {"level": 2},
            f"episodes>={EPISODES} | evaluation_score>=0.9",
            name="curriculum",
            evaluation_interval=EPISODES // 6,
            evaluation_count=10,
            curriculum={
                "type": "SequentialCurriculum",
                "curriculum_list": [0, 1, 2],
                "stopping_conditions": [advance, advance],
            },
        ),
        LearningTask(
            GridCrossingEnv,
            {"level": 3},
            f"episodes>={EPISODES // 2} | evaluation_score>=0.9",
            name="level3",
            evaluation_interval=EPISODES // 6,
            evaluation_count=10,
        ),
    ]
    with tempfile.TemporaryDirectory() as output_dir:
        experiment = Experiment(tasks, output_dir, seed=0)
        model = PPO("MlpPolicy", tasks[0].env, n_steps=256, batch_size=64, ent_coef=0.01, seed=0, device="cpu")
        agent = SB3Agent(model, learn_timesteps=200_000)
        stats = experiment.run(agent)
        print(f"saved in {output_dir}: {sorted(os.listdir(output_dir))}")

    for name, task_stats in stats.items():
        switches = [(s["episode"], s["to_stage"]) for s in task_stats.stage_switches]
        print(
            f"{name}: {task_stats.episodes} episodes, {task_stats.total_steps} steps, "
            f"evaluations {[round(float(score), 2) for score in task_stats.agent_evaluations]}"
            + (f", stage switches (episode, stage) {switches}" if switches else "")
        )
    print(f"PPO trained {model.num_timesteps} timesteps in all")


if __name__ == "__main__":
    main()
