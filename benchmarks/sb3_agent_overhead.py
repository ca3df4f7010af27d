"""What running an SB3 model through the experiment layer (``SB3Agent`` in ``LearningTask.run``) costs per step.

Ours: ``LearningTask.run(SB3Agent(model))``, where every env step passes the
statistics wrapper and, at each episode's end, the stop check of the
agent's SB3 callback (the task stops at ``steps>=N``). The baseline: the same
PPO on the same env in SB3's ``Monitor`` and ``DummyVecEnv``, ``model.learn(N)``.
PPO is configured with a cheap update (one epoch, ``n_steps=512``,
``batch_size=256``) so the per-step overhead shows rather than hides behind
the gradient steps; with SB3's default ten epochs the ratio is closer to 1.
Evaluations are off (they are extra work, not overhead). Ours runs on to the
end of the episode in progress at step N; those few steps are in its count,
as are the baseline's steps up to the next multiple of ``n_steps``.

Each round builds a fresh model of each kind (same seed) and trains it, in
alternating order; steps/s is the best round, the ratio the median over
rounds of ours / plain (also in process CPU time). Target: ratio >= 0.95.

Usage: ``python benchmarks/sb3_agent_overhead.py [--rounds N] [--steps N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from syllabus_like.envs import GridCrossingEnv
from syllabus_like.experiment import LearningTask
from syllabus_like.integrations.sb3 import SB3Agent

PPO_SETTINGS = {"n_steps": 512, "batch_size": 256, "n_epochs": 1, "device": "cpu", "seed": 0}
LEVEL = 2


def plain_sb3(steps: int) -> int:
    """The baseline: PPO on the env in Monitor + DummyVecEnv for ``steps`` timesteps; the timesteps taken."""
    env = DummyVecEnv([lambda: Monitor(GridCrossingEnv(level=LEVEL))])
    env.seed(0)
    model = PPO("MlpPolicy", env, **PPO_SETTINGS)
    model.learn(steps)
    return model.num_timesteps


def through_learning_task(steps: int) -> int:
    """Ours: the same PPO as an SB3Agent in a LearningTask that stops at ``steps>=steps``; the timesteps taken."""
    task = LearningTask(
        GridCrossingEnv, {"level": LEVEL}, f"steps>={steps}", include_init_eval=False, evaluation_interval=10**9, seed=0
    )
    agent = SB3Agent(PPO("MlpPolicy", task.env, **PPO_SETTINGS), learn_timesteps=steps)
    task.run(agent)
    return agent.model.num_timesteps


def time_once(function, steps: int) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    taken = function(steps)
    return time.perf_counter() - wall, time.process_time() - cpu, taken


def run(rounds: int, steps: int) -> float:
    methods = {"SB3Agent in LearningTask": through_learning_task, "plain model.learn": plain_sb3}
    rates: dict[str, list[float]] = {label: [] for label in methods}
    ratios, cpu_ratios = [], []
    for round_number in range(rounds):
        order = list(methods.items())
        if round_number % 2:
            order.reverse()
        measured = {label: time_once(function, steps) for label, function in order}
        for label, (wall, _, taken) in measured.items():
            rates[label].append(taken / wall)
        ours_wall, ours_cpu, ours_steps = measured["SB3Agent in LearningTask"]
        base_wall, base_cpu, base_steps = measured["plain model.learn"]
        ratios.append((ours_steps / ours_wall) / (base_steps / base_wall))
        cpu_ratios.append((ours_steps / ours_cpu) / (base_steps / base_cpu))
    ratio = statistics.median(ratios)
    print(f"== PPO on GridCrossing level {LEVEL}: {steps} steps per run, {rounds} rounds, {PPO_SETTINGS}")
    for label, values in rates.items():
        print(f"  {label:<26} {max(values):>10,.0f} steps/s (best round)")
    print(
        f"  ratio ours / plain: {ratio:.3f} (wall, median; rounds {min(ratios):.3f}-{max(ratios):.3f}), "
        f"{statistics.median(cpu_ratios):.3f} (CPU time)"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8192)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ratio = run(args.rounds, args.steps)
    print(f"target >= 0.95: {'met' if ratio >= 0.95 else 'MISSED'}")


if __name__ == "__main__":
    main()
