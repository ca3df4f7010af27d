"""The ``syllabus-like`` command.

``syllabus-like demo`` trains a tabular Q-learning agent for the hardest level
of the crossing gridworld twice with the same episode budget, once directly
and once through a sequential curriculum of easier levels, and prints the
greedy success rate of both for each seed. See
:mod:`syllabus_like.demo.curriculum_demo`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TextIO

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``syllabus-like`` command."""
    from syllabus_like.demo.curriculum_demo import DemoConfig

    defaults = DemoConfig()
    parser = argparse.ArgumentParser(
        prog="syllabus-like", description="Curriculum learning for reinforcement learning."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="Q-learning on the crossing gridworld: hardest level directly vs. through a curriculum",
        description=(
            "Train a tabular Q-learning agent for the hardest level of the crossing gridworld "
            "twice with the same episode budget: directly, and through a SequentialCurriculum "
            "of easier levels. Prints stage switches and the greedy success rate of each run."
        ),
    )
    demo.add_argument("--seeds", type=int, nargs="+", default=list(defaults.seeds), metavar="SEED",
                      help=f"one direct and one curriculum run per seed (default: {list(defaults.seeds)})")
    demo.add_argument("--episodes", type=int, default=defaults.episodes,
                      help=f"training episodes per run, the shared budget (default: {defaults.episodes})")
    demo.add_argument("--eval-episodes", type=int, default=defaults.eval_episodes,
                      help=f"greedy evaluation episodes on the hardest level (default: {defaults.eval_episodes})")
    demo.add_argument("--min-stage-episodes", type=int, default=defaults.min_stage_episodes,
                      help=f"episodes every easier stage lasts at least (default: {defaults.min_stage_episodes})")
    demo.add_argument("--advance-return", type=float, default=defaults.advance_return,
                      help="mean return (success rate) of a stage's recent episodes needed to move on "
                      f"(default: {defaults.advance_return})")
    demo.add_argument("--return-buffer-size", type=int, default=defaults.return_buffer_size,
                      help=f"recent episodes in that mean (default: {defaults.return_buffer_size})")
    demo.add_argument("--epsilon", type=float, default=defaults.epsilon,
                      help=f"exploration rate of the agent (default: {defaults.epsilon})")
    demo.add_argument("--quiet", action="store_true", help="no progress line")
    return parser


class _ProgressLine:
    """A single carriage-return line on ``stream``, cleared before other output."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self._width = 0

    def show(self, seed: int, method: str, done: int, total: int, level: int) -> None:
        if not self.enabled:
            return
        filled = int(20 * done / total)
        text = f"seed {seed} {method:<10} [{'#' * filled}{'.' * (20 - filled)}] {done}/{total} episodes, level {level}"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def _demo(args: argparse.Namespace) -> int:
    from syllabus_like.demo.curriculum_demo import (
        HARDEST_LEVEL,
        DemoConfig,
        format_table,
        run_demo,
        stopping_condition,
    )
    from syllabus_like.envs.gridworld import NUM_LEVELS

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
    except ValueError as error:
        print(f"syllabus-like demo: {error}", file=sys.stderr)
        return 2

    progress = _ProgressLine(sys.stderr, enabled=not args.quiet)

    def event(message: str) -> None:
        progress.clear()
        print(message, flush=True)

    print(
        f"Crossing gridworld, levels 0..{HARDEST_LEVEL} (level {HARDEST_LEVEL} hardest); "
        f"{config.episodes} training episodes per run, seeds {list(config.seeds)}.\n"
        f"direct:     every episode on level {HARDEST_LEVEL}\n"
        f"curriculum: SequentialCurriculum over levels {list(range(NUM_LEVELS))}, "
        f"each easier stage ends when \"{stopping_condition(config)}\"\n"
    )
    start = time.perf_counter()
    result = run_demo(config, on_progress=progress.show, on_event=event)
    progress.clear()
    print(f"\nGreedy success rate on level {HARDEST_LEVEL} ({config.eval_episodes} episodes per run):")
    print(format_table(result))
    print(f"\nTotal time: {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``syllabus-like`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
