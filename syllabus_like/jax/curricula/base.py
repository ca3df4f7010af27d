"""The shape every functional curriculum has.

A curriculum is an equinox Module holding its configuration, and a separate
state pytree holding everything that changes, in the spirit of optax's
``GradientTransformation``::

    curriculum = DomainRandomization(num_tasks=8)
    state = curriculum.init(key)                               # pure
    state, task_ids = curriculum.sample(state, key, n=4096)    # pure
    state = curriculum.update(state, episodes)                 # pure
    curriculum.probabilities(state)                            # [num_tasks]

Configuration that shapes arrays (number of tasks, buffer sizes, the
condition structure) is ``eqx.field(static=True)``; every tunable number
(thresholds, temperatures, probabilities) is an array leaf of the Module, so
changing it with ``eqx.tree_at`` and calling the same jitted function again
does not recompile. All methods work under ``jax.jit``, ``jax.vmap`` (e.g.
over seeds) and ``lax.scan``.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Generic, TypeVar

import equinox as eqx
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from syllabus_like.jax.curricula.episodes import EpisodeBatch

__all__ = ["AbstractCurriculum", "EmptyState"]

StateT = TypeVar("StateT")


class EmptyState(eqx.Module):
    """The state of a curriculum that keeps none (Constant, DomainRandomization)."""


class AbstractCurriculum(eqx.Module, Generic[StateT]):
    """Base of every functional curriculum over task ids ``0 .. num_tasks - 1``."""

    num_tasks: eqx.AbstractVar[int]

    #: Whether a rollout draws this curriculum's tasks for all its steps in one
    #: call before the scan, instead of once per step. The rollout then calls
    #: ``sample(state, key, n, mask=<all False>)`` once before the scan and
    #: keeps the state it returns; after the scan it passes the draws it handed
    #: out to :meth:`count_draws`. Set it only when a draw depends on nothing
    #: the rollout's steps change (the state after the last update and the
    #: key) and ``mask`` changes what is counted, not what is drawn. It pays
    #: when each draw searches a table (PrioritizedLevelReplay, LearningProgress)
    #: or checks conditions (SequentialCurriculum): one search for the whole
    #: rollout instead of one per step, and on a GPU no conditional per step.
    #: Uniform draws (DomainRandomization) cost less per step on a CPU than one
    #: large batch does.
    draws_ahead: ClassVar[bool] = False

    @abc.abstractmethod
    def init(self, key: PRNGKeyArray) -> StateT:
        """The initial state."""

    @abc.abstractmethod
    def sample(
        self,
        state: StateT,
        key: PRNGKeyArray,
        n: int,
        mask: Bool[Array, " n"] | None = None,
    ) -> tuple[StateT, Int[Array, " n"]]:
        """Draw ``n`` task ids (``n`` is static).

        ``mask`` marks which of the ``n`` draws will actually be used (e.g. the
        envs that reset this step); curricula that count sampled tasks count
        only those. ``None`` means all.
        """

    def count_draws(self, state: StateT, used: Bool[Array, "*shape"]) -> StateT:
        """Count the tasks drawn ahead (see :attr:`draws_ahead`) that were handed out: one per True entry.

        ``sample(state, key, n, mask=m)`` must equal ``sample(state, key, n,
        mask=<all False>)`` followed by ``count_draws(state, m)``. Curricula
        that count no draws keep the default, which returns the state as it is.
        """
        return state

    @abc.abstractmethod
    def update(self, state: StateT, batch: EpisodeBatch) -> StateT:
        """Learn from the finished episodes of ``batch`` (entries with ``done``)."""

    @abc.abstractmethod
    def probabilities(self, state: StateT) -> Float[Array, " num_tasks"]:
        """The probability with which :meth:`sample` draws each task now."""

    def validate_state(self, state: StateT) -> StateT:
        """``state`` checked as a state of this curriculum, for one loaded from a file (not jittable).

        Raises ``ValueError`` naming the first field that cannot belong to
        this curriculum (the loader has already compared shapes and dtypes
        with its ``init`` state). Returns the state to use, with any table
        derived from its fields rebuilt rather than trusted. Leading batch
        axes (a state vmapped over seeds) are allowed. The default checks
        nothing more.
        """
        return state

    def metrics(self, state: StateT) -> dict[str, Array]:
        """Scalars describing the state, for logging (names as in the Python curricula)."""
        return {}


def check_draw_count(n: Any) -> int:
    """``n`` must be a static, non-negative Python int."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative Python int (a static shape), got {n!r}")
    return n


def validate_task_count(num_tasks: Any, owner: str) -> int:
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks < 1:
        raise ValueError(f"{owner} needs num_tasks, a positive int, got {num_tasks!r}")
    return num_tasks
