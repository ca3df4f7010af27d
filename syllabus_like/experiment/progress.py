"""Progress of ``syllabus-like run``: a tqdm bar on a terminal, plain log lines otherwise.

Redirected output gets whole lines (no carriage returns), one per tenth of a
task's episode budget when it has one (``max_episodes``), else every 100
episodes. Used by the command line only; the library reports through
``on_episode`` callbacks and logging.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TextIO

from syllabus_like.experiment.stats import LearningStats

__all__ = ["ProgressReporter", "episode_budget"]

logger = logging.getLogger("syllabus_like.cli")


def episode_budget(stop_conditions: Any) -> int | None:
    """The task's ``max_episodes`` when its stop conditions are academia's dict with one."""
    if isinstance(stop_conditions, Mapping) and isinstance(stop_conditions.get("max_episodes"), int):
        return int(stop_conditions["max_episodes"])
    return None


class ProgressReporter:
    """``on_episode(task_name, stats)`` for an experiment run, labelled ``label``; :meth:`close` when done."""

    def __init__(self, label: str, budgets: Mapping[str, int | None], stream: TextIO, *, bar: bool) -> None:
        self.label = label
        self.budgets = dict(budgets)
        self.stream = stream
        self._bar: Any = None
        self._task: str | None = None
        self._use_bar = bar
        if bar:
            try:
                import tqdm  # noqa: F401
            except ImportError:
                self._use_bar = False

    def __call__(self, task_name: str, stats: LearningStats) -> None:
        if task_name != self._task:
            self._start(task_name)
        budget = self.budgets.get(task_name)
        if self._bar is not None:
            self._bar.update(stats.episodes - self._bar.n)
            return
        every = max(1, budget // 10) if budget else 100
        if stats.episodes % every == 0:
            total = f"/{budget}" if budget else ""
            logger.info(
                "%s %s: %d%s episodes, %d steps", self.label, task_name, stats.episodes, total, stats.total_steps
            )

    def _start(self, task_name: str) -> None:
        self.close()
        self._task = task_name
        if self._use_bar:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.budgets.get(task_name),
                desc=f"{self.label} {task_name}",
                unit="ep",
                file=self.stream,
                leave=True,
                dynamic_ncols=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
