"""The curriculum demo: the same agent and budget, with and without a curriculum, through the experiment layer.

Two experiments, YAML files under ``examples/experiments/`` (the file a user
reads is the file that runs):

* ``gridworld_direct.yml``: every training episode plays the hardest level of
  :class:`~syllabus_like.envs.GridCrossingEnv`;
* ``gridworld_curriculum.yml``: one learning task whose
  :class:`~syllabus_like.SequentialCurriculum` plays level 0, 1, ... in turn,
  moving on when its stopping condition holds, and ends on the hardest level.

Both train a :class:`~syllabus_like.agents.QLearningAgent` for the same number
of episodes and end with one greedy evaluation on the hardest level. The
demo's settings (:class:`DemoConfig`) reach the files as ``$variables``. The
demo runs both for several seeds.

This module computes and reports through callbacks; it never prints. The
``syllabus-like demo`` command (:mod:`syllabus_like.cli`) shows the events,
the progress and the final table.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from syllabus_like.envs.gridworld import NUM_LEVELS
from syllabus_like.experiment import Experiment, LearningStats
from syllabus_like.experiment.agent_spec import build_agent

__all__ = [
    "DEMO_FILES",
    "HARDEST_LEVEL",
    "METHODS",
    "DemoConfig",
    "DemoResult",
    "RunResult",
    "StageSwitch",
    "experiments_directory",
    "format_table",
    "run_demo",
    "stopping_condition",
]

METHODS: tuple[str, str] = ("direct", "curriculum")
#: The experiment file of each method, under ``examples/experiments/``.
DEMO_FILES: dict[str, str] = {"direct": "gridworld_direct.yml", "curriculum": "gridworld_curriculum.yml"}
#: The level both runs are evaluated on.
HARDEST_LEVEL: int = NUM_LEVELS - 1

#: ``on_progress(seed, method, task_name, stats)`` after each training episode.
ProgressCallback = Callable[[int, str, str, LearningStats], None]
#: ``on_event(message)``: a line worth showing (stage switches, run results).
EventCallback = Callable[[str], None]


def experiments_directory() -> Path:
    """``examples/experiments``: under the working directory, else in the source checkout this package runs from."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = root / "examples" / "experiments"
        if all((candidate / name).exists() for name in DEMO_FILES.values()):
            return candidate
    raise FileNotFoundError(
        "the demo's experiment files (examples/experiments/gridworld_*.yml) were not found under the working "
        "directory nor next to the package; run it from the repository root or pass --experiments DIR"
    )


@dataclass(frozen=True)
class DemoConfig:
    """Everything the demo can be told; the defaults are the built-in demo (and the YAML files' own).

    Attributes:
        seeds: one direct and one curriculum run per seed.
        episodes: training episodes per run (the shared budget).
        eval_episodes: greedy evaluation episodes on the hardest level.
        min_stage_episodes: an easier stage lasts at least this many episodes.
        advance_return: ... and until the mean return of its last
            ``return_buffer_size`` episodes (= the success rate: the reward is
            1 at the goal, 0 elsewhere) reaches this.
        return_buffer_size: episodes in the ``episode_return`` mean.
        epsilon: the Q-learning agent's exploration rate.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    episodes: int = 1000
    eval_episodes: int = 100
    min_stage_episodes: int = 50
    advance_return: float = 0.9
    return_buffer_size: int = 50
    epsilon: float = 0.1

    def __post_init__(self) -> None:
        if len(self.seeds) == 0:
            raise ValueError("DemoConfig.seeds must name at least one seed, got none")
        for name in ("episodes", "eval_episodes", "min_stage_episodes", "return_buffer_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DemoConfig.{name} must be a positive int, got {value!r}")
        if not 0.0 <= self.advance_return <= 1.0:
            raise ValueError(f"DemoConfig.advance_return must be in [0, 1], got {self.advance_return!r}")

    def variables(self) -> dict[str, Any]:
        """The ``$variables`` the experiment files read."""
        return {
            "episodes": self.episodes,
            "eval_episodes": self.eval_episodes,
            "min_stage_episodes": self.min_stage_episodes,
            "advance_return": self.advance_return,
            "return_buffer_size": self.return_buffer_size,
            "epsilon": self.epsilon,
        }


@dataclass(frozen=True)
class StageSwitch:
    """The curriculum moved from ``from_level`` to ``to_level`` after ``episode`` training episodes."""

    episode: int
    from_level: int
    to_level: int


@dataclass(frozen=True)
class RunResult:
    """One training run (one seed, one method) and its greedy evaluation."""

    seed: int
    method: str
    success_rate: float
    train_episodes: int
    train_steps: int
    train_successes: int
    seconds: float
    stage_switches: tuple[StageSwitch, ...] = ()


@dataclass(frozen=True)
class DemoResult:
    """All runs of a demo, with the per-method mean success rate."""

    config: DemoConfig
    runs: tuple[RunResult, ...] = field(default_factory=tuple)

    def success_rates(self, method: str) -> list[float]:
        return [run.success_rate for run in self.runs if run.method == method]

    def mean_success(self, method: str) -> float:
        return float(np.mean(self.success_rates(method)))


def stopping_condition(config: DemoConfig) -> str:
    """The condition that ends every easier stage, as the curriculum file spells it with ``config``'s values."""
    return f"episodes>={config.min_stage_episodes} & episode_return>={config.advance_return}"


def _run(
    path: Path,
    config: DemoConfig,
    seed: int,
    method: str,
    output_dir: str | None,
    on_progress: ProgressCallback | None,
    on_event: EventCallback | None,
) -> RunResult:
    start = time.perf_counter()
    experiment = Experiment.load(path, variables=config.variables())
    experiment.seed = seed
    experiment.output_dir = output_dir
    agent = build_agent(experiment.agent_config or {}, experiment.tasks[0].env, seed)
    hook = None if on_progress is None else (lambda name, stats: on_progress(seed, method, name, stats))
    stats = experiment.run(agent, on_episode=hook)
    task_stats = stats[experiment.task_names[-1]]
    # The stage's index is the level it plays: curriculum_list is [0, 1, ..., hardest].
    switches = tuple(StageSwitch(s["episode"], s["from_stage"], s["to_stage"]) for s in task_stats.stage_switches)
    if on_event is not None:
        for switch in switches:
            on_event(
                f"seed {seed} {method}: level {switch.from_level} -> {switch.to_level} after {switch.episode} episodes"
            )
    result = RunResult(
        seed=seed,
        method=method,
        success_rate=float(task_stats.agent_evaluations[-1]),
        train_episodes=task_stats.episodes,
        train_steps=task_stats.total_steps,
        train_successes=int(np.sum(task_stats.episode_rewards > 0)),
        seconds=time.perf_counter() - start,
        stage_switches=switches,
    )
    if on_event is not None:
        on_event(
            f"seed {seed} {method}: greedy success on level {HARDEST_LEVEL} = {result.success_rate:.2f} "
            f"(trained {result.train_episodes} episodes, {result.train_successes} reached the goal, "
            f"{result.train_steps} steps, {result.seconds:.1f} s)"
        )
    return result


def run_demo(
    config: DemoConfig | None = None,
    *,
    experiments_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    on_progress: ProgressCallback | None = None,
    on_event: EventCallback | None = None,
) -> DemoResult:
    """Run both experiment files for every seed of ``config`` (default: the built-in demo).

    With ``output_dir``, each run's stats and agent go to
    ``output_dir/<method>/seed_<n>/`` (what ``syllabus-like aggregate`` and
    ``plot`` read).
    """
    config = DemoConfig() if config is None else config
    directory = Path(experiments_dir) if experiments_dir is not None else experiments_directory()
    runs = []
    for seed in config.seeds:
        for method in METHODS:
            run_output = None if output_dir is None else os.path.join(output_dir, method, f"seed_{seed}")
            runs.append(_run(directory / DEMO_FILES[method], config, seed, method, run_output, on_progress, on_event))
    return DemoResult(config=config, runs=tuple(runs))


def format_table(result: DemoResult) -> str:
    """A plain-text table: per seed, each method's greedy success rate on the hardest level; then the mean."""
    header = ["seed", *METHODS, "curriculum stages reached at episode"]
    rows: list[Sequence[str]] = []
    for seed in result.config.seeds:
        by_method = {run.method: run for run in result.runs if run.seed == seed}
        switches = by_method["curriculum"].stage_switches
        reached = ", ".join(f"L{s.to_level}@{s.episode}" for s in switches) or "-"
        rows.append([str(seed), *(f"{by_method[m].success_rate:.2f}" for m in METHODS), reached])
    rows.append(["mean", *(f"{result.mean_success(m):.2f}" for m in METHODS), ""])
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=False)).rstrip(),
        "  ".join("-" * width for width in widths),
    ]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip() for row in rows]
    return "\n".join(lines)
