"""Reading what ``syllabus-like run`` wrote: one ``seed_<n>/`` folder per run, each an experiment's ``output_dir``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from syllabus_like.experiment.experiment import EXPERIMENT_COPY, RUN_FILE
from syllabus_like.experiment.stats import LearningStats, stats_path
from syllabus_like.experiment.yaml_files import read_yaml

__all__ = ["load_runs", "run_folders"]


def run_folders(directory: str | os.PathLike) -> list[Path]:
    """The runs in ``directory``: itself when it holds a ``run.json``, else its sub-folders that do (sorted)."""
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    if (root / RUN_FILE).exists():
        return [root]
    folders = sorted((p for p in root.iterdir() if (p / RUN_FILE).exists()), key=_seed_order)
    if not folders:
        raise ValueError(f"{root} holds no run: no {RUN_FILE} in it or in its sub-folders (seed_<n>/)")
    return folders


def _seed_order(path: Path) -> tuple[int, str]:
    suffix = path.name.rsplit("_", 1)[-1]
    return (int(suffix), path.name) if suffix.isdigit() else (1 << 62, path.name)


def load_runs(directory: str | os.PathLike) -> tuple[list[str], list[dict[str, LearningStats]]]:
    """``(task names in order, per run a dict task name -> stats)`` for the tasks every run has stats for."""
    runs: list[dict[str, LearningStats]] = []
    order: list[str] = []
    for folder in run_folders(directory):
        copy = folder / EXPERIMENT_COPY
        if copy.exists():
            names = [str(name) for name in read_yaml(copy)["order"]]
        else:
            with open(folder / RUN_FILE, encoding="utf-8") as file:
                names = list(json.load(file).get("finished_tasks", []))
        run = {
            name: LearningStats.load(stats_path(folder / name))
            for name in names
            if Path(stats_path(folder / name)).exists()
        }
        runs.append(run)
        order = order or names
    shared = [name for name in order if all(name in run for run in runs)]
    if not shared:
        raise ValueError(f"the runs in {directory} share no task with saved stats")
    return shared, [{name: run[name] for name in shared} for run in runs]
