"""The Curriculum base class: the contract every curriculum follows."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from syllabus_like.curricula.metric_writer import write_scalars
from syllabus_like.task_space import TaskSpace
from syllabus_like.validation import check_sample_count

__all__ = ["Curriculum"]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _checked_rng_state(bit_generator: np.random.BitGenerator, rng_state: Any) -> dict[str, Any]:
    """``rng_state`` if a fresh bit generator of ``bit_generator``'s kind takes it exactly as given."""
    probe = type(bit_generator)(0)
    try:
        probe.state = copy.deepcopy(rng_state)
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise ValueError(
            f"state field 'rng' is not a {type(bit_generator).__name__} state: {_short(rng_state)} ({error})"
        ) from error
    if not _same(probe.state, rng_state):
        raise ValueError(
            f"state field 'rng' is not a {type(bit_generator).__name__} state as state_dict() writes it: "
            f"{_short(rng_state)}"
        )
    return dict(probe.state)


def _same(a: Any, b: Any) -> bool:
    """Equality of nested dicts of ints and strings, with exact types (True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return bool(a == b)


class Curriculum:
    """Chooses tasks from ``task_space`` and learns from what happened on them.

    Public methods take and return *decoded* tasks, exactly as the user wrote
    them; encodings (see :mod:`syllabus_like.task_space`) stay internal.
    Every random draw uses the curriculum's own ``numpy.random.Generator``,
    seeded by ``seed``.

    Subclasses implement :meth:`_sample` (returning ``k`` encoded tasks) and
    override the ``update_*`` hooks they care about. Subclasses with state
    extend :meth:`state_dict` / :meth:`load_state_dict`.
    """

    #: Whether the curriculum wants :meth:`update_on_step` called every step.
    #: Wrappers skip per-step reporting when this is False, which is much cheaper.
    requires_step_updates: bool = False

    #: Whether every :meth:`update_on_episode` needs a ``score=``. The trainer integrations
    #: (:mod:`syllabus_like.integrations`) compute scores from their rollouts by default
    #: for the curricula that say True, unless the wrappers score episodes themselves.
    requires_scores: bool = False

    #: Raised by one whenever the distribution :meth:`sample` draws from changes at once (a
    #: :class:`~syllabus_like.SequentialCurriculum`'s stage switch), so that a task server's
    #: clients drop the tasks they prefetched before the change instead of playing them
    #: (see :mod:`syllabus_like.server.ray_backend`). Curricula whose distribution drifts a
    #: little with every update leave it alone. It counts changes since construction and is
    #: not part of :meth:`state_dict`.
    distribution_version: int = 0

    def __init__(self, task_space: TaskSpace, *, seed: int | None = None) -> None:
        if not isinstance(task_space, TaskSpace):
            raise TypeError(f"{type(self).__name__} needs a TaskSpace (e.g. DiscreteTaskSpace(5)), got {task_space!r}")
        self.task_space = task_space
        self._rng = np.random.default_rng(seed)

    # ------------------------------------------------------------- sampling
    def sample(self, k: int = 1) -> list[Any]:
        """Return a list of ``k`` tasks (decoded)."""
        if type(k) is int and k == 1:  # a wrapper's reset: no comprehension frame
            return [self.task_space.decode(self._sample(1)[0])]
        decode = self.task_space.decode
        return [decode(encoded) for encoded in self._sample(check_sample_count(k))]

    def _sample(self, k: int) -> Sequence[Any]:
        """Return ``k`` encoded tasks."""
        raise NotImplementedError(f"{type(self).__name__} must implement _sample(k)")

    # -------------------------------------------------------------- updates
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
        """Called after each env step when :attr:`requires_step_updates` is True.

        Differs from Syllabus on purpose: the parameters are named after
        Gymnasium's step result (``obs``, ``reward``, ``terminated``,
        ``truncated``, ``info``) rather than Syllabus's ``rew`` / ``term`` /
        ``trunc``, and ``progress`` / ``env_id`` are keywords with defaults.
        """

    def update_on_step_batch(self, step_results: Iterable[Sequence[Any]], env_id: int | None = None) -> None:
        """Apply many steps at once.

        ``step_results`` is an iterable of tuples ``(task, obs, reward,
        terminated, truncated, info)`` or the same with ``progress`` appended.
        """
        for result in step_results:
            if len(result) not in (6, 7):
                raise ValueError(
                    "each step result must be (task, obs, reward, terminated, truncated, info[, progress]), "
                    f"got a tuple of length {len(result)}"
                )
            task, obs, reward, terminated, truncated, info = result[:6]
            if len(result) == 7:
                self.update_on_step(task, obs, reward, terminated, truncated, info, result[6], env_id=env_id)
            else:
                self.update_on_step(task, obs, reward, terminated, truncated, info, env_id=env_id)

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
        """Called once per finished episode with its return, length and task.

        ``progress`` is the episode's success or progress in [0, 1]. ``score``
        is a per-episode learning-potential score (e.g. the mean positive value
        loss, or MaxMC) for the curricula that prioritise by one
        (:class:`~syllabus_like.curricula.PrioritizedLevelReplay`); the others
        ignore it. Whoever computed it (a trainer integration, a wrapper) supplies it.
        ``metrics`` are named per-episode values of the user's own (e.g. a
        distance reached); curricula that read none ignore them
        (:class:`~syllabus_like.SequentialCurriculum` reads those declared in
        its ``custom_metrics``).
        """

    def update_task_progress(self, task: Any, progress: float, env_id: int | None = None) -> None:
        """Called when an env reports progress (in [0, 1]) on ``task`` mid-episode."""

    # ------------------------------------------------------------ reporting
    def probabilities(self) -> np.ndarray | None:
        """Sampling probability of each task (finite spaces, in encoding order), else None."""
        return None

    def metrics(self) -> dict[str, float]:
        """Scalars describing the curriculum's current state, for logging.

        Differs from Syllabus on purpose: a sequential curriculum's ``tasks``
        counts the tasks *sampled* in the stage (``sample(k)`` adds ``k``;
        :data:`~syllabus_like.stages.SEQUENTIAL_METRICS`), so a condition on
        it means the same in the Python and the JAX curriculum.
        """
        return {}

    def log_metrics(
        self,
        writer: Any,
        logs: list[tuple[str, float]] | None = None,
        step: int | None = None,
        log_n_tasks: int = 1,
    ) -> list[tuple[str, float]]:
        """Write :meth:`metrics` and the probabilities of the first ``log_n_tasks`` tasks; return what was written.

        Syllabus's signature: ``logs`` is a list of ``(tag, value)`` items
        gathered so far (e.g. by a subclass or a wrapper, written along with
        this curriculum's), and the result is that list extended with this
        curriculum's items, in writing order. ``log_n_tasks=-1`` logs every
        task's probability; ``0`` none.

        ``writer`` is a TensorBoard-style object (``add_scalar``), a wandb-style
        object (``log``) or a callable ``(scalars, step)``. Tags are prefixed
        with ``curriculum/``; probabilities go under ``curriculum/task_probability/<task>``.
        """
        if isinstance(log_n_tasks, bool) or not isinstance(log_n_tasks, int) or log_n_tasks < -1:
            raise ValueError(f"log_n_tasks must be a non-negative int, or -1 for every task, got {log_n_tasks!r}")
        items = list(logs) if logs is not None else []
        items.extend((f"curriculum/{name}", float(value)) for name, value in self.metrics().items())
        probabilities = self.probabilities()
        if probabilities is not None:
            count = len(probabilities) if log_n_tasks == -1 else min(log_n_tasks, len(probabilities))
            for index in range(count):
                task = self.task_space.decode(index)
                items.append((f"curriculum/task_probability/{task}", float(probabilities[index])))
        write_scalars(writer, dict(items), step)
        return items

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this curriculum is, RNG included.

        ``task_space`` (the space's repr) lets :meth:`load_state_dict` refuse a
        state saved by a curriculum over another space.
        """
        return {
            "type": type(self).__name__,
            "task_space": repr(self.task_space),
            "rng": copy.deepcopy(self._rng.bit_generator.state),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned: all of it, or nothing.

        Every field is checked before anything changes: a state with a missing
        or unknown field, a field of the wrong type or out of range, or one
        saved by another kind of curriculum or over another task space raises
        ``ValueError`` naming the field, and leaves this curriculum unchanged.
        Subclasses check their fields in :meth:`_check_state` and set them in
        :meth:`_restore_state`, which cannot fail.
        """
        self._restore_state(self._check_state(state))

    def _check_state(self, state: Any) -> dict[str, Any]:
        """Check ``state`` completely and return what :meth:`_restore_state` sets; ValueError otherwise."""
        if not isinstance(state, Mapping):
            raise ValueError(
                f"a {type(self).__name__} state must be a dict returned by state_dict(), got {_short(state)}"
            )
        if state.get("type") != type(self).__name__:
            raise ValueError(
                f"state field 'type': a state_dict of a {_short(state.get('type'))} cannot be loaded "
                f"into a {type(self).__name__}"
            )
        expected = set(self.state_dict())
        missing, unknown = expected - set(state), set(state) - expected
        if missing or unknown:
            raise ValueError(
                f"state fields do not match a {type(self).__name__}'s: missing {sorted(missing)}, "
                f"unknown {sorted(map(str, unknown))}"
            )
        if state["task_space"] != repr(self.task_space):
            raise ValueError(
                f"state field 'task_space': the state was saved over {_short(state['task_space'])}, "
                f"this {type(self).__name__} is over {self.task_space!r}"
            )
        return {"rng": _checked_rng_state(self._rng.bit_generator, state["rng"])}

    def _restore_state(self, checked: dict[str, Any]) -> None:
        """Set what :meth:`_check_state` returned (never raises)."""
        self._rng.bit_generator.state = checked["rng"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.task_space!r})"
