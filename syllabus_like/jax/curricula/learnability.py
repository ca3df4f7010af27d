"""Learnability sampling, "Sampling For Learnability" (SFL; Rutherford et al., 2024, arXiv:2408.15099).

Scores task ``i`` by its *learnability* ``L_i = p_i (1 - p_i)``, with ``p_i``
an exponential moving average of its episodes' success (``EpisodeBatch.progress``,
clipped to [0, 1]) with step ``ema_rate``, starting at the first observed
batch mean; tasks never reported have ``L_i = 0``. The distribution mixes a
learnable part with uniform exploration::

    P(i) = learnable_prob * P_L(i) + (1 - learnable_prob) / N

    sampling="topk":  P_L uniform over the (at most) ``top_k`` tasks of highest
                      positive learnability (ties: lower task id first)
    sampling="dist":  P_L(i) = L_i / sum_j L_j

with ``P_L`` uniform over all tasks while no task has positive learnability.
The same curriculum as :class:`syllabus_like.curricula.Learnability` (whose
docstring compares it with the Syllabus library's); for the same stream of
episodes, one per batch, both give the same ``probabilities()`` (tested to
float32 tolerance); they draw from different random streams.

``L`` is computed as ``q (1 - q)`` with ``q = min(p, 1 - p)`` so that ``p`` and
``1 - p`` tie exactly. ``top_k`` and ``learnable_prob`` are array leaves
(changing them never recompiles); the cumulative draw table is cached in the
state by ``update`` with the tunables it was built with, and rebuilt by
``sample`` only when they differ.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from syllabus_like.jax.curricula.base import AbstractCurriculum, validate_task_count
from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.curricula.state_checks import check_rates, per_state
from syllabus_like.jax.curricula.success_rates import batch_success, draw_cached, with_cached_table

__all__ = ["Learnability", "LearnabilityState"]


class LearnabilityState(eqx.Module):
    """Success-rate estimate per task; ``seen`` marks tasks with an estimate."""

    success: Float[Array, " num_tasks"]
    seen: Bool[Array, " num_tasks"]
    cdf: Int[Array, " num_tasks"]
    cached_with: Float[Array, 2]


def _is_concrete(value: object) -> bool:
    return not isinstance(value, jax.core.Tracer)


class Learnability(AbstractCurriculum[LearnabilityState]):
    """Samples tasks by learnability ``p (1 - p)`` (formulas in the module docstring).

    Args:
        num_tasks: number of tasks.
        ema_rate: step of the success-rate moving average, in (0, 1].
        top_k: size of the learnable buffer for ``sampling="topk"`` (clamped to ``num_tasks``).
        learnable_prob: share of draws from the learnable part, in [0, 1].
        sampling: ``"topk"`` or ``"dist"``.
    """

    draws_ahead = True

    num_tasks: int = eqx.field(static=True)
    sampling: str = eqx.field(static=True)
    ema_rate: Float[Array, ""]
    top_k: Int[Array, ""]
    learnable_prob: Float[Array, ""]

    def __init__(
        self,
        num_tasks: int,
        *,
        ema_rate: float = 0.1,
        top_k: int = 100,
        learnable_prob: float = 0.5,
        sampling: Literal["topk", "dist"] = "topk",
    ) -> None:
        self.num_tasks = validate_task_count(num_tasks, "Learnability")
        if _is_concrete(ema_rate) and not 0.0 < float(ema_rate) <= 1.0:
            raise ValueError(f"ema_rate must be in (0, 1], got {ema_rate!r}")
        if _is_concrete(top_k) and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        if _is_concrete(learnable_prob) and not 0.0 <= float(learnable_prob) <= 1.0:
            raise ValueError(f"learnable_prob must be in [0, 1], got {learnable_prob!r}")
        if sampling not in ("topk", "dist"):
            raise ValueError(f"sampling must be 'topk' or 'dist', got {sampling!r}")
        self.sampling = sampling
        self.ema_rate = jnp.asarray(ema_rate, jnp.float32)
        self.top_k = jnp.minimum(jnp.asarray(top_k, jnp.int32), num_tasks)
        self.learnable_prob = jnp.asarray(learnable_prob, jnp.float32)

    def init(self, key: PRNGKeyArray) -> LearnabilityState:
        state = LearnabilityState(
            success=jnp.zeros((self.num_tasks,), jnp.float32),
            seen=jnp.zeros((self.num_tasks,), bool),
            cdf=jnp.zeros((self.num_tasks,), jnp.int32),
            cached_with=jnp.zeros((2,), jnp.float32),
        )
        return self._with_cache(state)

    def _tunables(self) -> Float[Array, 2]:
        return jnp.stack([self.top_k.astype(jnp.float32), self.learnable_prob])

    def validate_state(self, state: LearnabilityState) -> LearnabilityState:
        """See the base class: success estimates in [0, 1], then the draw table rebuilt."""
        check_rates("success", state.success)
        return per_state(self._with_cache, state, state.seen.ndim - 1)

    def _with_cache(self, state: LearnabilityState) -> LearnabilityState:
        return with_cached_table(state, self.probabilities(state), self._tunables())

    def learnability(self, state: LearnabilityState) -> Float[Array, " num_tasks"]:
        """``p (1 - p)`` per task, 0 for tasks never reported."""
        q = jnp.minimum(state.success, 1.0 - state.success)
        return jnp.where(state.seen, q * (1.0 - q), 0.0)

    def in_buffer(self, state: LearnabilityState) -> Bool[Array, " num_tasks"]:
        """The learnable buffer of ``sampling="topk"``: the ``top_k`` most learnable tasks with positive learnability."""
        scores = self.learnability(state)
        order = jnp.argsort(-scores, stable=True)
        rank = jnp.zeros((self.num_tasks,), jnp.int32).at[order].set(jnp.arange(self.num_tasks, dtype=jnp.int32))
        return (rank < self.top_k) & (scores > 0)

    def probabilities(self, state: LearnabilityState) -> Float[Array, " num_tasks"]:
        learnable = self.in_buffer(state).astype(jnp.float32) if self.sampling == "topk" else self.learnability(state)
        total = jnp.sum(learnable)
        uniform = jnp.full((self.num_tasks,), 1.0 / self.num_tasks, jnp.float32)
        learnable = jnp.where(total > 0, learnable / jnp.where(total > 0, total, 1.0), uniform)
        return self.learnable_prob * learnable + (1.0 - self.learnable_prob) * uniform

    def sample(
        self, state: LearnabilityState, key: PRNGKeyArray, n: int, mask: Bool[Array, " n"] | None = None
    ) -> tuple[LearnabilityState, Int[Array, " n"]]:
        return state, draw_cached(state, self._tunables(), lambda: self.probabilities(state), key, n)

    def update(self, state: LearnabilityState, batch: EpisodeBatch) -> LearnabilityState:
        observed, batch_mean = batch_success(batch, self.num_tasks)
        moved = state.success + self.ema_rate * (batch_mean - state.success)
        success = jnp.where(observed & ~state.seen, batch_mean, jnp.where(observed, moved, state.success))
        state = LearnabilityState(
            success=success, seen=state.seen | observed, cdf=state.cdf, cached_with=state.cached_with
        )
        return self._with_cache(state)

    def metrics(self, state: LearnabilityState) -> dict[str, Array]:
        scores = self.learnability(state)
        return {
            "buffer_fill": jnp.sum(self.in_buffer(state)) / self.top_k,
            "mean_learnability": jnp.mean(scores),
            "max_learnability": jnp.max(scores),
            "tasks_seen": jnp.sum(state.seen),
        }
