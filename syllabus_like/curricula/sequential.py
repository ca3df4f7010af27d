"""Stages of curricula, advanced by stopping conditions."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

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


StoppingCondition = Union[str, Condition, Callable[[Mapping[str, float]], bool]]
StageChangeHook = Callable[[int, int], Any]


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
    total episodes and steps at the switch) and calls ``on_stage_change(old,
    new)`` in the process that owns the curriculum (with the Ray backend, the
    actor).

    Each item of ``curriculum_list`` is one of:

    * a :class:`Curriculum` over (a subset of) ``task_space``;
    * a ``list`` of tasks: :class:`DomainRandomization` over those tasks;
    * a :class:`TaskSpace` inside ``task_space``: :class:`DomainRandomization` over it;
    * anything else is a single task: :class:`Constant` (so a task that is itself
      a list must be given as a tuple or array).

    A stage's tasks are the tasks of its curriculum's task space: only episodes
    on those count towards ``episodes``/``steps``/``episode_return`` and reach
    the stage's curriculum (episodes that started in an earlier stage do not).

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
            self._make_stage(item, index, child) for index, (item, child) in enumerate(zip(curriculum_list, children))
        ]
        self.stopping_conditions = [
            self._make_condition(c, i, self.metric_names) for i, c in enumerate(stopping_conditions)
        ]
        # Between updates a stage's metrics change only by sampling (tasks, total_tasks), so a
        # sample re-checks only conditions that read those, and opaque callables.
        self._check_on_sample = [
            not isinstance(c, Condition) or bool(c.metrics & {"tasks", "total_tasks"})
            for c in self.stopping_conditions
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
        self._reset_stage_counters()

    # ------------------------------------------------------------ construction
    def _make_stage(self, item: Any, index: int, seed_sequence: np.random.SeedSequence) -> Curriculum:
        """The curriculum that runs stage ``index`` (normalised by :func:`~syllabus_like.stages.normalize_stage`)."""
        seed = int(seed_sequence.generate_state(1)[0])

        def fits(curriculum: Curriculum) -> None:
            if not is_subspace(curriculum.task_space, self.task_space):
                raise ValueError(f"its task space {curriculum.task_space!r} is not inside {self.task_space!r}")

        stage = normalize_stage(item, index, self.task_space, curriculum_type=Curriculum, check_curriculum=fits)
        if stage.kind == "curriculum":
            return stage.value
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
        self._returns = RecentReturns(self.return_buffer_size)
        self._progress = RecentReturns(self.return_buffer_size)
        self._custom = {name: RecentReturns(self.return_buffer_size) for name in self.custom_metrics}
        # Moving averages by the name of the windowed metric they smooth; absent until a finite value.
        self._emas: dict[str, float] = {}

    def _smooth(self, name: str, value: float) -> None:
        if not math.isfinite(value):
            return
        previous = self._emas.get(name)
        self._emas[name] = value if previous is None else previous + self.smoothing * (value - previous)

    def _record(self, name: str, window: RecentReturns, value: float) -> None:
        window.append(value)
        self._smooth(name, value)

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

    def check_stopping_conditions(self) -> bool:
        """Advance one stage if the active stage's condition holds; return whether it did.

        The condition after the last stage (without ``loop``) marks the
        curriculum :attr:`done` instead, which is not a switch.
        """
        self._unchecked = False
        if self._done or self.stage >= len(self.stopping_conditions):
            return False
        condition = self.stopping_conditions[self.stage]
        values = self.stage_metrics()
        if not (condition.root.evaluate(values) if isinstance(condition, Condition) else condition(values)):
            return False
        previous = self.stage
        if previous == self.num_stages - 1 and not self.loop:
            self._done = True
            logger.info(
                "SequentialCurriculum: done after %d episodes of its last stage (condition: %s)",
                self._episodes, self.stopping_conditions[previous],
            )
            return False
        self.stage = (previous + 1) % self.num_stages
        logger.info(
            "SequentialCurriculum: stage %d -> %d after %d episodes (condition: %s)",
            previous, self.stage, self._episodes, self.stopping_conditions[previous],
        )
        self.stage_history.append({"stage": self.stage, "episode": self._total_episodes, "step": self._total_steps})
        self._reset_stage_counters()
        self._unchecked = True  # the new stage's condition may already hold
        if self.on_stage_change is not None:
            self.on_stage_change(previous, self.stage)
        return True

    @property
    def requires_step_updates(self) -> bool:  # type: ignore[override]
        return self.current_curriculum.requires_step_updates

    # ---------------------------------------------------------------- sampling
    def sample(self, k: int = 1) -> list:
        """Check the stopping conditions, then return ``k`` tasks of the active stage.

        The stage's curriculum already returns decoded tasks of this space, so
        they are passed through without another encode/decode round trip.
        """
        check_sample_count(k)  # before the check, which may end the stage
        if self._unchecked or (self.stage < len(self._check_on_sample) and self._check_on_sample[self.stage]):
            self.check_stopping_conditions()
        tasks = self.current_curriculum.sample(k)
        self._tasks += len(tasks)
        self._total_tasks += len(tasks)
        return tasks

    # ----------------------------------------------------------------- updates
    def update_on_step(self, task, obs, reward, terminated, truncated, info, progress=0.0, env_id=None) -> None:
        current = self.current_curriculum
        if current.task_space.contains(task):
            current.update_on_step(task, obs, reward, terminated, truncated, info, progress, env_id=env_id)

    def update_on_step_batch(self, step_results, env_id=None) -> None:
        super().update_on_step_batch(step_results, env_id=env_id)
        self.check_stopping_conditions()

    def update_on_episode(
        self, episode_return, length, task, progress=0.0, env_id=None, score=None, metrics=None
    ) -> None:
        """Count the episode; on a task of the active stage also record its return, progress and ``metrics``.

        ``score`` goes to the stage's curriculum, for the curricula that prioritise by one.
        """
        in_stage = self._in_active_stage(task)  # TaskSpaceError for a task outside the space
        custom_values = self._checked_custom_values(metrics)  # before anything changes
        self._total_episodes += 1
        self._total_steps += int(length)
        current = self.current_curriculum
        if in_stage:
            self._episodes += 1
            self._steps += int(length)
            self._record("episode_return", self._returns, float(episode_return))
            self._record("success_rate", self._progress, float(progress))
            for name, value in custom_values:
                self._record(name, self._custom[name], value)
            if score is None:
                current.update_on_episode(episode_return, length, task, progress, env_id=env_id)
            else:
                current.update_on_episode(episode_return, length, task, progress, env_id=env_id, score=score)
        self.check_stopping_conditions()

    def _in_active_stage(self, task: Any) -> bool:
        """Whether ``task`` (checked to be in the space) is a task of the active stage."""
        index = self.task_space.encode(task)
        stage_indices = self._parent_index_sets[self.stage]
        if stage_indices is not None:
            return index in stage_indices
        return self.current_curriculum.task_space.contains(task)

    def report_metrics(self, values: Mapping[str, float]) -> None:
        """Record trainer-side values of user metrics (e.g. an evaluation score) in the active stage.

        Every name must have been declared in ``custom_metrics``; the values
        join the same windows as values reported with episodes.
        """
        for name, value in self._checked_custom_values(values):
            self._record(name, self._custom[name], value)
        self.check_stopping_conditions()

    def update_task_progress(self, task, progress, env_id=None) -> None:
        current = self.current_curriculum
        if current.task_space.contains(task):
            current.update_task_progress(task, progress, env_id=env_id)
        self.check_stopping_conditions()

    # --------------------------------------------------------------- reporting
    def probabilities(self) -> np.ndarray | None:
        indices = self._parent_indices[self.stage]
        stage_probabilities = self.current_curriculum.probabilities()
        if indices is None or stage_probabilities is None:
            return None
        probabilities = np.zeros(self.task_space.num_tasks)
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

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if len(state["curricula"]) != self.num_stages:
            raise ValueError(f"state has {len(state['curricula'])} stages, this curriculum has {self.num_stages}")
        self.stage = int(state["stage"])
        self._steps, self._episodes, self._tasks = int(state["steps"]), int(state["episodes"]), int(state["tasks"])
        self._returns.load(state["returns"])
        self._progress.load(state["progress"])
        if set(state["custom_metrics"]) != set(self.custom_metrics):
            raise ValueError(
                f"state has custom metrics {sorted(state['custom_metrics'])}, "
                f"this curriculum declares {sorted(self.custom_metrics)}"
            )
        for name, values in state["custom_metrics"].items():
            self._custom[name].load(values)
        self._emas = {str(name): float(value) for name, value in state["emas"].items()}
        self.stage_history = [
            {"stage": int(entry["stage"]), "episode": int(entry["episode"]), "step": int(entry["step"])}
            for entry in state["stage_history"]
        ]
        self._done = bool(state["done"])
        self._total_steps = int(state["total_steps"])
        self._total_episodes = int(state["total_episodes"])
        self._total_tasks = int(state["total_tasks"])
        for curriculum, curriculum_state in zip(self.curricula, state["curricula"]):
            curriculum.load_state_dict(curriculum_state)
        self._unchecked = True

    def __repr__(self) -> str:
        return f"SequentialCurriculum({self.num_stages} stages over {self.task_space!r}, stage={self.stage})"
