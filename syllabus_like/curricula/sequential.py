"""Stages of curricula, advanced by stopping conditions."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from math import isfinite
from typing import Any, cast

import numpy as np

from syllabus_like.conditions import Condition
from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.constant import Constant
from syllabus_like.curricula.domain_randomization import DomainRandomization
from syllabus_like.curricula.recent_returns import RecentReturns
from syllabus_like.stages import (
    DEFAULT_SMOOTHING,
    SEQUENTIAL_METRICS,
    check_custom_metrics,
    check_sequential_arguments,
    check_smoothing,
    is_subspace,
    normalize_condition,
    normalize_stage,
    sequential_metric_names,
)
from syllabus_like.task_space import SubsetTaskSpace, TaskSpace
from syllabus_like.validation import check_sample_count

__all__ = ["SEQUENTIAL_METRICS", "SequentialCurriculum"]

logger = logging.getLogger(__name__)


StoppingCondition = str | Condition | Callable[[Mapping[str, float]], bool]
StageChangeHook = Callable[[int, int], Any]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _checks_its_state(curriculum: Curriculum) -> bool:
    """Whether ``curriculum`` loads its state through :class:`Curriculum`'s two steps (check, then restore).

    True unless a class overrides ``load_state_dict`` below the last class that
    overrides ``_check_state`` (a curriculum that loads its state its own way).
    """
    mro = type(curriculum).__mro__
    load_owner = next(klass for klass in mro if "load_state_dict" in vars(klass))
    check_owner = next(klass for klass in mro if "_check_state" in vars(klass))
    return issubclass(check_owner, load_owner)


class SequentialCurriculum(Curriculum):
    """Runs ``curriculum_list`` one stage at a time.

    Stage ``i`` moves on to stage ``i + 1`` when ``stopping_conditions[i]``
    holds. Conditions are condition strings (see
    :mod:`syllabus_like.conditions`), parsed :class:`Condition` objects, or
    callables taking the metrics dict. ``N`` stages need ``N - 1`` conditions;
    with ``N`` conditions the last one either leads back to the first stage
    (``loop=True``) or marks the curriculum :attr:`done` ("train until the
    hardest stage is solved"); a done curriculum keeps sampling its last stage.

    Conditions read :data:`SEQUENTIAL_METRICS` (counters and the windowed mean
    ``episode_return``), :data:`~syllabus_like.stages.SEQUENTIAL_PROGRESS_METRICS`
    (``success_rate``, the windowed mean of the episodes' progress, and the
    exponential moving averages ``episode_return_ema`` / ``success_rate_ema``
    with weight ``smoothing`` on the newest value), and the user metrics named
    in ``custom_metrics``: each ``name`` is the mean of its last
    ``return_buffer_size`` values reported in the stage, and ``name_ema`` their
    moving average. Values are reported per episode (``update_on_episode(...,
    metrics={name: value})``, which :class:`~syllabus_like.wrappers.CurriculumWrapper`
    fills from ``info["curriculum_metrics"]`` on an episode's last step) or by
    the trainer at any time (:meth:`report_metrics`, also through
    ``TaskServer.curriculum``). Windows and moving averages start afresh in
    every stage; a metric without a value yet makes every comparison on it
    False. Moving averages skip non-finite values (one would poison them for
    the rest of the stage).

    Every switch is appended to :attr:`stage_history` (the stage entered and the
    total episodes and steps at the switch), raises :attr:`distribution_version`
    (so task-server clients drop tasks of the old stage they prefetched) and
    calls ``on_stage_change(old, new)`` in the process that owns the curriculum
    (with the Ray backend, the actor).

    Each item of ``curriculum_list`` is one of:

    * a :class:`Curriculum` over (a subset of) ``task_space``;
    * a ``list`` of tasks: :class:`DomainRandomization` over those tasks;
    * a :class:`TaskSpace` inside ``task_space``: :class:`DomainRandomization` over it;
    * anything else is a single task: :class:`Constant` (so a task that is itself
      a list must be given as a tuple or array).

    A stage's tasks are the tasks of its curriculum's task space: only episodes
    on those count towards ``episodes``/``steps``/``episode_return`` and reach
    the stage's curriculum (episodes that started in an earlier stage do not).

    ``episode_return`` is the mean of the last ``return_buffer_size`` returns
    of the stage. Returns are data: NaN and +-inf are kept and never raise.
    The mean follows IEEE arithmetic (see
    :class:`~syllabus_like.curricula.recent_returns.RecentReturns`): NaN while
    a NaN, or both +inf and -inf, are in the window, so every comparison on
    ``episode_return`` is false until they leave it; +inf or -inf while only
    one of them is.

    Conditions are checked after each update and before each sample, advancing
    at most one stage per check; :meth:`check_stopping_conditions` forces one.
    Everything is validated here, at construction.
    """

    def __init__(
        self,
        curriculum_list: Sequence[Any],
        stopping_conditions: Sequence[StoppingCondition],
        task_space: TaskSpace,
        *,
        return_buffer_size: int = 1000,
        loop: bool = False,
        custom_metrics: Sequence[str] = (),
        smoothing: float = DEFAULT_SMOOTHING,
        on_stage_change: StageChangeHook | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(task_space, seed=seed)
        check_sequential_arguments(
            curriculum_list,
            stopping_conditions,
            loop=loop,
            return_buffer_size=return_buffer_size,
            final_condition_allowed=True,
        )
        self.custom_metrics = check_custom_metrics(custom_metrics)
        self.smoothing = check_smoothing(smoothing)
        if on_stage_change is not None and not callable(on_stage_change):
            raise TypeError(f"on_stage_change must be a callable (old_stage, new_stage), got {on_stage_change!r}")
        self.on_stage_change = on_stage_change
        self.metric_names = sequential_metric_names(self.custom_metrics)

        children = np.random.SeedSequence(seed).spawn(len(curriculum_list))
        self.curricula: list[Curriculum] = [
            self._make_stage(item, index, child)
            for index, (item, child) in enumerate(zip(curriculum_list, children, strict=False))
        ]
        self.stopping_conditions = [
            self._make_condition(c, i, self.metric_names) for i, c in enumerate(stopping_conditions)
        ]
        # Between updates a stage's metrics change only by sampling (tasks, total_tasks), so a
        # sample re-checks only conditions that read those, and opaque callables.
        self._check_on_sample = [
            not isinstance(c, Condition) or bool(c.metrics & {"tasks", "total_tasks"}) for c in self.stopping_conditions
        ] + [False] * (len(curriculum_list) - len(self.stopping_conditions))
        # The stages this curriculum made from lists of tasks, spaces and single tasks ignore
        # episodes (uniform draws, one task): they are not called with them. A curriculum given as
        # a stage always is.
        self._stage_reads_episodes = [
            isinstance(item, Curriculum) or type(c).update_on_episode is not Curriculum.update_on_episode
            for item, c in zip(curriculum_list, self.curricula, strict=False)
        ]
        self.loop = loop
        self.return_buffer_size = return_buffer_size
        self._parent_indices = [self._stage_to_parent_indices(c) for c in self.curricula]
        self._parent_index_sets = [None if i is None else frozenset(i.tolist()) for i in self._parent_indices]

        self.stage = 0
        self.stage_history: list[dict[str, int]] = []
        self._done = False
        self._unchecked = True  # the metrics changed since the conditions were last checked
        self._total_steps = 0
        self._total_episodes = 0
        self._total_tasks = 0
        # The stage's windows live as long as the curriculum (a new stage clears them), so the
        # conditions bind once to their readers and a check evaluates only what they read.
        self._returns = RecentReturns(return_buffer_size)
        self._progress = RecentReturns(return_buffer_size)
        self._custom = {name: RecentReturns(return_buffer_size) for name in self.custom_metrics}
        # Moving averages by the name of the windowed metric they smooth; absent until a finite value.
        self._emas: dict[str, float] = {}
        self._reset_stage_counters()
        self._bind_conditions()

    def _bind_conditions(self) -> None:
        """Make, for each stage, the function of no argument that tells whether its condition holds.

        A parsed condition is bound to this curriculum's live metrics; a
        callable is called with :meth:`stage_metrics`. A stage without a
        condition has None.
        """
        readers = self._metric_readers()
        self._stage_checks: list[Callable[[], bool] | None] = [
            c.bind(readers) if isinstance(c, Condition) else partial(self._call_condition, c)
            for c in self.stopping_conditions
        ] + [None] * (self.num_stages - len(self.stopping_conditions))

    def _call_condition(self, condition: Callable[[Mapping[str, float]], bool]) -> bool:
        return bool(condition(self.stage_metrics()))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the bound conditions (closures over this object); unpickling binds them again."""
        state = self.__dict__.copy()
        del state["_stage_checks"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._bind_conditions()

    # ------------------------------------------------------------ construction
    def _make_stage(self, item: Any, index: int, seed_sequence: np.random.SeedSequence) -> Curriculum:
        """The curriculum that runs stage ``index`` (normalised by :func:`~syllabus_like.stages.normalize_stage`)."""
        seed = int(seed_sequence.generate_state(1)[0])

        def fits(curriculum: Curriculum) -> None:
            if not is_subspace(curriculum.task_space, self.task_space):
                raise ValueError(f"its task space {curriculum.task_space!r} is not inside {self.task_space!r}")

        stage = normalize_stage(item, index, self.task_space, curriculum_type=Curriculum, check_curriculum=fits)
        if stage.kind == "curriculum":
            return cast(Curriculum, stage.value)  # checked by normalize_stage against curriculum_type
        if stage.kind in ("space", "tasks"):
            return DomainRandomization(stage.value, seed=seed)
        return Constant(SubsetTaskSpace(self.task_space, [stage.value]), stage.value, seed=seed)

    @staticmethod
    def _make_condition(
        condition: StoppingCondition, index: int, metric_names: Sequence[str]
    ) -> Callable[[Mapping[str, float]], bool]:
        return normalize_condition(condition, index, metrics=metric_names)

    def _stage_to_parent_indices(self, curriculum: Curriculum) -> np.ndarray | None:
        """For finite spaces: parent index of each task of the stage's space, in its encoding order."""
        if self.task_space.num_tasks is None or curriculum.task_space.tasks is None:
            return None
        return np.array([self.task_space.encode(task) for task in curriculum.task_space.tasks], dtype=np.int64)

    def _reset_stage_counters(self) -> None:
        self._steps = 0
        self._episodes = 0
        self._tasks = 0
        for window in (self._returns, self._progress, *self._custom.values()):
            window.clear()
        self._emas.clear()

    def _record(self, name: str, window: RecentReturns, value: float) -> None:
        """Add ``value`` to the metric's window and moving average (which skips non-finite values)."""
        window.append(value)
        if isfinite(value):
            previous = self._emas.get(name)
            self._emas[name] = value if previous is None else previous + self.smoothing * (value - previous)

    def _checked_custom_values(self, values: Mapping[str, Any] | None) -> list[tuple[str, float]]:
        """``values`` as (name, float) pairs; ValueError naming an undeclared metric or a non-number."""
        if values is None:
            return []
        if not isinstance(values, Mapping):
            raise TypeError(f"metrics must be a mapping of metric names to numbers, got {values!r}")
        checked = []
        for name, value in values.items():
            if name not in self._custom:
                declared = ", ".join(self.custom_metrics) or "none were declared"
                raise ValueError(
                    f"unknown custom metric {name!r}; declare it in SequentialCurriculum(custom_metrics=...) "
                    f"(declared: {declared})"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"custom metric {name!r} must be a number, got {value!r}")
            checked.append((name, float(value)))
        return checked

    # ------------------------------------------------------------------ stages
    @property
    def current_curriculum(self) -> Curriculum:
        """The curriculum of the active stage."""
        return self.curricula[self.stage]

    @property
    def num_stages(self) -> int:
        return len(self.curricula)

    @property
    def done(self) -> bool:
        """True once the condition after the last stage held (``loop=False`` with one condition per stage)."""
        return self._done

    def stage_metrics(self) -> dict[str, float]:
        """The values the stopping conditions see (``episode_return`` only once an episode finished)."""
        values = {
            "steps": float(self._steps),
            "total_steps": float(self._total_steps),
            "episodes": float(self._episodes),
            "total_episodes": float(self._total_episodes),
            "tasks": float(self._tasks),
            "total_tasks": float(self._total_tasks),
        }
        windows = {"episode_return": self._returns, "success_rate": self._progress, **self._custom}
        for name, window in windows.items():
            mean = window.mean()
            if mean is not None:
                values[name] = mean
        for name, ema in self._emas.items():
            values[f"{name}_ema"] = ema
        return values

    def _metric_readers(self) -> dict[str, Callable[[], float | None]]:
        """A reader of the live value of every stage metric (None while it has none), for :meth:`Condition.bind`."""
        readers: dict[str, Callable[[], float | None]] = {
            "steps": lambda: self._steps,
            "total_steps": lambda: self._total_steps,
            "episodes": lambda: self._episodes,
            "total_episodes": lambda: self._total_episodes,
            "tasks": lambda: self._tasks,
            "total_tasks": lambda: self._total_tasks,
            "episode_return": self._returns.mean,
            "success_rate": self._progress.mean,
        }
        for name, window in self._custom.items():
            readers[name] = window.mean
        emas = self._emas
        for name in ("episode_return", "success_rate", *self._custom):
            readers[f"{name}_ema"] = partial(emas.get, name)
        return readers

    def check_stopping_conditions(self) -> bool:
        """Advance one stage if the active stage's condition holds; return whether it did.

        The condition after the last stage (without ``loop``) marks the
        curriculum :attr:`done` instead, which is not a switch.
        """
        self._unchecked = False
        holds = self._stage_checks[self.stage]
        if holds is None or self._done or not holds():
            return False
        previous = self.stage
        if previous == self.num_stages - 1 and not self.loop:
            self._done = True
            logger.info(
                "SequentialCurriculum: done after %d episodes of its last stage (condition: %s)",
                self._episodes,
                self.stopping_conditions[previous],
            )
            return False
        self.stage = (previous + 1) % self.num_stages
        logger.info(
            "SequentialCurriculum: stage %d -> %d after %d episodes (condition: %s)",
            previous,
            self.stage,
            self._episodes,
            self.stopping_conditions[previous],
        )
        self.stage_history.append({"stage": self.stage, "episode": self._total_episodes, "step": self._total_steps})
        self._reset_stage_counters()
        self._unchecked = True  # the new stage's condition may already hold
        self.distribution_version += 1  # task servers drop the old stage's prefetched tasks
        if self.on_stage_change is not None:
            self.on_stage_change(previous, self.stage)
        return True

    @property
    def requires_step_updates(self) -> bool:  # type: ignore[override]
        return self.curricula[self.stage].requires_step_updates

    # ---------------------------------------------------------------- sampling
    def sample(self, k: int = 1) -> list[Any]:
        """Check the stopping conditions, then return ``k`` tasks of the active stage.

        The stage's curriculum already returns decoded tasks of this space, so
        they are passed through without another encode/decode round trip.
        """
        if type(k) is not int or k < 0:
            k = check_sample_count(k)  # before the check, which may end the stage
        if self._unchecked or self._check_on_sample[self.stage]:
            self.check_stopping_conditions()
        tasks = self.curricula[self.stage].sample(k)
        self._tasks += len(tasks)
        self._total_tasks += len(tasks)
        return tasks

    # ----------------------------------------------------------------- updates
    def update_on_step(
        self,
        task: Any,
        obs: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict[str, Any],
        progress: float = 0.0,
        env_id: int | None = None,
    ) -> None:
        current = self.current_curriculum
        if current.task_space.contains(task):
            current.update_on_step(task, obs, reward, terminated, truncated, info, progress, env_id=env_id)

    def update_on_step_batch(self, step_results: Iterable[Sequence[Any]], env_id: int | None = None) -> None:
        super().update_on_step_batch(step_results, env_id=env_id)
        self.check_stopping_conditions()

    def update_on_episode(
        self,
        episode_return: float,
        length: int,
        task: Any,
        progress: float = 0.0,
        env_id: int | None = None,
        score: float | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """Count the episode; on a task of the active stage also record its return, progress and ``metrics``.

        ``score`` goes to the stage's curriculum, for the curricula that prioritise by one.
        """
        stage = self.stage
        index = self.task_space.encode(task)  # TaskSpaceError for a task outside the space
        stage_indices = self._parent_index_sets[stage]
        in_stage = (
            index in stage_indices if stage_indices is not None else self.curricula[stage].task_space.contains(task)
        )
        custom_values = () if metrics is None else self._checked_custom_values(metrics)  # before anything changes
        length = int(length)
        self._total_episodes += 1
        self._total_steps += length
        if in_stage:
            self._episodes += 1
            self._steps += length
            self._record("episode_return", self._returns, float(episode_return))
            self._record("success_rate", self._progress, float(progress))
            for name, value in custom_values:
                self._record(name, self._custom[name], value)
            if self._stage_reads_episodes[stage]:
                current = self.curricula[stage]
                if score is None:
                    current.update_on_episode(episode_return, length, task, progress, env_id=env_id)
                else:
                    current.update_on_episode(episode_return, length, task, progress, env_id=env_id, score=score)
        self.check_stopping_conditions()

    def report_metrics(self, values: Mapping[str, float]) -> None:
        """Record trainer-side values of user metrics (e.g. an evaluation score) in the active stage.

        Every name must have been declared in ``custom_metrics``; the values
        join the same windows as values reported with episodes.
        """
        for name, value in self._checked_custom_values(values):
            self._record(name, self._custom[name], value)
        self.check_stopping_conditions()

    def update_task_progress(self, task: Any, progress: float, env_id: int | None = None) -> None:
        current = self.current_curriculum
        if current.task_space.contains(task):
            current.update_task_progress(task, progress, env_id=env_id)
        self.check_stopping_conditions()

    # --------------------------------------------------------------- reporting
    def probabilities(self) -> np.ndarray | None:
        indices = self._parent_indices[self.stage]
        stage_probabilities = self.current_curriculum.probabilities()
        num_tasks = self.task_space.num_tasks  # not None when indices is not
        if indices is None or stage_probabilities is None or num_tasks is None:
            return None
        probabilities = np.zeros(num_tasks)
        np.add.at(probabilities, indices, stage_probabilities)
        return probabilities

    def metrics(self) -> dict[str, float]:
        values = {"stage": float(self.stage), "done": float(self._done), **self.stage_metrics()}
        for name, value in self.current_curriculum.metrics().items():
            values[f"stage_curriculum/{name}"] = value
        return values

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            stage=self.stage,
            steps=self._steps,
            episodes=self._episodes,
            tasks=self._tasks,
            returns=list(self._returns),
            progress=list(self._progress),
            custom_metrics={name: list(window) for name, window in self._custom.items()},
            emas=dict(self._emas),
            stage_history=[dict(entry) for entry in self.stage_history],
            done=self._done,
            total_steps=self._total_steps,
            total_episodes=self._total_episodes,
            total_tasks=self._total_tasks,
            curricula=[c.state_dict() for c in self.curricula],
        )
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, stages' curricula included: all of it, or nothing.

        The stage, counters and returns are checked against this curriculum
        (``ValueError`` naming the field), and each stage's state by its
        curriculum, before anything changes. A stage curriculum that loads
        its state its own way (overriding ``load_state_dict`` only) is loaded
        last; if it raises, everything loaded so far is put back.
        """
        checked = self._check_state(state)
        backup = self._check_state(self.state_dict())
        try:
            self._restore_state(checked)
        except BaseException:
            self._restore_state(backup)
            raise

    def _check_state(self, state: Any) -> dict[str, Any]:
        checked = super()._check_state(state)
        stage = state["stage"]
        if not _is_int(stage) or not 0 <= stage < self.num_stages:
            raise ValueError(f"state field 'stage' must be an int in [0, {self.num_stages}), got {stage!r:.80}")
        checked["stage"] = int(stage)
        for name in ("steps", "episodes", "tasks", "total_steps", "total_episodes", "total_tasks"):
            value = state[name]
            if not _is_int(value) or value < 0:
                raise ValueError(f"state field {name!r} must be a non-negative int, got {value!r:.80}")
            checked[name] = int(value)
        for name in ("steps", "episodes", "tasks"):
            if checked[name] > checked[f"total_{name}"]:
                raise ValueError(
                    f"state field {name!r} ({checked[name]}) exceeds 'total_{name}' ({checked[f'total_{name}']})"
                )
        returns = state["returns"]
        if (
            not isinstance(returns, list)
            or len(returns) > self.return_buffer_size
            or not all(type(value) is float for value in returns)
        ):
            raise ValueError(
                f"state field 'returns' must be a list of at most {self.return_buffer_size} floats "
                f"(return_buffer_size), got {returns!r:.80}"
            )
        checked["returns"] = list(returns)
        checked.update(self._check_steering_state(state, checked["stage"]))
        stage_states = state["curricula"]
        if not isinstance(stage_states, list) or len(stage_states) != self.num_stages:
            count = len(stage_states) if isinstance(stage_states, list) else stage_states
            raise ValueError(
                f"state field 'curricula' must be a list of {self.num_stages} stage states, got {count!r:.80}"
            )
        checked["curricula"] = []
        for index, (curriculum, stage_state) in enumerate(zip(self.curricula, stage_states, strict=False)):
            if _checks_its_state(curriculum):
                try:
                    checked["curricula"].append(curriculum._check_state(stage_state))
                except ValueError as error:
                    raise ValueError(f"state field 'curricula[{index}]': {error}") from error
            else:
                checked["curricula"].append(stage_state)
        return checked

    def _check_steering_state(self, state: Mapping[str, Any], stage: int) -> dict[str, Any]:
        """The progress window, user metrics, moving averages, history and ``done`` of ``state``, checked."""
        checked: dict[str, Any] = {}
        checked["progress"] = self._checked_window("progress", state["progress"])
        custom = state["custom_metrics"]
        if not isinstance(custom, dict) or set(custom) != set(self.custom_metrics):
            names = sorted(custom) if isinstance(custom, dict) else custom
            raise ValueError(
                f"state field 'custom_metrics' has custom metrics {names!r:.80}, "
                f"this curriculum declares {sorted(self.custom_metrics)}"
            )
        checked["custom_metrics"] = {
            name: self._checked_window(f"custom_metrics[{name!r}]", values) for name, values in custom.items()
        }
        emas = state["emas"]
        smoothed = {"episode_return", "success_rate", *self.custom_metrics}
        if (
            not isinstance(emas, dict)
            or not set(emas) <= smoothed
            or not all(type(value) is float and math.isfinite(value) for value in emas.values())
        ):
            raise ValueError(
                f"state field 'emas' must map some of {sorted(smoothed)} to finite floats, got {emas!r:.80}"
            )
        checked["emas"] = dict(emas)
        history = state["stage_history"]
        entries_valid = isinstance(history, list) and all(
            isinstance(entry, dict)
            and set(entry) == {"stage", "episode", "step"}
            and all(_is_int(value) and value >= 0 for value in entry.values())
            and entry["stage"] < self.num_stages
            for entry in history
        )
        if not entries_valid:
            raise ValueError(
                "state field 'stage_history' must be a list of {'stage', 'episode', 'step'} dicts of "
                f"non-negative ints (stages below {self.num_stages}), got {history!r:.80}"
            )
        checked["stage_history"] = [{name: int(value) for name, value in entry.items()} for entry in history]
        done = state["done"]
        can_finish = len(self.stopping_conditions) == self.num_stages and not self.loop
        if not isinstance(done, bool) or (done and not (can_finish and stage == self.num_stages - 1)):
            raise ValueError(
                f"state field 'done' must be a bool, True only on the last stage of a curriculum with a "
                f"condition after it, got {done!r:.80}"
            )
        checked["done"] = done
        return checked

    def _checked_window(self, field: str, values: Any) -> list[float]:
        if (
            not isinstance(values, list)
            or len(values) > self.return_buffer_size
            or not all(type(value) is float for value in values)
        ):
            raise ValueError(
                f"state field {field!r} must be a list of at most {self.return_buffer_size} floats "
                f"(return_buffer_size), got {values!r:.80}"
            )
        return list(values)

    def _restore_state(self, checked: dict[str, Any]) -> None:
        super()._restore_state(checked)
        self.stage = checked["stage"]
        self._steps, self._episodes, self._tasks = checked["steps"], checked["episodes"], checked["tasks"]
        self._returns.load(checked["returns"])
        self._progress.load(checked["progress"])
        for name, values in checked["custom_metrics"].items():
            self._custom[name].load(values)
        self._emas.clear()
        self._emas.update(checked["emas"])
        self.stage_history = [dict(entry) for entry in checked["stage_history"]]
        self._done = checked["done"]
        self._unchecked = True
        self._total_steps = checked["total_steps"]
        self._total_episodes = checked["total_episodes"]
        self._total_tasks = checked["total_tasks"]
        for curriculum, stage_checked in zip(self.curricula, checked["curricula"], strict=False):
            if _checks_its_state(curriculum):
                curriculum._restore_state(stage_checked)
        for curriculum, stage_state in zip(self.curricula, checked["curricula"], strict=False):
            if not _checks_its_state(curriculum):
                curriculum.load_state_dict(stage_state)

    def __repr__(self) -> str:
        return f"SequentialCurriculum({self.num_stages} stages over {self.task_space!r}, stage={self.stage})"
