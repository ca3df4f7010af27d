"""The cost of PPO's curriculum path: compile time and env steps/s with a functional curriculum, against bare PPO.

Run: ``python benchmarks/jax_curriculum_path.py [--timesteps N] [--repeats R]``.

Same PPO (32 envs x 64 steps, 2 epochs of 4 minibatches) on the crossing
gridworld's hardest level, in one process: *bare* trains on the env itself;
the others wrap it in a :class:`~syllabus_like.jax.CurriculumEnv` whose every
reset draws a task from a :class:`~syllabus_like.jax.SequentialCurriculum`
(levels 0..4) or :class:`~syllabus_like.jax.PrioritizedLevelReplay`. Printed:
compile time (the first ``train`` call, zero steps) and the median env
steps/s of ``repeats`` compiled runs, and the ratio curriculum / bare.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax

from syllabus_like.envs.gridworld_jax import GridCrossingJax, gridworld_task_table
from syllabus_like.jax import PPO, CurriculumEnv, MLPActorCritic, PrioritizedLevelReplay, SequentialCurriculum


def measure(env, ppo: PPO, timesteps: int, repeats: int) -> tuple[float, float]:
    """(compile seconds, median env steps/s) of ``ppo.train`` on ``env``."""
    observation = env.reset(jax.random.key(0))[1]
    policy = MLPActorCritic(observation.shape[-1], env.num_actions, key=jax.random.key(0))
    start = time.perf_counter()
    jax.block_until_ready(ppo.train(env, policy, 0, key=jax.random.key(0)))
    compile_seconds = time.perf_counter() - start
    walls = []
    for seed in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(ppo.train(env, policy, timesteps, key=jax.random.key(seed)))
        walls.append(time.perf_counter() - start)
    walls.sort()
    return compile_seconds, timesteps / walls[len(walls) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=65_536)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}")

    ppo = PPO(num_envs=32, num_steps=64, num_epochs=2, num_minibatches=4)
    hard = GridCrossingJax(level=4)
    tasks = gridworld_task_table(hard)
    sequential = SequentialCurriculum(
        list(range(5)), ["episodes>=200 & episode_return>0.8"] * 4, tasks.num_tasks, return_buffer_size=100
    )
    variants = {
        "bare PPO (no curriculum)": hard,
        "PPO + SequentialCurriculum": CurriculumEnv(hard, tasks, sequential, key=jax.random.key(1)),
        "PPO + PrioritizedLevelReplay": CurriculumEnv(
            hard, tasks, PrioritizedLevelReplay(tasks.num_tasks), key=jax.random.key(1)
        ),
    }
    results = {name: measure(env, ppo, args.timesteps, args.repeats) for name, env in variants.items()}
    bare = results["bare PPO (no curriculum)"][1]
    print(f"{'':32s} {'compile s':>10s} {'env steps/s':>12s} {'/ bare':>7s}")
    for name, (compile_seconds, steps_per_second) in results.items():
        print(f"{name:32s} {compile_seconds:10.2f} {steps_per_second:12,.0f} {steps_per_second / bare:7.3f}")


if __name__ == "__main__":
    main()
