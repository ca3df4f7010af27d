"""What ``syllabus-like aggregate`` computes for a folder of runs, and the table it prints."""

from __future__ import annotations

import os
from typing import Any

from syllabus_like.experiment.aggregator import LearningStatsAggregator
from syllabus_like.experiment.run_directory import load_runs, run_folders

__all__ = ["SUMMARY_FILE", "STATISTIC_NAMES", "format_summary_table", "summarize_runs"]

#: Written into each aggregated folder.
SUMMARY_FILE = "aggregate.json"
#: The aggregates over runs in the summary, per grid point.
STATISTIC_NAMES = ("mean", "std", "min", "max", "iqm")


def summarize_runs(
    directory: str | os.PathLike, time_domain: str, value_domain: str, *, seed: int = 0
) -> dict[str, Any]:
    """Per task: the time grid and, over runs, mean, std, min, max, IQM and a 95 % bootstrap interval of the mean.

    A task whose runs have no values in ``value_domain`` (e.g. no evaluation
    ran) gets ``{"skipped": reason}`` instead.
    """
    names, runs = load_runs(directory)
    tasks: dict[str, Any] = {}
    for task in names:
        aggregator = LearningStatsAggregator([run[task] for run in runs])
        try:
            aggregates = {name: aggregator.get_aggregate(time_domain, value_domain, name) for name in STATISTIC_NAMES}
        except ValueError as error:
            tasks[task] = {"skipped": str(error)}
            continue
        low, high, times = aggregator.get_confidence_interval(time_domain, value_domain, "mean", seed=seed)  # type: ignore[misc]
        tasks[task] = {
            "timestamps": times.tolist(),
            **{name: values.tolist() for name, (values, _) in aggregates.items()},  # type: ignore[misc]
            "ci95_low": low.tolist(),
            "ci95_high": high.tolist(),
        }
    return {
        "directory": os.fspath(directory),
        "runs": [os.fspath(folder) for folder in run_folders(directory)],
        "time_domain": time_domain,
        "value_domain": value_domain,
        "tasks": tasks,
    }


def format_summary_table(summaries: list[dict[str, Any]]) -> str:
    """One row per folder and task: the final point of each aggregate ("-" for a skipped task)."""
    header = ["directory", "task", "runs", "at", *STATISTIC_NAMES, "95% CI of mean"]
    rows = []
    for summary in summaries:
        for task, values in summary["tasks"].items():
            if "skipped" in values:
                rows.append([summary["directory"], task, str(len(summary["runs"])), *["-"] * (len(header) - 3)])
                continue
            at = values["timestamps"][-1]
            rows.append(
                [
                    summary["directory"],
                    task,
                    str(len(summary["runs"])),
                    f"{at:g}" if isinstance(at, float) else str(at),
                    *(f"{values[name][-1]:.4g}" for name in STATISTIC_NAMES),
                    f"[{values['ci95_low'][-1]:.4g}, {values['ci95_high'][-1]:.4g}]",
                ]
            )
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=False)).rstrip(),
        "  ".join("-" * width for width in widths),
    ]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip() for row in rows]
    return "\n".join(lines)
