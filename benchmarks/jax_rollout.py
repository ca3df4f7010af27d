"""Throughput of jitted rollouts with each JAX curriculum, against a bare rollout and the Python path.

The task family is CartPole with gravity x pole length on a 64 x 64 grid
(4096 tasks). Every configuration runs the same jitted
:func:`syllabus_like.jax.rollout.rollout` (B envs vmapped, T steps in
``lax.scan``, random actions); they differ only in the curriculum:

* ``bare``: no curriculum, every env keeps a fixed task (the baseline);
* ``DomainRandomization``, ``SequentialCurriculum`` (3 stages over task-id
  sets, conditions on ``total_episodes`` and ``episode_return``),
  ``PrioritizedLevelReplay`` (a 4096-level buffer), ``LearningProgress``:
  each finished env draws a new task, and the curriculum is updated from the
  rollout's episodes inside the same program.

Compile time (first call) is reported separately. Every round runs each
configuration once, in alternating order; steps/s is the best round, and the
ratio is the median over rounds of steps/s relative to ``bare`` in the same
round (neighbouring runs share the machine's load of the moment, so the
per-round ratio varies far less than throughput on a shared machine). The
CPU-time ratio is the same with process CPU time in place of wall time (all
of XLA's threads counted): the cost of the curriculum, which other processes
on the machine disturb least. The last lines run the Python
path on the same task family: Gymnasium CartPole + ``CartPoleTaskWrapper`` +
``CurriculumWrapper`` with the Python ``DomainRandomization``, one env.

Usage: ``python benchmarks/jax_rollout.py [--envs 1024 4096] [--rounds 30] [--steps 128]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import gymnasium as gym
import jax
import numpy as np

from syllabus_like.curricula import DomainRandomization as PythonDomainRandomization
from syllabus_like.envs import CartPoleTaskWrapper, cartpole_task_space
from syllabus_like.envs.cartpole_jax import CartPoleJax, cartpole_task_table
from syllabus_like.jax import DomainRandomization, LearningProgress, PrioritizedLevelReplay, SequentialCurriculum
from syllabus_like.jax.rollout import random_policy, rollout, rollout_init
from syllabus_like.task_space import SubsetTaskSpace
from syllabus_like.wrappers import CurriculumWrapper

GRAVITY = np.linspace(5.0, 15.0, 64)
LENGTH = np.linspace(0.25, 1.0, 64)


def _curricula(num_tasks: int) -> dict[str, tuple[Any, Callable | None]]:
    """name -> (curriculum or None, score_fn)."""
    return {
        "bare (fixed tasks)": (None, None),
        "DomainRandomization": (DomainRandomization(num_tasks), None),
        "SequentialCurriculum": (
            SequentialCurriculum(
                [list(range(num_tasks // 4)), list(range(num_tasks // 2)), list(range(num_tasks))],
                ["total_episodes >= 200000", "episode_return >= 100 & episodes >= 1000"],
                num_tasks,
            ),
            None,
        ),
        "PrioritizedLevelReplay": (
            PrioritizedLevelReplay(num_tasks, 4096, replay_prob=0.5, staleness_coef=0.1),
            lambda episodes: 1.0 - episodes.progress,  # levels the agent fails fastest on score highest
        ),
        "LearningProgress": (LearningProgress(num_tasks), None),
    }


def _run_jax(num_envs: int, num_steps: int, rounds: int, steps_per_round: int) -> list[dict[str, Any]]:
    env = CartPoleJax()
    tasks = cartpole_task_table(env, GRAVITY, LENGTH)
    policy = random_policy(env)
    run = eqx.filter_jit(rollout)
    configs = _curricula(tasks.num_tasks)
    states, results = {}, {}
    key = jax.random.key(0)
    for name, (curriculum, score_fn) in configs.items():
        state = rollout_init(env, tasks, curriculum, key, num_envs)
        start = time.perf_counter()
        state, output = run(env, tasks, curriculum, policy, state, key, num_steps, score_fn=score_fn)
        jax.block_until_ready(state)
        states[name] = state
        results[name] = {"name": name, "B": num_envs, "compile_s": time.perf_counter() - start, "best": 0.0}
    repeats = max(1, steps_per_round // (num_envs * num_steps))
    names = list(configs)
    for round_index in range(rounds):
        rates, cpu_rates = {}, {}
        for name in names if round_index % 2 == 0 else names[::-1]:
            curriculum, score_fn = configs[name]
            state = states[name]
            episodes = 0
            start, cpu_start = time.perf_counter(), time.process_time()
            for repeat in range(repeats):
                step_key = jax.random.key(1000 * round_index + repeat + 1)
                state, output = run(env, tasks, curriculum, policy, state, step_key, num_steps, score_fn=score_fn)
                episodes += output.episodes.num_episodes
            jax.block_until_ready(state)
            elapsed = time.perf_counter() - start
            states[name] = state
            rates[name] = repeats * num_envs * num_steps / elapsed
            cpu_rates[name] = repeats * num_envs * num_steps / (time.process_time() - cpu_start)
            if rates[name] > results[name]["best"]:
                results[name]["best"] = rates[name]
                results[name]["episodes_per_step"] = float(episodes) / (repeats * num_steps * num_envs)
        for name in names:
            results[name].setdefault("ratios", []).append(rates[name] / rates["bare (fixed tasks)"])
            results[name].setdefault("cpu_ratios", []).append(cpu_rates[name] / cpu_rates["bare (fixed tasks)"])
    for result in results.values():
        result["ratio"] = statistics.median(result["ratios"])
        result["cpu_ratio"] = statistics.median(result["cpu_ratios"])
    return list(results.values())


def _run_python(seconds: float) -> dict[str, float]:
    """Steps/s of Gymnasium CartPole: plain, and with the task and curriculum wrappers."""
    tasks = [{"gravity": float(gravity), "length": float(length)} for gravity in GRAVITY for length in LENGTH]
    space = SubsetTaskSpace(cartpole_task_space(), tasks)
    rng = np.random.default_rng(0)
    rates = {}
    for name in ("plain CartPole-v1", "CartPoleTaskWrapper + CurriculumWrapper(DomainRandomization)"):
        env: gym.Env = gym.make("CartPole-v1")
        if name != "plain CartPole-v1":
            env = CurriculumWrapper(CartPoleTaskWrapper(env, space), PythonDomainRandomization(space, seed=0))
        env.reset(seed=0)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(500):
                _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
                steps += 1
                if terminated or truncated:
                    env.reset()
        rates[name] = steps / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1024, 4096], help="values of B")
    parser.add_argument("--steps", type=int, default=128, help="T, steps per rollout")
    parser.add_argument("--rounds", type=int, default=30, help="timing rounds (steps/s: the best; ratios: the median)")
    parser.add_argument("--steps-per-round", type=int, default=500_000, help="env steps per config per round")
    parser.add_argument("--python-seconds", type=float, default=3.0)
    args = parser.parse_args()

    print(
        f"# JAX rollout benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, T={args.steps}"
    )
    print(
        "| curriculum | B | compile (s) | steps/s | ratio to bare (median of rounds) | CPU-time ratio | episodes per env-step |"
    )
    print("|---|---|---|---|---|---|---|")
    best_jax = 0.0
    for num_envs in args.envs:
        for result in _run_jax(num_envs, args.steps, args.rounds, args.steps_per_round):
            best_jax = max(best_jax, result["best"]) if result["name"] == "DomainRandomization" else best_jax
            print(
                f"| {result['name']} | {num_envs} | {result['compile_s']:.1f} | {result['best'] / 1e6:.2f} M "
                f"| {result['ratio']:.2f} | {result['cpu_ratio']:.2f} | {result['episodes_per_step']:.3f} |"
            )
    python = _run_python(args.python_seconds)
    print()
    print("| Python path (1 env) | steps/s |")
    print("|---|---|")
    for name, rate in python.items():
        print(f"| {name} | {rate / 1e3:.1f} k |")
    wrapped = python["CartPoleTaskWrapper + CurriculumWrapper(DomainRandomization)"]
    print(f"\nJAX DomainRandomization (best B) vs Python CurriculumWrapper: {best_jax / wrapped:.0f}x")


if __name__ == "__main__":
    main()
