"""How promptly a stage switch reaches Ray workers: episodes started on the old stage's task after it.

``N`` Ray tasks (4 and 16) each step a wrapped random-action CartPole through a
``TaskServer(backend="ray")`` client at its default settings
(``prefetch="auto"``). The curriculum is a SequentialCurriculum whose first
stage pushes with 9.5 N and whose second with 10.5 N, switching once
``episodes>=K`` (K = 50 episodes per worker, so the workers are in full
swing). The actor notes the wall-clock time of the switch; each worker notes
the time and task of every reset and plays on for ``--seconds`` in all. Per
worker, the figure is the number of resets on the old stage's task after the
switch: its maximum and mean over the workers are printed, per repeat.

A random CartPole episode lasts about 22 steps, so the workers start an
episode every fraction of a millisecond: the worst case for staleness (with
``prefetch="auto"`` each request carries ~0.1 s of tasks).

Workers on the actor's node learn of a switch from a file in shared memory;
``--board-only`` makes them learn of it as workers on other nodes do, from the
VersionBoard actor (one message, so a few milliseconds, more on a loaded machine).

Usage: ``python benchmarks/ray_staleness.py [--workers 4,16] [--repeats 3] [--seconds 4] [--board-only]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np

from syllabus_like import DiscreteTaskSpace, SequentialCurriculum
from syllabus_like.server import TaskServer
from syllabus_like.wrappers import CurriculumWrapper, TaskWrapper

FORCES = DiscreteTaskSpace([9.5, 10.5])
OLD, NEW = 9.5, 10.5


class CartPoleTask(TaskWrapper):
    """Applies a task to CartPole: the push force in newtons."""

    def change_task(self, task: float) -> None:
        self.env.unwrapped.force_mag = task


class TimedSequential(SequentialCurriculum):
    """A SequentialCurriculum that notes when (``time.time()``, in the actor) it switched."""

    switched_at: float | None = None

    def check_stopping_conditions(self) -> bool:
        switched = super().check_stopping_conditions()
        if switched:
            self.switched_at = time.time()
        return switched


def play(client: Any, seconds: float, seed: int, board_only: bool = False) -> list[tuple[float, float]]:
    """Step a wrapped CartPole with random actions for ``seconds``; return ``(time, task)`` of every reset.

    ``board_only``: learn of switches as a worker on another node than the actor does (from the
    VersionBoard actor, not the shared-memory file).
    """
    if board_only:
        from syllabus_like.server import ray_backend

        ray_backend._map_version_file = lambda path, writable=False: None
    env = CurriculumWrapper(CartPoleTask(gym.make("CartPole-v1"), FORCES, tags_infos=False), client)
    rng = np.random.default_rng(seed)
    resets = []
    env.reset(seed=seed)
    resets.append((time.time(), env.task))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for action in rng.integers(0, 2, size=256):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
                resets.append((time.time(), env.task))
    env.close()
    return resets


def measure(num_workers: int, seconds: float, episodes_per_worker: int, board_only: bool) -> tuple[int, float, int]:
    """One run: (max, mean) over workers of old-stage resets after the switch, and the episodes played."""
    import ray

    curriculum = TimedSequential([OLD, NEW], [f"episodes>={episodes_per_worker * num_workers}"], FORCES, seed=0)
    with TaskServer(curriculum, backend="ray") as server:
        work = ray.remote(play)
        client = server.client()
        resets = ray.get([work.remote(client, seconds, seed, board_only) for seed in range(num_workers)])
        server.flush()
        switched_at = server.curriculum.switched_at
    if switched_at is None:
        raise RuntimeError("the stage never switched: play longer (--seconds)")
    stale = [sum(1 for at, task in worker if at > switched_at and task == OLD) for worker in resets]
    return max(stale), statistics.mean(stale), sum(map(len, resets))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="4,16", help="comma-separated worker counts (default 4,16)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count (default 3)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds each worker plays (default 4)")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per worker before the switch")
    parser.add_argument(
        "--board-only", action="store_true", help="workers learn of switches as on another node (VersionBoard)"
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="ray.init(num_cpus=...) (default: the workers)")
    args = parser.parse_args(argv)
    import ray

    counts = [int(count) for count in args.workers.split(",")]
    ray.init(num_cpus=args.num_cpus or max(counts), include_dashboard=False, log_to_driver=False)
    try:
        print(f"Ray {ray.__version__}; episodes on the old stage's task started after the switch, per worker")
        for num_workers in counts:
            for repeat in range(args.repeats):
                worst, mean, episodes = measure(num_workers, args.seconds, args.episodes, args.board_only)
                print(
                    f"  {num_workers:>2} workers, run {repeat + 1}: max {worst}, mean {mean:.2f} "
                    f"({episodes} episodes in all)"
                )
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
