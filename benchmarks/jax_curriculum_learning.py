"""Does a curriculum help PPO on the hard gridworld level? Same budget, several seeds.

Run: ``python benchmarks/jax_curriculum_learning.py`` (``--seeds``, ``--timesteps``).

The task is the crossing gridworld's hardest level (start four rooms away
from the goal, sparse reward 1 at the goal, 120-step limit;
:mod:`syllabus_like.envs.gridworld_jax`). PPO trains the same policy with
the same budget and hyperparameters:

* ``direct``: every episode on the hardest level;
* ``level``: :class:`~syllabus_like.jax.training.field_curricula.LevelCurriculum` on the
  env's ``level`` field, from level 0, one level up whenever the running
  success rate (EMA over episodes) exceeds 0.8;
* ``sequential``: the functional :class:`~syllabus_like.jax.SequentialCurriculum`
  (levels 0..4, next stage when ``episodes>=200 & episode_return>0.8``),
  through :class:`~syllabus_like.jax.training.curriculum_env.CurriculumEnv` and
  :class:`~syllabus_like.jax.training.curriculum_env.CurriculumCallback`;
* ``domain_randomization``: every episode on a uniformly drawn level;
* ``plr``: :class:`~syllabus_like.jax.PrioritizedLevelReplay` over the 5
  levels, scored by positive value loss.

Reported: the success rate of the trained (stochastic) policy on the hardest
level over 512 evaluation episodes, per seed and as mean and count of
seeds above 0.9, plus wall time per run (compile excluded).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np

from syllabus_like.efficacy.discrete import goal_reach_rate
from syllabus_like.envs.gridworld_jax import GridCrossingJax, gridworld_task_table
from syllabus_like.jax.curricula.domain_randomization import DomainRandomization
from syllabus_like.jax.curricula.prioritized_level_replay import PrioritizedLevelReplay
from syllabus_like.jax.curricula.sequential import SequentialCurriculum
from syllabus_like.jax.training.curriculum_env import CurriculumCallback, CurriculumEnv
from syllabus_like.jax.training.field_curricula import LevelCurriculum
from syllabus_like.jax.training.policy import MLPActorCritic
from syllabus_like.jax.training.ppo import PPO

HARDEST = 4
MODES = ("direct", "level", "sequential", "domain_randomization", "plr")


def success(done, reward, locals):
    """The per-step metric of the level curriculum: the reward (1 on reaching the goal), so an episode's sum is success."""
    return reward


def level_field(env):
    return env.level


def setup(mode: str, key: jax.Array):
    """The environment and callback of one training mode."""
    hard = GridCrossingJax(level=HARDEST)
    tasks = gridworld_task_table(hard)
    if mode == "direct":
        return hard, None
    if mode == "level":
        return GridCrossingJax(level=0), LevelCurriculum(level_field, list(range(HARDEST + 1)), success, threshold=0.8)
    if mode == "sequential":
        curriculum = SequentialCurriculum(
            list(range(HARDEST + 1)),
            ["episodes>=200 & episode_return>0.8"] * HARDEST,
            tasks.num_tasks,
            return_buffer_size=100,
        )
    elif mode == "domain_randomization":
        curriculum = DomainRandomization(tasks.num_tasks)
    elif mode == "plr":
        curriculum = PrioritizedLevelReplay(tasks.num_tasks)
    else:
        raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
    return CurriculumEnv(hard, tasks, curriculum, key=key), CurriculumCallback()


def success_rate(policy: MLPActorCritic, key: jax.Array, episodes: int = 512) -> float:
    """Fraction of episodes on the hardest level in which the policy (sampling its actions) reaches the goal."""
    env = GridCrossingJax(level=HARDEST)
    return float(goal_reach_rate(env, policy, key, episodes, int(env.max_steps)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    args = parser.parse_args()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}, {jax.devices()[0].platform}"
    )
    ppo = PPO(num_envs=32, num_steps=64, num_epochs=4, num_minibatches=4, learning_rate=1e-3)
    print(
        f"PPO: 32 envs x 64 steps, {ppo.num_iterations(args.timesteps)} iterations, {args.timesteps} env steps per run"
    )
    num_cells = GridCrossingJax().num_cells
    results: dict[str, list[float]] = {}
    for mode in args.modes:
        rates, walls = [], []
        env, callback = setup(mode, jax.random.key(0))
        policy = MLPActorCritic(num_cells, 4, key=jax.random.key(0))
        start = time.perf_counter()
        jax.block_until_ready(ppo.train(env, policy, 0, key=jax.random.key(0), callback=callback))
        compile_seconds = time.perf_counter() - start
        for seed in range(args.seeds):
            key = jax.random.key(seed)
            env, callback = setup(mode, jax.random.fold_in(key, 2))
            policy = MLPActorCritic(num_cells, 4, key=jax.random.fold_in(key, 1))
            start = time.perf_counter()
            state = ppo.train(env, policy, args.timesteps, key=key, callback=callback)
            jax.block_until_ready(state)
            walls.append(time.perf_counter() - start)
            rates.append(success_rate(state.policy, jax.random.fold_in(key, 3)))
        results[mode] = rates
        print(
            f"{mode:22s} success on level {HARDEST}: mean {np.mean(rates):.3f}, "
            f"{sum(r > 0.9 for r in rates)}/{len(rates)} seeds > 0.9, per seed {[round(r, 3) for r in rates]}; "
            f"{np.mean(walls):.1f} s per run (+{compile_seconds:.1f} s compile)",
            flush=True,
        )
    if "direct" in results:
        base = np.mean(results["direct"])
        for mode, rates in results.items():
            if mode != "direct":
                print(f"{mode} vs direct: mean success {np.mean(rates):.3f} vs {base:.3f}")


if __name__ == "__main__":
    main()
