"""What the automatic curricula cost on the Python side.

Two sections:

1. ``cost``: microseconds per ``sample()`` and per ``update_on_episode`` of
   PrioritizedLevelReplay, LearningProgress and Learnability at 4,000 and
   100,000 tasks, against DomainRandomization (the floor: a uniform draw, no
   state) in the same process. A trainer alternates the two (one episode
   ends, one reset samples), so each round times ``update_on_episode`` then
   ``sample()`` in turn; a curriculum that rebuilds its distribution lazily
   pays that at the first ``sample()`` after an update, which is where it
   shows. Rounds alternate the curricula's order, medians are printed.
2. ``sync``: random-action CartPole in a SyncVectorEnv of 8 envs, bare
   against ``CurriculumWrapper`` fed by PLR (4,000 push forces between 9 and
   11 N, buffer 4,096) through a local task server, and by DomainRandomization
   over the same tasks, with the harness of ``benchmarks/server_overhead.py``
   (alternating rounds, median ratio). The wrapper scores each PLR episode
   by its return (``CurriculumWrapper(score="return")``, a stand-in for the
   value-loss score a trainer would send). Target: ours / bare >= 0.90.
   The two "floor" variants feed the same two curricula, called directly,
   to ``server_overhead.LeastCurriculumWrapper`` (the least work any
   per-env curriculum wrapper does): what each curriculum's own work costs
   inside the loop, whatever the wrapper and task server around it.

Usage: ``python benchmarks/auto_curricula.py [--rounds N] [--sections cost,sync]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import SyncVectorEnv

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_overhead import (  # noqa: E402  (the shared bare/ours harness)
    CartPoleTask,
    compare,
    describe_machine,
    make_bare,
    make_least,
    report,
    timed_vector_steps,
)

from syllabus_like import (  # noqa: E402
    DiscreteTaskSpace,
    DomainRandomization,
    Learnability,
    LearningProgress,
    PrioritizedLevelReplay,
)
from syllabus_like.server import TaskServer  # noqa: E402
from syllabus_like.wrappers import CurriculumWrapper  # noqa: E402

SECTIONS = ("cost", "sync")


def make_curricula(num_tasks: int) -> dict[str, Any]:
    space = DiscreteTaskSpace(num_tasks)
    return {
        "DomainRandomization": DomainRandomization(space, seed=0),
        "PrioritizedLevelReplay": PrioritizedLevelReplay(space, seed=0),
        "LearningProgress": LearningProgress(space, seed=0),
        "Learnability": Learnability(space, seed=0),
    }


def time_calls(curriculum: Any, num_calls: int, rng: np.random.Generator) -> tuple[float, float]:
    """Microseconds per ``update_on_episode`` and per ``sample()``, alternated as in training."""
    tasks = curriculum.sample(num_calls)
    returns, successes, scores = (
        rng.random(num_calls),
        (rng.random(num_calls) < 0.5).astype(float),
        rng.random(num_calls),
    )
    update_time = sample_time = 0.0
    clock = time.perf_counter
    for task, episode_return, success, score in zip(
        tasks, returns.tolist(), successes.tolist(), scores.tolist(), strict=False
    ):
        start = clock()
        curriculum.update_on_episode(episode_return, 20, task, success, score=score)
        middle = clock()
        curriculum.sample()
        sample_time += clock() - middle
        update_time += middle - start
    return update_time / num_calls * 1e6, sample_time / num_calls * 1e6


def cost(rounds: int, num_calls: int = 2000) -> None:
    for num_tasks in (4_000, 100_000):
        curricula = make_curricula(num_tasks)
        rng = np.random.default_rng(0)
        for curriculum in curricula.values():  # warm up: fill buffers, see every task once at 4k
            time_calls(curriculum, min(num_tasks, 4_000), rng)
        timings: dict[str, list[tuple[float, float]]] = {name: [] for name in curricula}
        names = list(curricula)
        for round_index in range(rounds):
            for name in names if round_index % 2 == 0 else names[::-1]:
                timings[name].append(time_calls(curricula[name], num_calls, rng))
        print(f"\nCost per call, {num_tasks:,} tasks (median of {rounds} rounds of {num_calls} episodes)")
        print(f"  {'curriculum':<26}{'update_on_episode us':>22}{'sample() us':>14}{'both, x DR':>14}")
        base = statistics.median(update + sample for update, sample in timings["DomainRandomization"])
        for name, values in timings.items():
            update = statistics.median(v[0] for v in values)
            sample = statistics.median(v[1] for v in values)
            both = statistics.median(v[0] + v[1] for v in values)
            print(f"  {name:<26}{update:>22.1f}{sample:>14.1f}{both / base:>14.1f}")


def sync_plr(rounds: int, num_envs: int = 8, num_steps: int = 4000) -> None:
    forces = DiscreteTaskSpace(np.linspace(9.0, 11.0, 4000).tolist())
    actions = np.random.default_rng(0).integers(0, 2, size=(num_steps, num_envs))
    with (
        TaskServer(PrioritizedLevelReplay(forces, seed=0), backend="local") as plr_server,
        TaskServer(DomainRandomization(forces, seed=0), backend="local") as dr_server,
    ):
        # The floor: the least a per-env curriculum wrapper does, calling each curriculum directly.
        floor_plr = PrioritizedLevelReplay(forces, seed=0)
        floor_randomization = DomainRandomization(forces, seed=0)

        def report_scored(episode_return: float, length: int, task: float) -> None:
            floor_plr.update_on_episode(episode_return, length, task, score=episode_return)

        makers = {
            "bare": make_bare,
            "ours (local, PLR)": _maker(plr_server.client(), forces, score="return"),
            "ours (local, DomainRandomization)": _maker(dr_server.client(), forces),
            "floor: least wrapper, PLR": make_least(floor_plr.sample, report_scored),
            "floor: least wrapper, DomainRandomization": make_least(
                floor_randomization.sample, floor_randomization.update_on_episode
            ),
        }
        envs = {name: SyncVectorEnv([maker] * num_envs) for name, maker in makers.items()}
        for vector_env in envs.values():
            vector_env.reset(seed=0)
        results = compare({name: _runner(envs[name], actions) for name in envs}, rounds)
        for vector_env in envs.values():
            vector_env.close()
        fill = plr_server.curriculum.metrics()["buffer_fill"]
    report(
        f"SyncVectorEnv, {num_envs} CartPole envs, 4,000 tasks, backend='local'",
        results,
        extra=f" (PLR buffer fill {fill:.2f})",
    )


def _maker(client: Any, forces: DiscreteTaskSpace, score: str | None = None):
    return lambda: CurriculumWrapper(CartPoleTask(make_bare(), forces, tags_infos=False), client, score=score)


def _runner(envs: SyncVectorEnv, actions: np.ndarray):
    return lambda: timed_vector_steps(envs, actions)[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sections", default=",".join(SECTIONS))
    args = parser.parse_args(argv)
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = [name for name in sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    describe_machine()
    if "cost" in sections:
        cost(args.rounds)
    if "sync" in sections:
        sync_plr(args.rounds)


if __name__ == "__main__":
    main()
