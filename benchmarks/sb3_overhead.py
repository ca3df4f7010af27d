"""What the Stable-Baselines3 integration costs a PPO run, in env steps per second.

Two SB3 PPO runs, side by side in this process, on the crossing gridworld with
8 envs:

* **bare**: SB3's own ``make_vec_env`` on a GridCrossing env that draws its
  level uniformly at random at every reset (its own numpy Generator), so its
  episodes look exactly like ours;
* **ours**: ``make_curriculum_vec_env`` with a DomainRandomization curriculum
  over the same levels (each env inside a CurriculumWrapper; a ``"process"``
  task server behind ``SubprocVecEnv``) and ``CurriculumCallback()``
  logging the curriculum after every rollout.

Each variant's vec env and model are built once; then timed rounds of
``model.learn(rollouts)`` alternate between them (so a change in the
machine's load hits both), and the script prints each variant's median
env-steps/s and the median of the per-round ratios ours / bare, with their
spread, for ``DummyVecEnv`` and ``SubprocVecEnv``. The target is a ratio of at
least 0.97. It also prints the ratio of this process's CPU time per env step
(for ``DummyVecEnv`` that is all the work; a busy neighbour on a shared
machine disturbs it less than wall time; for ``SubprocVecEnv`` it leaves out
the workers). Torch uses one thread, as in the tests.

Usage: ``python benchmarks/sb3_overhead.py [--rounds N] [--rollouts N] [--vec-envs dummy,subproc]``
(about a minute with the defaults).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from syllabus_like import DiscreteTaskSpace, DomainRandomization
from syllabus_like.envs import NUM_LEVELS, GridCrossingEnv
from syllabus_like.integrations.sb3 import CurriculumCallback, make_curriculum_vec_env

NUM_ENVS = 8
N_STEPS = 128  # per env per rollout
VEC_ENVS = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}


class RandomLevelGrid(GridCrossingEnv):
    """The bare baseline: picks its own level uniformly at every reset, as the curriculum would."""

    def __init__(self) -> None:
        super().__init__()
        self._level_rng = np.random.default_rng(0)

    def reset(self, *, seed=None, options=None):
        self.change_task(int(self._level_rng.integers(NUM_LEVELS)))
        return super().reset(seed=seed, options=options)


def build(variant: str, vec_env_cls: type) -> tuple[PPO, object, list]:
    if variant == "bare":
        envs = make_vec_env(RandomLevelGrid, n_envs=NUM_ENVS, vec_env_cls=vec_env_cls, seed=0)
        callbacks: list = []
    else:
        curriculum = DomainRandomization(DiscreteTaskSpace(NUM_LEVELS), seed=0)
        envs = make_curriculum_vec_env(GridCrossingEnv, curriculum, NUM_ENVS, vec_env_cls=vec_env_cls, seed=0)
        callbacks = [CurriculumCallback()]
    model = PPO("MlpPolicy", envs, n_steps=N_STEPS, batch_size=256, n_epochs=4, seed=0, device="cpu")
    return model, envs, callbacks


def timed_learn(model: PPO, callbacks: list, rollouts: int) -> tuple[float, float]:
    """Env steps per second of wall time and per second of this process's CPU time."""
    steps = rollouts * N_STEPS * NUM_ENVS
    start, start_cpu = time.perf_counter(), time.process_time()
    model.learn(steps, callback=callbacks, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start), steps / (time.process_time() - start_cpu)


def compare(name: str, vec_env_cls: type, rounds: int, rollouts: int) -> float:
    built = {variant: build(variant, vec_env_cls) for variant in ("bare", "ours")}
    try:
        for model, _, callbacks in built.values():  # warm-up: first rollouts, torch's first calls
            timed_learn(model, callbacks, 1)
        rates: dict[str, list[float]] = {"bare": [], "ours": []}
        cpu_rates: dict[str, list[float]] = {"bare": [], "ours": []}
        for round_index in range(rounds):
            order = ("bare", "ours") if round_index % 2 == 0 else ("ours", "bare")
            for variant in order:
                model, _, callbacks = built[variant]
                wall, cpu = timed_learn(model, callbacks, rollouts)
                rates[variant].append(wall)
                cpu_rates[variant].append(cpu)
        ratios = [ours / bare for ours, bare in zip(rates["ours"], rates["bare"], strict=False)]
        cpu_ratios = [ours / bare for ours, bare in zip(cpu_rates["ours"], cpu_rates["bare"], strict=False)]
        print(
            f"{name:>14}: bare {statistics.median(rates['bare']):7.0f} steps/s   "
            f"ours {statistics.median(rates['ours']):7.0f} steps/s   "
            f"ours/bare {statistics.median(ratios):.3f} (rounds: {min(ratios):.3f} .. {max(ratios):.3f});   "
            f"trainer CPU time ours/bare {statistics.median(cpu_ratios):.3f} "
            f"({min(cpu_ratios):.3f} .. {max(cpu_ratios):.3f})"
        )
        return statistics.median(ratios)
    finally:
        for _, envs, _ in built.values():
            envs.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per variant (default 7)")
    parser.add_argument("--rollouts", type=int, default=6, help="PPO rollouts (and updates) per round (default 6)")
    parser.add_argument("--vec-envs", default="dummy,subproc", help="which of dummy,subproc to run")
    arguments = parser.parse_args(argv)
    chosen = [name.strip() for name in arguments.vec_envs.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in VEC_ENVS]
    if unknown:
        parser.error(f"unknown vec envs {unknown}; expected some of {', '.join(VEC_ENVS)}")
    if arguments.rounds < 1 or arguments.rollouts < 1:
        parser.error(f"--rounds and --rollouts must be positive, got {arguments.rounds} and {arguments.rollouts}")
    torch.set_num_threads(1)
    print(
        f"SB3 PPO on GridCrossing, {NUM_ENVS} envs, n_steps={N_STEPS}, {arguments.rollouts} rollouts a round, "
        f"{arguments.rounds} rounds; target ours/bare >= 0.97"
    )
    for name in chosen:
        compare(f"{VEC_ENVS[name].__name__}", VEC_ENVS[name], arguments.rounds, arguments.rollouts)


if __name__ == "__main__":
    main()
