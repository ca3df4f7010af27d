"""The ``syllabus-like`` command.

* ``run EXPERIMENT.yml [--seeds 0 1 2] [--jobs N] [--output DIR] [-v...]``:
  one run of an experiment per seed, into ``DIR/seed_<n>/``;
* ``aggregate DIR... [--time-domain ...] [--value-domain ...]``: a table
  over each folder's runs on stdout, and ``DIR/aggregate.json``;
* ``plot DIR... -o FILE.png``: their curves on one figure (the ``plot`` extra);
* ``demo``: Q-learning on the crossing gridworld, the hardest level directly
  vs. through a curriculum, both run from ``examples/experiments/``.

Progress: a tqdm bar when stderr is a terminal, plain log lines otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

logger = logging.getLogger("syllabus_like.cli")


def _variable(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` with VALUE read as YAML (so numbers stay numbers)."""
    import yaml

    name, separator, value = text.partition("=")
    if not separator or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, yaml.safe_load(value)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``syllabus-like`` command."""
    from syllabus_like.demo.curriculum_demo import DemoConfig
    from syllabus_like.experiment.aggregator import AGGREGATE_FUNCTIONS  # noqa: F401  (documented choices)
    from syllabus_like.experiment.trajectories import TIME_DOMAINS, VALUE_DOMAINS

    parser = argparse.ArgumentParser(
        prog="syllabus-like", description="Curriculum learning for reinforcement learning."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run an experiment YAML file, once per seed",
        description="Run an experiment (YAML) once per seed, each into OUTPUT/seed_<n>/. "
        "Re-running into the same OUTPUT resumes: finished tasks are skipped.",
    )
    run.add_argument("experiment", help="the experiment file (*.yml)")
    run.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="SEED", help="one run per seed (default: 0)")
    run.add_argument("--jobs", type=int, default=1, help="seeds run in this many processes at once (default: 1)")
    run.add_argument("--output", help="where runs go (default: the file's output_dir, else runs/<file name>)")
    run.add_argument("--agent", help="agent type 'package.module:Name', instead of the file's agent: block")
    run.add_argument(
        "--var",
        type=_variable,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a $variable of the file (repeatable)",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=1,
        help="more log lines (-v: evaluation means, -vv: each evaluation, -vvv: each episode)",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress and no log lines")

    def add_domains(command: argparse.ArgumentParser, value_default: str, time_default: str) -> None:
        command.add_argument(
            "--time-domain", choices=TIME_DOMAINS, default=time_default, help=f"x axis (default: {time_default})"
        )
        command.add_argument(
            "--value-domain",
            choices=VALUE_DOMAINS,
            default=value_default,
            help=f"what is aggregated (default: {value_default})",
        )

    aggregate = commands.add_parser(
        "aggregate",
        help="aggregate the runs in folders written by 'run'",
        description="Aggregate each folder's runs (its seed_<n>/ folders) per task; print "
        "a table of the final values and write DIR/aggregate.json.",
    )
    aggregate.add_argument("directories", nargs="+", metavar="DIR")
    add_domains(aggregate, "agent_evaluations", "steps")

    plot = commands.add_parser(
        "plot",
        help="plot the runs in folders written by 'run' (needs the plot extra)",
        description="Mean and 95%% bootstrap band over each folder's runs, tasks end to end, "
        "evaluation scores below, a vertical line at each task or stage switch.",
    )
    plot.add_argument("directories", nargs="+", metavar="DIR")
    plot.add_argument("-o", "--output", required=True, help="the image to write (e.g. runs.png)")
    add_domains(plot, "episode_rewards_moving_avg", "episodes")

    bench = commands.add_parser(
        "bench",
        help="benchmark suites: 'efficacy' (automatic curricula against domain randomization)",
        description="Run a benchmark suite; arguments after its name go to the suite (e.g. 'bench efficacy --quick').",
    )
    bench.add_argument("suite", choices=["efficacy"], help="the suite to run")
    bench.add_argument("suite_args", nargs=argparse.REMAINDER, help="the suite's own arguments (see its --help)")

    defaults = DemoConfig()
    demo = commands.add_parser(
        "demo",
        help="Q-learning on the crossing gridworld: hardest level directly vs. through a curriculum",
        description=(
            "Train a tabular Q-learning agent for the hardest level of the crossing gridworld twice with the same "
            "episode budget: directly (examples/experiments/gridworld_direct.yml) and through a SequentialCurriculum "
            "of easier levels (gridworld_curriculum.yml). Prints stage switches and the greedy success rate of each."
        ),
    )
    demo.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(defaults.seeds),
        metavar="SEED",
        help=f"one direct and one curriculum run per seed (default: {list(defaults.seeds)})",
    )
    demo.add_argument(
        "--episodes",
        type=int,
        default=defaults.episodes,
        help=f"training episodes per run, the shared budget (default: {defaults.episodes})",
    )
    demo.add_argument(
        "--eval-episodes",
        type=int,
        default=defaults.eval_episodes,
        help=f"greedy evaluation episodes on the hardest level (default: {defaults.eval_episodes})",
    )
    demo.add_argument(
        "--min-stage-episodes",
        type=int,
        default=defaults.min_stage_episodes,
        help=f"episodes every easier stage lasts at least (default: {defaults.min_stage_episodes})",
    )
    demo.add_argument(
        "--advance-return",
        type=float,
        default=defaults.advance_return,
        help="mean return (success rate) of a stage's recent episodes needed to move on "
        f"(default: {defaults.advance_return})",
    )
    demo.add_argument(
        "--return-buffer-size",
        type=int,
        default=defaults.return_buffer_size,
        help=f"recent episodes in that mean (default: {defaults.return_buffer_size})",
    )
    demo.add_argument(
        "--epsilon",
        type=float,
        default=defaults.epsilon,
        help=f"exploration rate of the agent (default: {defaults.epsilon})",
    )
    demo.add_argument("--experiments", help="folder of the two YAML files (default: examples/experiments)")
    demo.add_argument("--output", help="keep the runs' stats here, for 'aggregate' and 'plot' (default: not kept)")
    demo.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each message (not the one at creation)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _configure_logging(verbose: int) -> None:
    """Log lines (the library's, filtered by verbosity, and ours) to stderr as plain messages."""
    root = logging.getLogger("syllabus_like")
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO if verbose > 0 else logging.WARNING)


# ------------------------------------------------------------------------------ run


def run_one_seed(
    path: str,
    seed: int,
    output_dir: str,
    variables: dict[str, Any],
    agent_type: str | None,
    verbose: int,
    progress: str,
) -> dict[str, Any]:
    """One run of the experiment at ``path``; returns a short summary (runs in a worker process with --jobs)."""
    from syllabus_like.experiment import Experiment
    from syllabus_like.experiment.agent_spec import build_agent
    from syllabus_like.experiment.progress import ProgressReporter, episode_budget

    _configure_logging(verbose)
    experiment = Experiment.load(path, variables=variables)
    experiment.seed = seed
    experiment.output_dir = output_dir
    agent_config = experiment.agent_config
    if agent_type is not None:
        same = agent_config is not None and agent_config.get("type") == agent_type
        agent_config = {"type": agent_type, "args": (agent_config or {}).get("args", {}) if same else {}}
    if agent_config is None:
        raise ValueError(f"{path} names no agent (an 'agent:' block with 'type'); give one with --agent")
    agent = build_agent(agent_config, experiment.tasks[0].env, seed)
    reporter = None
    if progress != "none":
        budgets = {
            name: episode_budget(task.stop_conditions)
            for name, task in zip(experiment.task_names, experiment.tasks, strict=False)
        }
        reporter = ProgressReporter(f"seed {seed}", budgets, sys.stderr, bar=progress == "bar")
    try:
        stats = experiment.run(agent, min(verbose, 4), on_episode=reporter)
    finally:
        if reporter is not None:
            reporter.close()
    summary = {}
    for name, task_stats in stats.items():
        summary[name] = {
            "episodes": task_stats.episodes,
            "steps": task_stats.total_steps,
            "last_evaluation": float(task_stats.agent_evaluations[-1]) if len(task_stats.agent_evaluations) else None,
        }
    return {"seed": seed, "output_dir": output_dir, "tasks": summary}


def _run(args: argparse.Namespace) -> int:
    from syllabus_like.experiment.yaml_files import read_yaml

    verbose = 0 if args.quiet else args.verbose
    _configure_logging(verbose)
    path = os.path.abspath(args.experiment)
    if not os.path.exists(path):
        print(f"syllabus-like run: no such file: {args.experiment}", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print(f"syllabus-like run: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    output = args.output
    if output is None:
        declared = (read_yaml(path) or {}).get("output_dir")
        output = declared if isinstance(declared, str) else os.path.join("runs", Path(path).name.split(".")[0])
    variables = dict(args.var)
    progress = "none" if args.quiet else ("bar" if sys.stderr.isatty() and args.jobs == 1 else "lines")
    jobs = [
        (path, seed, os.path.join(output, f"seed_{seed}"), variables, args.agent, verbose, progress)
        for seed in args.seeds
    ]
    start = time.perf_counter()
    try:
        if args.jobs == 1 or len(jobs) == 1:
            results = [run_one_seed(*job) for job in jobs]
        else:
            # spawn, not fork: a fresh interpreter per worker inherits no threads or locks of this one.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(args.jobs, len(jobs)), mp_context=context) as pool:
                results = list(pool.map(run_one_seed, *zip(*jobs, strict=False)))
    except ValueError as error:
        print(f"syllabus-like run: {error}", file=sys.stderr)
        return 2
    for result in results:
        for name, task in result["tasks"].items():
            evaluation = "-" if task["last_evaluation"] is None else f"{task['last_evaluation']:.4g}"
            print(
                f"seed {result['seed']}  {name}: {task['episodes']} episodes, {task['steps']} steps, "
                f"last evaluation {evaluation}"
            )
    print(
        f"{len(results)} run(s) in {output} ({time.perf_counter() - start:.1f} s); "
        f"next: syllabus-like aggregate {output}  /  syllabus-like plot {output} -o {output}.png"
    )
    return 0


# ------------------------------------------------------------------- aggregate, plot


def _aggregate(args: argparse.Namespace) -> int:
    from syllabus_like.experiment.summary import SUMMARY_FILE, format_summary_table, summarize_runs

    summaries = []
    try:
        for directory in args.directories:
            summary = summarize_runs(directory, args.time_domain, args.value_domain)
            with open(os.path.join(directory, SUMMARY_FILE), "w", encoding="utf-8") as file:
                json.dump(summary, file, indent=2)
            summaries.append(summary)
    except (ValueError, ImportError) as error:  # ImportError: scipy missing, the message names the extra
        print(f"syllabus-like aggregate: {error}", file=sys.stderr)
        return 2
    print(f"{args.value_domain} against {args.time_domain}, at the last point every run reached:")
    print(format_summary_table(summaries))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from syllabus_like.experiment.plotting import plot_runs

    try:
        path = plot_runs(args.directories, args.output, time_domain=args.time_domain, value_domain=args.value_domain)
    except (ValueError, ImportError) as error:  # ImportError: matplotlib missing, the message names the extra
        print(f"syllabus-like plot: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


# ------------------------------------------------------------------------------ demo


def _demo(args: argparse.Namespace) -> int:
    from syllabus_like.demo.curriculum_demo import (
        DEMO_FILES,
        HARDEST_LEVEL,
        DemoConfig,
        experiments_directory,
        format_table,
        run_demo,
        stopping_condition,
    )
    from syllabus_like.experiment.progress import ProgressReporter

    try:
        config = DemoConfig(
            seeds=tuple(args.seeds),
            episodes=args.episodes,
            eval_episodes=args.eval_episodes,
            min_stage_episodes=args.min_stage_episodes,
            advance_return=args.advance_return,
            return_buffer_size=args.return_buffer_size,
            epsilon=args.epsilon,
        )
        directory = Path(args.experiments) if args.experiments else experiments_directory()
    except (ValueError, FileNotFoundError) as error:
        print(f"syllabus-like demo: {error}", file=sys.stderr)
        return 2

    _configure_logging(0 if args.quiet else 1)
    reporters: dict[tuple[int, str], ProgressReporter] = {}
    bar = sys.stderr.isatty()

    def on_progress(seed: int, method: str, task: str, stats: Any) -> None:
        key = (seed, method)
        if key not in reporters:
            for reporter in reporters.values():
                reporter.close()
            # The demo's task names are its methods: "seed 0 curriculum: 300/1000 episodes".
            reporters[key] = ProgressReporter(f"seed {seed}", {task: config.episodes}, sys.stderr, bar=bar)
        reporters[key](task, stats)

    def event(message: str) -> None:
        for reporter in reporters.values():
            reporter.close()
        print(message, flush=True)

    print(
        f"Crossing gridworld, levels 0..{HARDEST_LEVEL} (level {HARDEST_LEVEL} hardest); "
        f"{config.episodes} training episodes per run, seeds {list(config.seeds)}.\n"
        f"direct:     every episode on level {HARDEST_LEVEL}  ({directory / DEMO_FILES['direct']})\n"
        f"curriculum: SequentialCurriculum over levels 0..{HARDEST_LEVEL}, each easier stage ends when "
        f'"{stopping_condition(config)}"  ({directory / DEMO_FILES["curriculum"]})\n'
    )
    start = time.perf_counter()
    result = run_demo(
        config,
        experiments_dir=directory,
        output_dir=args.output,
        on_progress=None if args.quiet else on_progress,
        on_event=event,
    )
    for reporter in reporters.values():
        reporter.close()
    print(f"\nGreedy success rate on level {HARDEST_LEVEL} ({config.eval_episodes} episodes per run):")
    print(format_table(result))
    print(f"\nTotal time: {time.perf_counter() - start:.1f} s")
    if args.output:
        print(
            f"Runs kept in {args.output}: syllabus-like plot {args.output}/direct {args.output}/curriculum -o demo.png"
        )
    return 0


def _bench(args: argparse.Namespace) -> int:
    """``syllabus-like bench SUITE ...``: hand the remaining arguments to the suite."""
    from syllabus_like.efficacy import main as efficacy_main

    return efficacy_main(args.suite_args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``syllabus-like`` console script."""
    args = build_parser().parse_args(argv)
    handlers = {"run": _run, "aggregate": _aggregate, "plot": _plot, "demo": _demo, "bench": _bench}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
