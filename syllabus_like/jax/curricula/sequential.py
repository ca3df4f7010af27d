"""Stages over sets of task ids, advanced by compiled stopping conditions.

The functional twin of :class:`syllabus_like.curricula.SequentialCurriculum`:
same constructor arguments, same metric names and meanings (see
:data:`syllabus_like.stages.SEQUENTIAL_METRICS`), same moment of
switching. Fed the same stream of episodes, both switch stages after the
same episode, whether the JAX one receives the stream one episode at a time
or in large masked batches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from syllabus_like.conditions import Condition
from syllabus_like.jax._numerics import count_used, prefix_sum, saturating_add
from syllabus_like.jax.compiled_condition import CompiledCondition, compile_condition
from syllabus_like.jax.curricula.base import AbstractCurriculum, check_draw_count
from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.curricula.moving_average import ema_bounds, ema_final, ema_running
from syllabus_like.jax.curricula.return_window import window_mean, window_mean_bounds, window_means
from syllabus_like.jax.curricula.sampling import uniform_indices
from syllabus_like.jax.curricula.state_checks import check_sequential_state
from syllabus_like.stages import (
    DEFAULT_SMOOTHING,
    SEQUENTIAL_METRICS,
    check_custom_metrics,
    check_sequential_arguments,
    check_smoothing,
    normalize_condition,
    normalize_stage,
    sequential_metric_names,
    stage_error,
)
from syllabus_like.task_space import DiscreteTaskSpace, TaskSpace

__all__ = ["SEQUENTIAL_METRICS", "SequentialCurriculum", "SequentialState"]


StoppingCondition = str | Condition | CompiledCondition | Callable[..., Array]

#: Most batch entries one pass of :meth:`SequentialCurriculum.update` reads: a rollout of 4096 envs
#: x 128 steps compacts to this many. Larger batches are read in chunks of this size, one after
#: another (the same result: the update does not depend on how the stream is cut into batches).
#: Memory, not speed, is the reason: a jitted program reserves, on every call, the scratch memory of
#: its largest branch, and a rollout's fallback update over the full ``[T, B]`` batch would otherwise
#: make every call fault in tens of megabytes of fresh pages (~2 ms at B = 4096 on CPU) that only
#: that rarely taken branch uses.
_UPDATE_CHUNK = 2**16

#: Default number of stage switches :attr:`SequentialState.history` records (later ones are counted
#: in ``num_switches`` but not recorded).
DEFAULT_HISTORY_CAPACITY = 256

#: The fields of a :class:`SequentialState` besides its counters that :meth:`SequentialState.replace` sets.
_FIELDS = (
    "returns",
    "mean_return",
    "windows",
    "window_means",
    "window_counts",
    "emas",
    "ema_present",
    "done",
    "num_switches",
    "history",
)


#: The counters of a :class:`SequentialState`, in the order they are stored.
_COUNTERS = (
    "stage",
    "steps",
    "episodes",
    "tasks",
    "total_steps",
    "total_episodes",
    "total_tasks",
    "num_returns",
    "ignored_episodes",
)


def _counter(name: str, doc: str) -> property:
    index = _COUNTERS.index(name)
    return property(lambda state: state.counters[..., index], doc=doc)


class SequentialState(eqx.Module):
    """Where a :class:`SequentialCurriculum` is.

    The counters are read by name (``state.stage``, ``state.episodes``, ...;
    with leading axes under ``vmap``, ``states.stage`` has them too)
    and stored together in ``counters``: inside a rollout the state rides
    through every step of a ``lax.scan`` and in and out of each jitted call,
    and one array costs measurably less there than nine scalars. They are
    int32 and saturate instead of wrapping.
    ``returns`` holds this stage's last ``num_returns`` episode returns
    right-aligned (oldest first, unused slots zero on the left);
    ``mean_return`` is their mean (0 while there are none), kept so that the
    check before every ``sample`` costs no reduction. ``windows`` and
    ``window_means`` do the same for ``success_rate`` (row 0) and each user
    metric (rows 1.., in ``custom_metrics`` order), ``window_counts`` how many
    of each row's slots are this stage's values: every stage episode adds one
    value to each row, :meth:`SequentialCurriculum.report_metrics` to the
    rows of the metrics it reports. ``emas`` holds the
    moving averages of ``episode_return``, ``success_rate`` and the user
    metrics, in that order, ``ema_present`` whether each has a value yet.
    ``done``: the condition after the last stage held. ``history`` records the
    first ``capacity`` switches as rows ``(stage entered, total_episodes,
    total_steps)``; ``num_switches`` counts them all
    (:meth:`SequentialCurriculum.stage_history` reads them as Python does).
    """

    #: The names of the entries of ``counters``, in order.
    COUNTERS: ClassVar[tuple[str, ...]] = _COUNTERS

    counters: Int[Array, " 9"]
    returns: Float[Array, " return_buffer_size"]
    mean_return: Float[Array, ""]
    windows: Float[Array, "rows return_buffer_size"]
    window_means: Float[Array, " rows"]
    window_counts: Int[Array, " rows"]
    emas: Float[Array, " averages"]
    ema_present: Bool[Array, " averages"]
    done: Bool[Array, ""]
    num_switches: Int[Array, ""]
    history: Int[Array, "capacity 3"]
    #: One entry per stage: the state of the functional curriculum that runs it, ``None`` for a
    #: stage of tasks. Kept across stage switches; only the active stage's is sampled and updated.
    stage_states: tuple[Any, ...] = ()

    stage = _counter("stage", "The active stage.")
    steps = _counter("steps", "Env steps of this stage's episodes.")
    episodes = _counter("episodes", "Episodes finished on this stage's tasks.")
    tasks = _counter("tasks", "Tasks drawn in this stage.")
    total_steps = _counter("total_steps", "Env steps of all episodes.")
    total_episodes = _counter("total_episodes", "All episodes finished.")
    total_tasks = _counter("total_tasks", "All tasks drawn.")
    num_returns = _counter("num_returns", "How many of ``returns`` are this stage's (at most the buffer size).")
    ignored_episodes = _counter(
        "ignored_episodes", "Finished episodes whose task id is not a task of the curriculum: counted here alone."
    )

    def replace(self, **changes: Array) -> SequentialState:
        """A copy with the named counters or other fields (``returns``, ``mean_return``, ...) replaced."""
        unknown = set(changes) - set(_COUNTERS) - set(_FIELDS)
        if unknown:
            raise TypeError(f"SequentialState has no field(s) {sorted(unknown)}; counters are {_COUNTERS}")
        counters = self.counters
        if set(changes) & set(_COUNTERS):
            columns = [
                jnp.asarray(changes[name], counters.dtype) if name in changes else counters[..., index]
                for index, name in enumerate(_COUNTERS)
            ]
            counters = jnp.stack(jnp.broadcast_arrays(*columns), axis=-1)
        fields = {name: changes[name] for name in _FIELDS if name in changes}
        return dataclasses.replace(self, counters=counters, **fields)


class _Extra(eqx.Module):
    """The batch's values of the metrics besides the counters and the return window, laid out for one pass.

    ``row_sequence``: per row of ``SequentialState.windows``, the window so far then the batch's
    stage episodes (as the return sequence); ``ema_values``: every episode's value of each moving
    average's metric, in ``ema_names`` order.
    """

    row_sequence: Float[Array, "rows m"]
    ema_values: Float[Array, "averages n"]


class _CallableCondition(eqx.Module):
    """A user function ``(metrics, present) -> bool array`` kept out of the pytree leaves."""

    function: Callable[..., Array] = eqx.field(static=True)

    def __call__(self, metrics: Mapping[str, Array], present: Mapping[str, Array]) -> Array:
        return jnp.asarray(self.function(metrics, present), dtype=bool)


def _as_ids(result: tuple[Any, Array]) -> tuple[Any, Int[Array, " n"]]:
    """A stage curriculum's ``(state, task_ids)`` with the ids as int32, as every stage's branch returns them."""
    state, task_ids = result
    return state, jnp.asarray(task_ids, jnp.int32)


def _as_task_space(task_space: TaskSpace | int) -> TaskSpace:
    if isinstance(task_space, TaskSpace):
        if task_space.num_tasks is None:
            raise ValueError(f"the JAX SequentialCurriculum needs a finite task space, got {task_space!r}")
        return task_space
    if isinstance(task_space, bool) or not isinstance(task_space, int) or task_space < 1:
        raise TypeError(f"task_space must be a finite TaskSpace or a positive int, got {task_space!r}")
    return DiscreteTaskSpace(task_space)


class SequentialCurriculum(AbstractCurriculum[SequentialState]):
    """Runs stages one after another; stage ``i`` ends when ``stopping_conditions[i]`` holds.

    Args:
        curriculum_list: one item per stage, as for the Python version:
            a ``list`` of tasks (uniform over them), a finite :class:`TaskSpace`
            inside ``task_space`` (uniform over its tasks), a single task
            (always that task), or a functional curriculum
            (:class:`~syllabus_like.jax.PrioritizedLevelReplay`,
            :class:`~syllabus_like.jax.LearningProgress`, ...) over all
            ``num_tasks`` task ids, which then draws the stage's tasks and
            learns from its episodes. A stage's tasks are its members: only
            episodes on them count towards ``episodes``, ``steps`` and
            ``episode_return`` (a curriculum stage's members are all tasks).
            As in the Python version, only the active stage's curriculum is
            sampled and updated; its state is kept while other stages run.
        stopping_conditions: condition strings over the metrics listed below,
            parsed :class:`Condition` or :class:`CompiledCondition` objects, or
            jittable callables ``(metrics, present) -> bool array``. ``N``
            stages need ``N - 1`` conditions, or ``N``: with ``loop=True`` the
            last leads back to the first stage, without it the last marks the
            curriculum done (``state.done``; it keeps sampling its last stage).
        task_space: a finite task space, or an int ``n`` for task ids ``0..n-1``.
            Tasks in ``curriculum_list`` are given as tasks of this space and
            stored as their encodings (the task ids the JAX side uses).
        return_buffer_size: ``episode_return`` is the mean of this stage's last
            ``return_buffer_size`` episode returns.
        loop: after the last stage, go back to the first.
        custom_metrics: names of user metrics, reported per episode in
            ``EpisodeBatch.metrics`` (every batch must then carry each of
            them) or by the trainer with :meth:`report_metrics`; conditions
            read ``name`` (windowed mean) and ``name_ema``.
        smoothing: weight of the newest value in the ``*_ema`` metrics.
        history_capacity: how many stage switches ``state.history`` records.

    Metrics: those of the Python version (:func:`~syllabus_like.stages.sequential_metric_names`):
    the counters, the windowed means ``episode_return``, ``success_rate`` (of
    ``EpisodeBatch.progress``) and user metrics, and their moving averages
    ``*_ema``; a metric without a value yet makes every comparison on it False.
    Only the per-episode values a condition reads are computed during a batch
    update; the windowed means are brought up to date once per batch. A moving
    average is maintained only when a condition reads it (each costs a pass
    over every batch, ~2x the cost of an update with none): the others stay
    NaN in :meth:`metrics`, where the Python curriculum reports them.
    The Python ``on_stage_change`` hook cannot run inside ``jit``: the JAX
    runtime records the switches in the state instead (:meth:`stage_history`).

    Semantics (as in Python): conditions are checked after every finished
    episode and before every ``sample``, advancing at most one stage per
    check; a switch resets ``steps``, ``episodes``, ``tasks`` and the returns.
    ``update`` processes a batch in C order with a masked, vectorised pass per
    stage switch (no per-episode loop), so the cost does not depend on how
    the stream is cut into batches. ``episode_return`` is a float32 mean (to
    float32 rounding however long the stream), so a switch can differ from the
    float64 Python one only when the mean is within ~1e-7 (relative) of the
    threshold.

    Thresholds live in the compiled conditions' arrays: change them with
    :meth:`with_thresholds` (or ``eqx.tree_at``) without recompiling.
    """

    num_tasks: int = eqx.field(static=True)
    num_stages: int = eqx.field(static=True)
    return_buffer_size: int = eqx.field(static=True)
    loop: bool = eqx.field(static=True)
    read_metrics: tuple[str, ...] = eqx.field(static=True)
    custom_metrics: tuple[str, ...] = eqx.field(static=True)
    smoothing: float = eqx.field(static=True)
    history_capacity: int = eqx.field(static=True)
    metric_names: tuple[str, ...] = eqx.field(static=True)
    stage_tasks: Int[Array, "stages max_stage_tasks"]
    stage_sizes: Int[Array, " stages"]
    stage_members: Bool[Array, "stages num_tasks"]
    conditions: tuple[Any, ...]
    stage_curricula: tuple[AbstractCurriculum | None, ...]

    def __init__(
        self,
        curriculum_list: Sequence[Any],
        stopping_conditions: Sequence[StoppingCondition],
        task_space: TaskSpace | int,
        *,
        return_buffer_size: int = 1000,
        loop: bool = False,
        custom_metrics: Sequence[str] = (),
        smoothing: float = DEFAULT_SMOOTHING,
        history_capacity: int = DEFAULT_HISTORY_CAPACITY,
    ) -> None:
        space = _as_task_space(task_space)
        check_sequential_arguments(
            curriculum_list,
            stopping_conditions,
            loop=loop,
            return_buffer_size=return_buffer_size,
            final_condition_allowed=True,
        )
        self.custom_metrics = check_custom_metrics(custom_metrics)
        self.smoothing = check_smoothing(smoothing)
        if isinstance(history_capacity, bool) or not isinstance(history_capacity, int) or history_capacity < 0:
            raise ValueError(f"history_capacity must be a non-negative int, got {history_capacity!r}")
        self.history_capacity = history_capacity
        self.metric_names = sequential_metric_names(self.custom_metrics)

        num_tasks = int(space.num_tasks)  # type: ignore[arg-type]
        stages = [self._stage_ids(item, index, space) for index, item in enumerate(curriculum_list)]
        self.stage_curricula = tuple(item if isinstance(item, AbstractCurriculum) else None for item in curriculum_list)
        width = max(len(ids) for ids in stages)
        table = np.zeros((len(stages), width), dtype=np.int32)
        members = np.zeros((len(stages), num_tasks), dtype=bool)
        for index, ids in enumerate(stages):
            table[index, : len(ids)] = ids
            table[index, len(ids) :] = ids[0]
            members[index, ids] = True

        self.num_tasks = num_tasks
        self.num_stages = len(stages)
        self.return_buffer_size = return_buffer_size
        self.loop = bool(loop)
        self.stage_tasks = jnp.asarray(table)
        self.stage_sizes = jnp.asarray([len(ids) for ids in stages], dtype=jnp.int32)
        self.stage_members = jnp.asarray(members)
        self.conditions = tuple(self._condition(c, i, self.metric_names) for i, c in enumerate(stopping_conditions))
        read: set[str] = set()
        for condition in self.conditions:
            read |= condition.metrics if isinstance(condition, CompiledCondition) else set(self.metric_names)
        self.read_metrics = tuple(name for name in self.metric_names if name in read)

    @property
    def window_names(self) -> tuple[str, ...]:
        """The windowed means kept in ``state.windows``, row by row."""
        return ("success_rate", *self.custom_metrics)

    @property
    def ema_names(self) -> tuple[str, ...]:
        """The moving averages kept in ``state.emas``, in order."""
        return tuple(f"{name}_ema" for name in ("episode_return", *self.window_names))

    @property
    def _read_ema_rows(self) -> tuple[int, ...]:
        """The rows of ``state.emas`` a condition reads: the only ones maintained."""
        return tuple(row for row, name in enumerate(self.ema_names) if name in self.read_metrics)

    @property
    def has_final_condition(self) -> bool:
        """Whether the last stage has a condition that marks the curriculum done."""
        return not self.loop and len(self.conditions) == self.num_stages

    @property
    def reads_return(self) -> bool:
        """Whether a stopping condition reads ``episode_return`` (callables are assumed to)."""
        return "episode_return" in self.read_metrics

    # ------------------------------------------------------------ construction
    @staticmethod
    def _stage_ids(item: Any, index: int, space: TaskSpace) -> list[int]:
        """The task ids of a stage (normalised by :func:`~syllabus_like.stages.normalize_stage`)."""
        if hasattr(item, "update_on_episode") and not isinstance(item, AbstractCurriculum):
            raise stage_error(
                index,
                f"a Python curriculum ({type(item).__name__}) cannot run inside JAX; give the stage's tasks "
                "as a list, a finite TaskSpace or a single task, or a syllabus_like.jax curriculum",
            )

        def fits(curriculum: AbstractCurriculum) -> None:
            if curriculum.num_tasks != space.num_tasks:
                raise ValueError(
                    f"{type(curriculum).__name__} has {curriculum.num_tasks} tasks; a curriculum stage draws "
                    f"task ids of the whole space, so it needs num_tasks={space.num_tasks}"
                )

        stage = normalize_stage(item, index, space, curriculum_type=AbstractCurriculum, check_curriculum=fits)
        if stage.kind == "curriculum":
            return list(range(int(space.num_tasks)))  # type: ignore[arg-type]
        if stage.kind == "task":
            return [int(space.encode(stage.value))]
        tasks = stage.value.tasks
        if tasks is None:
            raise stage_error(index, f"task space {stage.value!r} is infinite")
        return [int(space.encode(task)) for task in tasks]

    @staticmethod
    def _condition(condition: StoppingCondition, index: int, metric_names: Sequence[str]) -> Any:
        if isinstance(condition, CompiledCondition):
            unknown = condition.metrics - set(metric_names)
            if unknown:
                raise ValueError(
                    f"stopping condition {index} reads unknown metrics {sorted(unknown)}; "
                    f"valid metrics are: {', '.join(metric_names)}"
                )
            return condition
        normalized = normalize_condition(
            condition,
            index,
            accepted="a condition string, a Condition, a CompiledCondition or a callable",
            metrics=metric_names,
        )
        if isinstance(normalized, Condition):
            return compile_condition(normalized)
        return _CallableCondition(normalized)

    def with_thresholds(self, stage: int, values: Sequence[float] | ArrayLike) -> SequentialCurriculum:
        """A copy whose stage-``stage`` condition has new thresholds (no recompilation)."""
        condition = self.conditions[stage]
        if not isinstance(condition, CompiledCondition):
            raise TypeError(f"stopping condition {stage} is a callable; it has no thresholds")
        return eqx.tree_at(lambda c: c.conditions[stage], self, condition.with_thresholds(values))

    # ------------------------------------------------------------------- state
    @property
    def has_curriculum_stages(self) -> bool:
        """Whether a functional curriculum runs some stage."""
        return any(curriculum is not None for curriculum in self.stage_curricula)

    @property
    def draws_ahead(self) -> bool:  # type: ignore[override]
        """Whether a rollout draws the tasks of all its steps before the scan (see the base class).

        True when every stage is a list of tasks and no condition reads
        ``tasks`` or ``total_tasks``: then only :meth:`update` changes what a
        condition reads, and the check before the scan stands for the whole
        rollout, which saves a condition check (a conditional, on a GPU a
        round trip to the host) at every step. One difference remains: a
        stage whose condition already holds when it is entered ends at the next
        check, which is then the next rollout's start, not the next step (every
        draw of a rollout comes from the stage chosen at its start).
        """
        return not self.has_curriculum_stages and not {"tasks", "total_tasks"} & set(self.read_metrics)

    def validate_state(self, state: SequentialState) -> SequentialState:
        """See the base class; the checks are :func:`~syllabus_like.jax.curricula.state_checks.check_sequential_state`."""
        check_sequential_state(self, state)
        return state

    def count_draws(self, state: SequentialState, used: Bool[Array, "*shape"]) -> SequentialState:
        """Count ``used`` tasks drawn ahead as :meth:`sample` counts its draws (``tasks``, ``total_tasks``)."""
        count = jnp.sum(jnp.asarray(used, bool), dtype=jnp.int32)
        return state.replace(
            tasks=saturating_add(state.tasks, count), total_tasks=saturating_add(state.total_tasks, count)
        )

    def init(self, key: PRNGKeyArray) -> SequentialState:
        keys = jax.random.split(key, self.num_stages)
        return SequentialState(
            counters=jnp.zeros((len(_COUNTERS),), dtype=jnp.int32),
            returns=jnp.zeros((self.return_buffer_size,), jnp.float32),
            mean_return=jnp.zeros((), jnp.float32),
            windows=jnp.zeros((len(self.window_names), self.return_buffer_size), jnp.float32),
            window_means=jnp.zeros((len(self.window_names),), jnp.float32),
            window_counts=jnp.zeros((len(self.window_names),), jnp.int32),
            emas=jnp.zeros((len(self.ema_names),), jnp.float32),
            ema_present=jnp.zeros((len(self.ema_names),), bool),
            done=jnp.zeros((), bool),
            num_switches=jnp.zeros((), jnp.int32),
            history=jnp.zeros((self.history_capacity, 3), jnp.int32),
            stage_states=tuple(
                None if curriculum is None else curriculum.init(keys[index])
                for index, curriculum in enumerate(self.stage_curricula)
            ),
        )

    def _on_active_stage(
        self,
        stage: Int[Array, ""],
        stage_states: tuple[Any, ...],
        on_curriculum: Callable[[AbstractCurriculum, Any], tuple[Any, Array]],
        on_tasks: Callable[[], Array],
    ) -> tuple[tuple[Any, ...], Array]:
        """Run the active stage's branch: ``on_curriculum(curriculum, its state)`` or ``on_tasks()``.

        Returns every stage's state (only the active curriculum's may change) and the branch's result.
        """

        def branch(index: int) -> Callable[[tuple[Any, ...]], tuple[tuple[Any, ...], Array]]:
            curriculum = self.stage_curricula[index]

            def run(states: tuple[Any, ...]) -> tuple[tuple[Any, ...], Array]:
                if curriculum is None:
                    return states, on_tasks()
                state, result = on_curriculum(curriculum, states[index])
                return states[:index] + (state,) + states[index + 1 :], result

            return run

        return lax.switch(stage, [branch(index) for index in range(self.num_stages)], stage_states)

    def _next_stage(self, stage: Int[Array, ""]) -> Int[Array, ""]:
        following = stage + 1
        return jnp.where(following >= self.num_stages, 0, following) if self.loop else following

    def _condition_holds(
        self, stage: Int[Array, ""], metrics: Mapping[str, Array], present: Mapping[str, Array]
    ) -> Bool[Array, ...]:
        """The active stage's condition (False for a last stage without one), broadcast to the metrics' shape.

        For scalar metrics every condition is evaluated and one picked (cheaper
        than a branch); for a batch of episodes only the active one runs.
        """
        shape = jnp.broadcast_shapes(*(jnp.shape(v) for v in metrics.values()))

        def branch(condition: Any) -> Callable[[], Array]:
            return lambda: jnp.broadcast_to(jnp.asarray(condition(metrics, present), dtype=bool), shape)

        branches = [branch(condition) for condition in self.conditions]
        branches.append(lambda: jnp.zeros(shape, dtype=bool))
        index = jnp.minimum(stage, len(self.conditions))
        if shape == ():
            return jnp.stack([evaluate() for evaluate in branches])[index]
        return lax.switch(index, branches)

    @staticmethod
    def _metrics(
        steps: Array,
        total_steps: Array,
        episodes: Array,
        total_episodes: Array,
        tasks: Array,
        total_tasks: Array,
        episode_return: Array,
    ) -> dict[str, Array]:
        return {
            "steps": steps,
            "total_steps": total_steps,
            "episodes": episodes,
            "total_episodes": total_episodes,
            "tasks": tasks,
            "total_tasks": total_tasks,
            "episode_return": episode_return,
        }

    def stage_metrics(self, state: SequentialState) -> tuple[dict[str, Array], dict[str, Array]]:
        """``(metrics, present)``: what the stopping conditions see now."""
        metrics = self._metrics(
            state.steps,
            state.total_steps,
            state.episodes,
            state.total_episodes,
            state.tasks,
            state.total_tasks,
            state.mean_return,
        )
        present = {"episode_return": state.num_returns > 0}
        for row, name in enumerate(self.window_names):
            metrics[name], present[name] = state.window_means[..., row], state.window_counts[..., row] > 0
        for row, name in enumerate(self.ema_names):
            metrics[name], present[name] = state.emas[..., row], state.ema_present[..., row]
        return metrics, present

    def _condition_index(self, state: SequentialState) -> Int[Array, ""]:
        """Which entry of the conditions applies: the stage's, or past the end (never holds) once done."""
        return jnp.where(state.done, len(self.conditions), state.stage)

    def _enter_stage(self, state: SequentialState, stage: Int[Array, ""]) -> SequentialState:
        """Switch to ``stage``: record the switch, start the stage's counters, windows and averages afresh."""
        record = jnp.stack([stage, state.total_episodes, state.total_steps]).astype(jnp.int32)
        return state.replace(
            stage=stage,
            steps=0,
            episodes=0,
            tasks=0,
            num_returns=0,
            returns=jnp.zeros_like(state.returns),
            mean_return=jnp.zeros_like(state.mean_return),
            windows=jnp.zeros_like(state.windows),
            window_means=jnp.zeros_like(state.window_means),
            window_counts=jnp.zeros_like(state.window_counts),
            emas=jnp.zeros_like(state.emas),
            ema_present=jnp.zeros_like(state.ema_present),
            num_switches=saturating_add(state.num_switches, jnp.int32(1)),
            history=state.history.at[state.num_switches].set(record, mode="drop"),
        )

    def _advance(self, state: SequentialState) -> SequentialState:
        """What the active stage's condition holding does: the next stage, or done after the last."""
        if not self.has_final_condition:
            return self._enter_stage(state, self._next_stage(state.stage))
        entered = self._enter_stage(state, jnp.minimum(state.stage + 1, self.num_stages - 1))
        finished = state.replace(done=jnp.asarray(True))
        return jax.tree.map(lambda a, b: jnp.where(state.stage == self.num_stages - 1, a, b), finished, entered)

    def check_stopping_conditions(self, state: SequentialState) -> tuple[SequentialState, Bool[Array, ""]]:
        """Advance one stage if the active stage's condition holds; also return whether it did.

        The condition after the last stage (``loop=False``) sets ``done``, which is not a switch.
        """
        metrics, present = self.stage_metrics(state)
        holds = self._condition_holds(self._condition_index(state), metrics, present)
        state = lax.cond(holds, lambda s: self._advance(s), lambda s: s, state)
        return state, holds & ~state.done

    def stage_history(self, state: SequentialState) -> list[dict[str, int]]:
        """The recorded switches as the Python curriculum lists them (not jittable: reads the arrays).

        One dict per switch, ``stage`` (entered), ``episode`` and ``step``
        (``total_episodes`` / ``total_steps`` at the switch); at most
        ``history_capacity`` of them, the first ones.
        """
        count = min(int(state.num_switches), self.history_capacity)
        rows = np.asarray(state.history)[:count]
        return [{"stage": int(stage), "episode": int(episode), "step": int(step)} for stage, episode, step in rows]

    # ---------------------------------------------------------------- sampling
    def sample(
        self, state: SequentialState, key: PRNGKeyArray, n: int, mask: Bool[Array, " n"] | None = None
    ) -> tuple[SequentialState, Int[Array, " n"]]:
        n = check_draw_count(n)
        used = count_used(n, mask)
        state, _ = self.check_stopping_conditions(state)
        if self.has_curriculum_stages:
            stage_states, task_ids = self._on_active_stage(
                state.stage,
                state.stage_states,
                lambda curriculum, inner: _as_ids(curriculum.sample(inner, key, n, mask=mask)),
                lambda: self.stage_tasks[state.stage, uniform_indices(key, n, self.stage_sizes[state.stage])].astype(
                    jnp.int32
                ),
            )
            state = dataclasses.replace(state, stage_states=stage_states)
        else:
            position = uniform_indices(key, n, self.stage_sizes[state.stage])
            task_ids = self.stage_tasks[state.stage, position]
        state = state.replace(
            tasks=saturating_add(state.tasks, used), total_tasks=saturating_add(state.total_tasks, used)
        )
        return state, task_ids

    # ----------------------------------------------------------------- updates
    def update(self, state: SequentialState, batch: EpisodeBatch) -> SequentialState:
        """Apply a batch of finished episodes (entries with ``done`` False are ignored).

        Inside jit nothing can raise, so impossible entries are defined: an
        episode whose ``task_id`` is not a task of this curriculum (outside
        ``[0, num_tasks)``) counts only in ``ignored_episodes`` (not in the
        totals, windows or conditions; the Python curriculum raises
        ``TaskSpaceError`` for it), and a negative ``length`` counts as 0 steps.
        """
        batch = batch.flatten()
        size = batch.task_id.shape[0]
        if size <= _UPDATE_CHUNK:
            return self._update_flat(state, batch) if size else state
        chunks = -(-size // _UPDATE_CHUNK)
        padding = chunks * _UPDATE_CHUNK - size  # entries with done False, which every pass ignores
        pieces = jax.tree.map(lambda field: jnp.pad(field, (0, padding)).reshape(chunks, _UPDATE_CHUNK), batch)
        state, _ = lax.scan(lambda state, piece: (self._update_flat(state, piece), None), state, pieces)
        return state

    def _update_flat(self, state: SequentialState, batch: EpisodeBatch) -> SequentialState:
        """:meth:`update` for a 1-D batch of at most :data:`_UPDATE_CHUNK` entries."""
        size = batch.task_id.shape[0]
        window = self.return_buffer_size
        num_tasks = self.stage_members.shape[1]
        done = batch.done & (batch.task_id >= 0) & (batch.task_id < num_tasks)  # see update()
        length = jnp.where(done, jnp.maximum(batch.length, 0), 0).astype(state.steps.dtype)
        returns = jnp.where(done, batch.episode_return, 0.0).astype(jnp.float32)
        position = jnp.arange(size)
        row_values = self._row_values(batch)
        ema_values = jnp.concatenate([batch.episode_return[None, :], row_values])
        rows = row_values.shape[0]

        def process_from(carry: tuple[SequentialState, Array]) -> tuple[SequentialState, Array]:
            """Apply the episodes from ``start`` on in the current stage, up to the first switch."""
            state, start = carry
            active = done & (position >= start)
            member = active & self.stage_members[state.stage].at[batch.task_id].get(mode="fill", fill_value=False)
            increments = {
                "episodes": member,
                "total_episodes": active,
                "steps": jnp.where(member, length, 0),
                "total_steps": jnp.where(active, length, 0),
            }
            final = {
                name: saturating_add(getattr(state, name), jnp.sum(values, dtype=length.dtype))
                for name, values in increments.items()
            }
            member_count = prefix_sum(member.astype(length.dtype))
            # This stage's returns, oldest first: the window so far, then the batch's member episodes.
            slot = jnp.where(member, window + member_count - 1, window + size)  # window + size: dropped
            sequence = jnp.concatenate([state.returns, jnp.zeros((size,), jnp.float32)])
            sequence = sequence.at[slot].set(returns, mode="drop")
            row_sequence = jnp.concatenate([state.windows, jnp.zeros((rows, size), jnp.float32)], axis=1)
            extra = _Extra(row_sequence.at[:, slot].set(jnp.where(done, row_values, 0.0), mode="drop"), ema_values)
            count = jnp.minimum(state.num_returns + member_count, window)
            after, stop = lax.cond(
                self._may_fire(state, final, sequence, member_count[-1], extra, member),
                lambda: self._apply_until_switch(state, active, increments, member_count, sequence, count, extra),
                lambda: (
                    self._apply_without_switch(state, final, sequence, member_count[-1], extra, member),
                    jnp.int32(size),
                ),
            )
            if self.has_curriculum_stages:
                # The stage's curriculum learns from its episodes processed before the switch (if any).
                learned = EpisodeBatch(
                    batch.task_id,
                    batch.episode_return,
                    batch.length,
                    progress=batch.progress,
                    done=member & (position < stop),
                    score=batch.score,
                )
                stage_states, _ = self._on_active_stage(
                    state.stage,
                    after.stage_states,
                    lambda curriculum, inner: (curriculum.update(inner, learned), jnp.zeros(())),
                    lambda: jnp.zeros(()),
                )
                after = dataclasses.replace(after, stage_states=stage_states)
            return after, stop

        state, _ = lax.while_loop(lambda carry: carry[1] < size, process_from, (state, jnp.zeros((), jnp.int32)))
        ignored = jnp.sum(batch.done & ~done, dtype=jnp.int32)
        return state.replace(ignored_episodes=saturating_add(state.ignored_episodes, ignored))

    def _row_values(self, batch: EpisodeBatch) -> Float[Array, "rows n"]:
        """Each episode's value of every windowed metric but the return (progress, then user metrics)."""
        given = batch.metrics or {}
        unknown = sorted(set(given) - set(self.custom_metrics))
        missing = [name for name in self.custom_metrics if name not in given]
        if unknown or missing:
            declared = ", ".join(self.custom_metrics) or "none were declared"
            raise ValueError(
                f"EpisodeBatch.metrics must hold exactly the custom metrics of SequentialCurriculum(custom_metrics=...)"
                f" (declared: {declared}); got {sorted(given)}"
            )
        return jnp.stack([batch.progress, *(given[name] for name in self.custom_metrics)]).astype(jnp.float32)

    def _may_fire(
        self,
        state: SequentialState,
        final: Mapping[str, Array],
        sequence: Float[Array, " m"],
        members: Int[Array, ""],
        extra: _Extra,
        member: Bool[Array, " n"],
    ) -> Bool[Array, ""]:
        """Whether the active stage's condition could hold after any of the batch's episodes.

        Within a stage the counters only grow, so each lies between its value
        now and ``final`` (after the whole batch); the window means lie within
        :func:`window_mean_bounds`. Most batches end no stage; for those
        :meth:`CompiledCondition.could_hold` answers False and the episodes
        are applied at once, without the condition checked after each one.
        """
        window = self.return_buffer_size
        index = jnp.arange(sequence.shape[0])
        valid = (index >= window - state.num_returns) & (index < window + members)
        if self.reads_return:
            low, high, irregular = window_mean_bounds(sequence, valid, state.num_returns, window)
        else:
            low = high = state.mean_return
            irregular = jnp.asarray(False)
        lower = self._metrics(
            state.steps, state.total_steps, state.episodes, state.total_episodes, state.tasks, state.total_tasks, low
        )
        upper = self._metrics(
            final["steps"],
            final["total_steps"],
            final["episodes"],
            final["total_episodes"],
            state.tasks,
            state.total_tasks,
            high,
        )
        # Before the stage's first return the mean is missing; a NaN mean compares like a missing one.
        maybe_absent = {"episode_return": (state.num_returns == 0) | irregular}
        for row, name in enumerate(self.window_names):
            if name in self.read_metrics:
                held = state.window_counts[row]
                row_valid = (index >= window - held) & (index < window + members)
                low, high, irregular = window_mean_bounds(extra.row_sequence[row], row_valid, held, window)
                lower[name], upper[name] = low, high
                maybe_absent[name] = (held == 0) | irregular
        read = self._read_ema_rows
        if read:
            rows = np.asarray(read)
            lows, highs = ema_bounds(state.emas[rows], state.ema_present[rows], extra.ema_values[rows], member)
            for at, row in enumerate(read):
                name = self.ema_names[row]
                lower[name], upper[name], maybe_absent[name] = lows[at], highs[at], ~state.ema_present[row]
        could = [
            condition.could_hold(lower, upper, maybe_absent)
            if isinstance(condition, CompiledCondition)
            else jnp.asarray(True)
            for condition in self.conditions
        ]
        could.append(jnp.asarray(False))  # a last stage without a condition never ends
        return jnp.stack(could)[self._condition_index(state)]

    def _apply_without_switch(
        self,
        state: SequentialState,
        final: Mapping[str, Array],
        sequence: Float[Array, " m"],
        members: Int[Array, ""],
        extra: _Extra,
        member: Bool[Array, " n"],
    ) -> SequentialState:
        """The state after every episode of the batch, when none of them ends the stage."""
        window = self.return_buffer_size
        kept = lax.dynamic_slice(sequence, (members,), (window,))
        num_returns = jnp.minimum(state.num_returns + members, window)
        return state.replace(
            steps=final["steps"],
            episodes=final["episodes"],
            total_steps=final["total_steps"],
            total_episodes=final["total_episodes"],
            num_returns=num_returns,
            returns=kept,
            mean_return=window_mean(kept, num_returns),
            **self._extra_after(state, extra, members, members, member),
        )

    def _extra_after(
        self,
        state: SequentialState,
        extra: _Extra,
        end: Int[Array, ""],
        added: Int[Array, ""],
        member: Bool[Array, " n"],
    ) -> dict[str, Array]:
        """``windows``, ``window_means``, ``window_counts``, ``emas`` and ``ema_present`` after the ``member`` episodes.

        ``end``: how many of the batch's entries of ``extra.row_sequence`` the window now ends after;
        ``added``: how many stage episodes that is (each added a value to every row).
        """
        window = self.return_buffer_size
        kept = lax.dynamic_slice(extra.row_sequence, (0, end), (extra.row_sequence.shape[0], window))
        counts = jnp.minimum(state.window_counts + added, window)
        emas, present = state.emas, state.ema_present
        read = self._read_ema_rows
        if read:  # only the averages a condition reads: the others would cost a pass over the batch each
            rows = np.asarray(read)
            updated, has_value = ema_final(emas[rows], present[rows], extra.ema_values[rows], member, self.smoothing)
            emas, present = emas.at[rows].set(updated), present.at[rows].set(has_value)
        return {
            "windows": kept,
            "window_means": jnp.sum(kept, axis=1) / jnp.maximum(counts, 1).astype(jnp.float32),
            "window_counts": counts,
            "emas": emas,
            "ema_present": present,
        }

    def _apply_until_switch(
        self,
        state: SequentialState,
        active: Bool[Array, " n"],
        increments: Mapping[str, Array],
        member_count: Int[Array, " n"],
        sequence: Float[Array, " m"],
        count: Int[Array, " n"],
        extra: _Extra,
    ) -> tuple[SequentialState, Int[Array, ""]]:
        """Check the condition after each episode; apply those up to the first that ends the stage.

        Returns the new state and the position to continue from (the batch
        size when no episode ended the stage).
        """
        window = self.return_buffer_size
        size = active.shape[0]
        dtype = member_count.dtype
        # Running values only for the counters a condition reads; the others are only needed at the end.
        running = {"episodes": member_count}
        read = [name for name in ("total_episodes", "steps", "total_steps") if name in self.read_metrics]
        if read:  # one stacked prefix sum: the same kernels as one row (~20 % faster than a row each)
            stacked = jnp.stack([increments[name].astype(dtype) for name in read])
            running.update(zip(read, prefix_sum(stacked, axis=1), strict=False))
        counters = {
            name: saturating_add(getattr(state, name), running[name])
            if name in running
            else jnp.broadcast_to(getattr(state, name), (size,))
            for name in increments
        }
        end = window + member_count
        # When no condition reads it, only the final mean is needed (for metrics()).
        mean_return = (
            window_means(sequence, end, count, window) if self.reads_return else jnp.zeros((size,), jnp.float32)
        )

        metrics = self._metrics(
            counters["steps"],
            counters["total_steps"],
            counters["episodes"],
            counters["total_episodes"],
            jnp.broadcast_to(state.tasks, (size,)),
            jnp.broadcast_to(state.total_tasks, (size,)),
            mean_return,
        )
        present = {"episode_return": count > 0}
        for row, name in enumerate(self.window_names):
            if name in self.read_metrics:
                row_count = jnp.minimum(state.window_counts[row] + member_count, window)
                metrics[name] = window_means(extra.row_sequence[row], end, row_count, window)
                present[name] = row_count > 0
        member = increments["episodes"]
        read = self._read_ema_rows
        if read:
            rows = np.asarray(read)
            averages, averages_present = ema_running(
                state.emas[rows], state.ema_present[rows], extra.ema_values[rows], member, self.smoothing
            )
            for at, row in enumerate(read):
                metrics[self.ema_names[row]], present[self.ema_names[row]] = averages[at], averages_present[at]
        fires = active & self._condition_holds(self._condition_index(state), metrics, present)
        fired = jnp.any(fires)
        last = jnp.where(fired, jnp.argmax(fires), size - 1)

        def value_after_last(name: str) -> Array:
            if name in running:
                return counters[name][last]
            upto = jnp.sum(jnp.where(jnp.arange(size) <= last, increments[name], 0), dtype=dtype)
            return saturating_add(getattr(state, name), upto)

        returns = lax.dynamic_slice(sequence, (end[last] - window,), (window,))
        continued = state.replace(
            steps=value_after_last("steps"),
            episodes=value_after_last("episodes"),
            total_steps=value_after_last("total_steps"),
            total_episodes=value_after_last("total_episodes"),
            returns=returns,
            num_returns=count[last],
            mean_return=mean_return[last] if self.reads_return else window_mean(returns, count[last]),
            **self._extra_after(
                state, extra, end[last] - window, member_count[last], member & (jnp.arange(size) <= last)
            ),
        )
        advanced = self._advance(continued)
        state = jax.tree.map(lambda a, b: jnp.where(fired, a, b), advanced, continued)
        return state, jnp.where(fired, last + 1, size).astype(jnp.int32)

    def report_metrics(self, state: SequentialState, values: Mapping[str, ArrayLike]) -> SequentialState:
        """Record trainer-side values of user metrics (e.g. an evaluation score) in the active stage.

        The functional twin of the Python ``report_metrics``: each value joins
        its metric's window (``name``) and moving average (``name_ema``, where
        a condition reads it) like a value reported with an episode, then the
        stopping conditions are checked once (at most one switch). Returns the
        new state; jittable. ``values`` maps declared ``custom_metrics`` names
        to one number each (a Python number or a scalar array); an undeclared
        name, a non-number or a non-scalar raises when traced, before anything
        changes, with the Python curriculum's messages.
        """
        reported = self._reported_values(values)
        window = self.return_buffer_size
        windows, counts = state.windows, state.window_counts
        emas, present = state.emas, state.ema_present
        keep = jnp.float32(1.0 - self.smoothing)
        for name, value in reported:
            row = 1 + self.custom_metrics.index(name)  # row 0 is success_rate
            windows = windows.at[row].set(jnp.concatenate([windows[row, 1:], value[None]]))
            counts = counts.at[row].set(jnp.minimum(counts[row] + 1, window))
            average = 1 + row  # emas: episode_return first, then the windowed metrics' rows
            if self.ema_names[average] in self.read_metrics:
                finite = jnp.isfinite(value)  # a non-finite value is skipped, as in Python
                previous = emas[average]
                updated = jnp.where(present[average], keep * previous + self.smoothing * value, value)
                emas = emas.at[average].set(jnp.where(finite, updated, previous))
                present = present.at[average].set(present[average] | finite)
        state = state.replace(
            windows=windows,
            window_means=jnp.sum(windows, axis=1) / jnp.maximum(counts, 1).astype(jnp.float32),
            window_counts=counts,
            emas=emas,
            ema_present=present,
        )
        state, _ = self.check_stopping_conditions(state)
        return state

    def _reported_values(self, values: Mapping[str, ArrayLike]) -> list[tuple[str, Float[Array, ""]]]:
        """``values`` as ``(name, float32 scalar)`` pairs, checked as the Python ``report_metrics`` checks them."""
        if not isinstance(values, Mapping):
            raise TypeError(f"metrics must be a mapping of metric names to numbers, got {values!r}")
        checked = []
        for name, value in values.items():
            if name not in self.custom_metrics:
                declared = ", ".join(self.custom_metrics) or "none were declared"
                raise ValueError(
                    f"unknown custom metric {name!r}; declare it in SequentialCurriculum(custom_metrics=...) "
                    f"(declared: {declared})"
                )
            dtype = getattr(value, "dtype", None)
            number = (
                isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            ) or (
                dtype is not None
                and jnp.issubdtype(dtype, jnp.number)
                and not jnp.issubdtype(dtype, jnp.complexfloating)
            )
            if not number:
                raise ValueError(f"custom metric {name!r} must be a number, got {value!r}")
            if jnp.shape(value) != ():
                raise ValueError(f"custom metric {name!r} must be one number (a scalar), got shape {jnp.shape(value)}")
            checked.append((name, jnp.asarray(value, jnp.float32)))
        return checked

    # --------------------------------------------------------------- reporting
    def probabilities(self, state: SequentialState) -> Float[Array, " num_tasks"]:
        def of_tasks() -> Array:
            size = self.stage_sizes[state.stage]
            weights = jnp.where(jnp.arange(self.stage_tasks.shape[1]) < size, 1.0 / size, 0.0)
            return jnp.zeros((self.num_tasks,), jnp.float32).at[self.stage_tasks[state.stage]].add(weights)

        if not self.has_curriculum_stages:
            return of_tasks()
        _, probabilities = self._on_active_stage(
            state.stage,
            state.stage_states,
            lambda curriculum, inner: (inner, jnp.asarray(curriculum.probabilities(inner), jnp.float32)),
            of_tasks,
        )
        return probabilities

    def metrics(self, state: SequentialState) -> dict[str, Array]:
        """``stage``, ``done``, the stage metrics (NaN while without a value) and ``ignored_episodes``."""
        metrics, present = self.stage_metrics(state)
        for name, has_value in present.items():
            metrics[name] = jnp.where(has_value, metrics[name], jnp.nan)
        return {"stage": state.stage, "done": state.done, **metrics, "ignored_episodes": state.ignored_episodes}
