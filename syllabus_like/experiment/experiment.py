"""An ordered list of learning tasks run one after another with one agent (academia's ``Curriculum``).

Named ``Experiment`` because ``Curriculum`` in this library is the task
sampler. YAML in academia's format (``order`` + ``tasks``, a task inline or as
``path:`` to a ``*.task.yml`` relative to the file), plus ``variables``,
``defaults``, ``seed`` and ``agent`` (see ``docs/experiments.md``).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from syllabus_like.experiment.learning_task import LearningTask
from syllabus_like.experiment.stats import LearningStats, stats_path
from syllabus_like.experiment.verbosity import TASK_EVENTS, check_verbose, log_at
from syllabus_like.experiment.yaml_files import read_yaml, substitute_variables, with_suffix, write_yaml

__all__ = ["EXPERIMENT_FIELDS", "RUN_FILE", "Experiment", "derive_task_seed"]

logger = logging.getLogger(__name__)

#: Top-level keys of an experiment's YAML.
EXPERIMENT_FIELDS: tuple[str, ...] = ("output_dir", "seed", "agent", "variables", "defaults", "order", "tasks")
#: In ``output_dir``: what ran, when, and which tasks finished (what a resumed run skips).
RUN_FILE = "run.json"
#: In ``output_dir``: the experiment as it ran.
EXPERIMENT_COPY = "experiment.yml"


def derive_task_seed(seed: int, position: int) -> int:
    """The seed of the task at ``position`` in an experiment seeded with ``seed`` (for tasks without their own)."""
    return int(np.random.SeedSequence([seed, position]).generate_state(1)[0])


def _merge_defaults(defaults: Mapping[str, Any], task: Mapping[str, Any]) -> dict[str, Any]:
    """``task`` over ``defaults``; ``env_args`` merged key by key, every other key replaced whole."""
    merged = {**defaults, **task}
    if isinstance(defaults.get("env_args"), Mapping) and isinstance(task.get("env_args"), Mapping):
        merged["env_args"] = {**defaults["env_args"], **task["env_args"]}
    return merged


def _package_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("syllabus-like", "numpy", "gymnasium", "pyyaml"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Experiment:
    """Runs ``tasks`` one after another with one agent.

    Args:
        tasks: the learning tasks, in the order they run.
        output_dir: when given, gets per task its stats (``NAME.stats.json``)
            and saved agent (``NAME.agent...``, as the agent's ``save`` names
            it), a copy of the experiment as it ran (``experiment.yml``) and
            ``run.json`` (seed, package versions, start and end times, the
            finished tasks). Running again into the same directory resumes:
            finished tasks are skipped and the agent is loaded from the last
            one's save, so a killed run loses at most the task in progress.
        seed: seeds the tasks that have no seed of their own (each from
            ``(seed, position)``).
        agent_config: the YAML's ``agent:`` block (``{"type": ..., "args":
            ...}``), kept for the ``syllabus-like run`` command.

    Unnamed tasks are named by their position (``"0"``, ``"1"``, ...).
    """

    def __init__(
        self,
        tasks: Sequence[LearningTask],
        output_dir: str | os.PathLike | None = None,
        *,
        seed: int | None = None,
        agent_config: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Sequence) or len(tasks) == 0:
            raise ValueError(f"an Experiment needs a non-empty list of LearningTask, got {tasks!r}")
        for index, task in enumerate(tasks):
            if not isinstance(task, LearningTask):
                raise ValueError(f"task {index} of the Experiment is not a LearningTask: {task!r}")
        names = [task.name if task.name is not None else str(index) for index, task in enumerate(tasks)]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"task names must be unique in an Experiment; repeated: {duplicated}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.tasks = list(tasks)
        self.task_names = names
        self.output_dir = None if output_dir is None else os.fspath(output_dir)
        self.seed = None if seed is None else int(seed)
        self.agent_config = None if agent_config is None else dict(agent_config)

    @property
    def stats(self) -> dict[str, LearningStats]:
        """Task name -> that task's statistics."""
        return {name: task.stats for name, task in zip(self.task_names, self.tasks, strict=False)}

    # ----------------------------------------------------------------- YAML
    def to_dict(self) -> dict[str, Any]:
        """academia's layout: ``order`` (task names) and ``tasks`` (name -> task configuration)."""
        data: dict[str, Any] = {}
        if self.output_dir is not None:
            data["output_dir"] = self.output_dir
        if self.seed is not None:
            data["seed"] = self.seed
        if self.agent_config is not None:
            data["agent"] = self.agent_config
        data["order"] = list(self.task_names)
        tasks = {}
        for name, task in zip(self.task_names, self.tasks, strict=False):
            entry = task.to_dict()
            entry.pop("name", None)  # the key is the name
            tasks[name] = entry
        data["tasks"] = tasks
        return data

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        base_dir: str | os.PathLike | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> Experiment:
        """An experiment from its configuration; ``path:`` entries are read relative to ``base_dir``.

        ``variables`` fill ``$name`` references over the file's own
        ``variables:`` block; ``defaults:`` is merged under every task.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"an experiment configuration must be a mapping, got {data!r}")
        unknown = [key for key in data if key not in EXPERIMENT_FIELDS]
        if unknown:
            raise ValueError(f"unknown experiment setting(s) {unknown}; valid ones are: {', '.join(EXPERIMENT_FIELDS)}")
        declared = data.get("variables") or {}
        if not isinstance(declared, Mapping):
            raise ValueError(f"variables must be a mapping of names to values, got {declared!r}")
        filled = {**declared, **(variables or {})}
        data = substitute_variables({key: value for key, value in data.items() if key != "variables"}, filled)
        base_dir = os.fspath(base_dir) if base_dir is not None else os.getcwd()

        tasks_data = data.get("tasks")
        if isinstance(tasks_data, list):
            tasks_data = dict(enumerate(tasks_data))
        if not isinstance(tasks_data, Mapping) or not tasks_data:
            raise ValueError(f"an experiment needs 'tasks': a mapping of task names to tasks, got {tasks_data!r}")
        order = data.get("order", list(tasks_data))
        if not isinstance(order, list) or not order:
            raise ValueError(f"'order' must be a non-empty list of task names, got {order!r}")
        keys = {str(key): key for key in tasks_data}
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            raise ValueError(f"defaults must be a mapping of task settings, got {defaults!r}")
        seed = data.get("seed")

        tasks = []
        for name in order:
            if str(name) not in keys:
                raise ValueError(f"'order' names task {name!r}, which is not in 'tasks' ({', '.join(keys)})")
            entry = tasks_data[keys[str(name)]]
            if not isinstance(entry, Mapping):
                raise ValueError(f"task {name!r} must be a mapping of settings, got {entry!r}")
            entry = dict(entry)
            if "path" in entry:
                included = os.path.join(base_dir, with_suffix(entry.pop("path"), ".task.yml"))
                file_data = substitute_variables(read_yaml(included), filled)
                if not isinstance(file_data, Mapping):
                    raise ValueError(f"task file {included} must hold a mapping of settings, got {file_data!r}")
                entry = {**file_data, **entry}
            entry = _merge_defaults(defaults, entry)
            entry.setdefault("name", str(name))
            try:
                tasks.append(LearningTask.from_dict(entry))
            except (ValueError, TypeError) as error:
                raise ValueError(f"task {name!r}: {error}") from error
        return cls(tasks, data.get("output_dir"), seed=seed, agent_config=data.get("agent"))

    def save(self, path: str | os.PathLike) -> str:
        """Write the configuration as YAML (``.experiment.yml`` appended unless it ends in ``.yml``); return the path."""
        return write_yaml(self.to_dict(), with_suffix(path, ".experiment.yml"))

    @classmethod
    def load(cls, path: str | os.PathLike, variables: Mapping[str, Any] | None = None) -> Experiment:
        """An experiment from a YAML file (academia's ``*.curriculum.yml`` too), ``$variables`` filled in."""
        path = with_suffix(path, ".experiment.yml")
        return cls.from_dict(read_yaml(path), os.path.dirname(os.path.abspath(path)), variables)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Experiment):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Experiment(tasks={self.task_names}, output_dir={self.output_dir!r}, seed={self.seed!r})"

    # ------------------------------------------------------------------ run
    def run(
        self,
        agent: Any,
        verbose: int = 0,
        *,
        on_episode: Callable[[str, LearningStats], None] | None = None,
    ) -> dict[str, LearningStats]:
        """Run every task in order with ``agent``; return :attr:`stats`.

        ``on_episode(task_name, stats)`` is called after each training
        episode. With an ``output_dir``, finished tasks of an earlier run there
        are skipped (see the class docstring); an interrupted task's stats and
        agent are saved before the interruption is re-raised.
        """
        verbose = check_verbose(verbose)
        record = self._start_record(agent, verbose)
        finished: list[str] = record["finished_tasks"] if record is not None else []
        for position, (name, task) in enumerate(zip(self.task_names, self.tasks, strict=False)):
            if name in finished:
                log_at(logger, verbose, TASK_EVENTS, "%s already finished in %s; skipped", name, self.output_dir)
                continue
            seed = task.seed
            if seed is None and self.seed is not None:
                seed = derive_task_seed(self.seed, position)
            episode_hook = None if on_episode is None else (lambda stats, name=name: on_episode(name, stats))
            try:
                task.run(agent, verbose, seed=seed, on_episode=episode_hook)
            except BaseException:
                if record is not None:
                    self._save_task(name, task, agent, record)
                    record["status"] = f"interrupted in task {name}"
                    self._write_record(record)
                raise
            if record is not None:
                self._save_task(name, task, agent, record)
                finished.append(name)
                self._write_record(record)
        if record is not None:
            record["status"] = "finished"
            record["ended"] = _now()
            self._write_record(record)
        return self.stats

    def _start_record(self, agent: Any, verbose: int) -> dict[str, Any] | None:
        """Read or start ``run.json``; on a resume, restore the finished tasks' stats and the agent."""
        if self.output_dir is None:
            return None
        os.makedirs(self.output_dir, exist_ok=True)
        record_path = os.path.join(self.output_dir, RUN_FILE)
        if os.path.exists(record_path):
            with open(record_path, encoding="utf-8") as file:
                record = json.load(file)
            finished = [name for name in record.get("finished_tasks", []) if name in self.task_names]
            if finished:
                load = getattr(agent, "load", None)
                if not callable(load):
                    raise ValueError(
                        f"{self.output_dir} holds a run that finished tasks {finished}; resuming it needs an agent "
                        f"with load(path), and {agent!r} has none (or use a fresh output_dir)"
                    )
                for name in finished:
                    self.tasks[self.task_names.index(name)].stats = LearningStats.load(
                        stats_path(os.path.join(self.output_dir, name))
                    )
                load(os.path.join(self.output_dir, record["agent_files"][finished[-1]]))
                log_at(logger, verbose, TASK_EVENTS, "resuming %s after tasks %s", self.output_dir, finished)
            record["finished_tasks"] = finished
            record.setdefault("resumed", []).append(_now())
        else:
            record = {
                "seed": self.seed,
                "versions": _package_versions(),
                "started": _now(),
                "ended": None,
                "status": "running",
                "finished_tasks": [],
                "agent_files": {},
            }
        record["status"] = "running"
        try:
            self.save(os.path.join(self.output_dir, EXPERIMENT_COPY))
        except ValueError as error:  # a task whose curriculum is an object has no YAML form
            log_at(
                logger,
                verbose,
                TASK_EVENTS,
                "no copy of the experiment in %s: %s",
                self.output_dir,
                error,
                warning=True,
            )
        self._write_record(record)
        return record

    def _save_task(self, name: str, task: LearningTask, agent: Any, record: dict[str, Any]) -> None:
        assert self.output_dir is not None
        task.stats.save(os.path.join(self.output_dir, name))
        save = getattr(agent, "save", None)
        if callable(save):
            record["agent_files"][name] = os.path.relpath(
                save(os.path.join(self.output_dir, f"{name}.agent")), self.output_dir
            )

    def _write_record(self, record: dict[str, Any]) -> None:
        assert self.output_dir is not None
        path = os.path.join(self.output_dir, RUN_FILE)
        temporary = path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=2)
        os.replace(temporary, path)
