"""Stages of curricula, advanced by stopping conditions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import numpy as np

from syllabus_like.conditions import Condition, parse_condition
from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.constant import Constant
from syllabus_like.curricula.domain_randomization import DomainRandomization
from syllabus_like.curricula.recent_returns import RecentReturns
from syllabus_like.stages import SEQUENTIAL_METRICS, check_sequential_arguments
from syllabus_like.task_space import BoxTaskSpace, SubsetTaskSpace, TaskSpace, TaskSpaceError
from syllabus_like.validation import check_sample_count

__all__ = ["SEQUENTIAL_METRICS", "SequentialCurriculum"]

logger = logging.getLogger(__name__)


StoppingCondition = Union[str, Condition, Callable[[Mapping[str, float]], bool]]


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


def _is_subspace(child: TaskSpace, parent: TaskSpace) -> bool:
    """Whether every task of ``child`` is a task of ``parent`` (exact for finite and Box spaces)."""
    if child == parent:
        return True
    if child.tasks is not None:
        return all(parent.contains(task) for task in child.tasks)
    if isinstance(child, BoxTaskSpace) and isinstance(parent, BoxTaskSpace):
        return parent.contains(child.low) and parent.contains(child.high)
    probe = np.random.default_rng(0)
    return all(parent.contains(child.sample(probe)) for _ in range(64))


class SequentialCurriculum(Curriculum):
    """Runs ``curriculum_list`` one stage at a time.

    Stage ``i`` moves on to stage ``i + 1`` when ``stopping_conditions[i]``
    holds. Conditions are condition strings (see
    :mod:`syllabus_like.conditions`; names from :data:`SEQUENTIAL_METRICS`),
    parsed :class:`Condition` objects, or callables taking the metrics dict.
    ``N`` stages need ``N - 1`` conditions, or ``N`` with ``loop=True`` (the last
    condition leads back to the first stage).

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
        seed: int | None = None,
    ) -> None:
        super().__init__(task_space, seed=seed)
        check_sequential_arguments(
            curriculum_list, stopping_conditions, loop=loop, return_buffer_size=return_buffer_size
        )

        children = np.random.SeedSequence(seed).spawn(len(curriculum_list))
        self.curricula: list[Curriculum] = [
            self._make_stage(item, index, child) for index, (item, child) in enumerate(zip(curriculum_list, children))
        ]
        self.stopping_conditions = [self._make_condition(c, i) for i, c in enumerate(stopping_conditions)]
        self.loop = loop
        self.return_buffer_size = return_buffer_size
        self._parent_indices = [self._stage_to_parent_indices(c) for c in self.curricula]

        self.stage = 0
        self._total_steps = 0
        self._total_episodes = 0
        self._total_tasks = 0
        self._reset_stage_counters()

    # ------------------------------------------------------------ construction
    def _make_stage(self, item: Any, index: int, seed_sequence: np.random.SeedSequence) -> Curriculum:
        seed = int(seed_sequence.generate_state(1)[0])
        try:
            if isinstance(item, Curriculum):
                if not _is_subspace(item.task_space, self.task_space):
                    raise ValueError(f"its task space {item.task_space!r} is not inside {self.task_space!r}")
                return item
            if isinstance(item, TaskSpace):
                if not _is_subspace(item, self.task_space):
                    raise ValueError(f"task space {item!r} is not inside {self.task_space!r}")
                return DomainRandomization(item, seed=seed)
            if isinstance(item, list):
                return DomainRandomization(SubsetTaskSpace(self.task_space, item), seed=seed)
            return Constant(SubsetTaskSpace(self.task_space, [item]), item, seed=seed)
        except (TaskSpaceError, ValueError, TypeError) as error:
            raise ValueError(f"stage {index} of SequentialCurriculum is invalid: {error}") from error

    @staticmethod
    def _make_condition(condition: StoppingCondition, index: int) -> Callable[[Mapping[str, float]], bool]:
        if isinstance(condition, str):
            try:
                return parse_condition(condition, metrics=SEQUENTIAL_METRICS)
            except ValueError as error:
                raise ValueError(f"stopping condition {index} is invalid: {error}") from error
        if isinstance(condition, Condition):
            unknown = condition.metrics - set(SEQUENTIAL_METRICS)
            if unknown:
                raise ValueError(
                    f"stopping condition {index} ({condition}) reads unknown metrics {sorted(unknown)}; "
                    f"valid metrics are: {', '.join(SEQUENTIAL_METRICS)}"
                )
            return condition
        if callable(condition):
            return condition
        raise TypeError(
            f"stopping condition {index} must be a condition string, a Condition or a callable, got {condition!r}"
        )

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

    # ------------------------------------------------------------------ stages
    @property
    def current_curriculum(self) -> Curriculum:
        """The curriculum of the active stage."""
        return self.curricula[self.stage]

    @property
    def num_stages(self) -> int:
        return len(self.curricula)

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
        mean_return = self._returns.mean()
        if mean_return is not None:
            values["episode_return"] = mean_return
        return values

    def check_stopping_conditions(self) -> bool:
        """Advance one stage if the active stage's condition holds; return whether it did."""
        if self.stage >= len(self.stopping_conditions):
            return False
        if not self.stopping_conditions[self.stage](self.stage_metrics()):
            return False
        previous = self.stage
        self.stage = (self.stage + 1) % self.num_stages
        logger.info(
            "SequentialCurriculum: stage %d -> %d after %d episodes (condition: %s)",
            previous, self.stage, self._episodes, self.stopping_conditions[previous],
        )
        self._reset_stage_counters()
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

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None) -> None:
        self.task_space.encode(task)  # TaskSpaceError for a task outside the space
        self._total_episodes += 1
        self._total_steps += int(length)
        current = self.current_curriculum
        if current.task_space.contains(task):
            self._episodes += 1
            self._steps += int(length)
            self._returns.append(float(episode_return))
            current.update_on_episode(episode_return, length, task, progress, env_id=env_id)
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
        values = {"stage": float(self.stage), **self.stage_metrics()}
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
        stage_states = state["curricula"]
        if not isinstance(stage_states, list) or len(stage_states) != self.num_stages:
            count = len(stage_states) if isinstance(stage_states, list) else stage_states
            raise ValueError(
                f"state field 'curricula' must be a list of {self.num_stages} stage states, got {count!r:.80}"
            )
        checked["curricula"] = []
        for index, (curriculum, stage_state) in enumerate(zip(self.curricula, stage_states)):
            if _checks_its_state(curriculum):
                try:
                    checked["curricula"].append(curriculum._check_state(stage_state))
                except ValueError as error:
                    raise ValueError(f"state field 'curricula[{index}]': {error}") from error
            else:
                checked["curricula"].append(stage_state)
        return checked

    def _restore_state(self, checked: dict[str, Any]) -> None:
        super()._restore_state(checked)
        self.stage = checked["stage"]
        self._steps, self._episodes, self._tasks = checked["steps"], checked["episodes"], checked["tasks"]
        self._returns.load(checked["returns"])
        self._total_steps = checked["total_steps"]
        self._total_episodes = checked["total_episodes"]
        self._total_tasks = checked["total_tasks"]
        for curriculum, stage_checked in zip(self.curricula, checked["curricula"]):
            if _checks_its_state(curriculum):
                curriculum._restore_state(stage_checked)
        for curriculum, stage_state in zip(self.curricula, checked["curricula"]):
            if not _checks_its_state(curriculum):
                curriculum.load_state_dict(stage_state)

    def __repr__(self) -> str:
        return f"SequentialCurriculum({self.num_stages} stages over {self.task_space!r}, stage={self.stage})"
