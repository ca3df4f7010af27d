"""Learning-progress curriculum (Kanitscheider et al., 2021, arXiv:2106.14876).

Tasks on which the agent's success rate is *changing* are the ones it is
learning (or forgetting) right now; sample those. Per task ``i`` keep two
exponential moving averages of the success rate: a fast one and a slow one
that follows the fast one::

    p_fast_i <- (1 - a_fast) * p_fast_i + a_fast * p_i
    p_slow_i <- (1 - a_slow) * p_slow_i + a_slow * p_fast_i

where ``p_i`` is the mean success (``EpisodeBatch.progress``) of task ``i``'s
episodes in the batch; both start at the first observed ``p_i``. The
bidirectional learning progress is

    LP_i = | f(p_fast_i) - f(p_slow_i) |,   f(p) = (1 - theta) p / (p + theta (1 - 2 p))

``f`` (the paper's reweighting, ``theta`` = ``reweight_threshold``) maps 0 -> 0,
``theta`` -> 1/2, 1 -> 1, magnifying changes of small success rates, where
learning starts. Sampling weights are ``sigmoid(z_i / temperature)`` with
``z`` the z-score of ``LP`` over tasks (all weights equal when every LP is),
normalised to probabilities: every task keeps some probability, tasks with
unusually high progress get most of it.

The distribution only changes in ``update``; its cumulative table is cached
in the state there with the tunables it was built with, and ``sample``
rebuilds it only when the Module's tunables differ (so it is never stale).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from syllabus_like.jax.curricula.base import AbstractCurriculum, validate_task_count
from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.curricula.state_checks import check_rates, per_state
from syllabus_like.jax.curricula.success_rates import batch_success, draw_cached, with_cached_table

__all__ = ["LearningProgress", "LearningProgressState"]


class LearningProgressState(eqx.Module):
    """Fast and slow success estimates per task; ``seen`` marks tasks with an estimate."""

    fast: Float[Array, " num_tasks"]
    slow: Float[Array, " num_tasks"]
    seen: Bool[Array, " num_tasks"]
    cdf: Int[Array, " num_tasks"]
    cached_with: Float[Array, 2]


def _check_rate(value: object, name: str) -> None:
    if not isinstance(value, jax.core.Tracer) and not 0.0 < float(value) <= 1.0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")


class LearningProgress(AbstractCurriculum[LearningProgressState]):
    """Samples tasks by learning progress ``|f(p_fast) - f(p_slow)|`` (formulas in the module docstring).

    Args:
        num_tasks: number of tasks.
        fast_rate: ``a_fast``, the fast EMA's step size.
        slow_rate: ``a_slow``, the slow EMA's step size (smaller: slower).
        reweight_threshold: ``theta`` in (0, 1) of the reweighting ``f``.
        temperature: > 0; divides the z-scores before the sigmoid.
    """

    draws_ahead = True

    num_tasks: int = eqx.field(static=True)
    fast_rate: Float[Array, ""]
    slow_rate: Float[Array, ""]
    reweight_threshold: Float[Array, ""]
    temperature: Float[Array, ""]

    def __init__(
        self,
        num_tasks: int,
        *,
        fast_rate: float = 0.1,
        slow_rate: float = 0.1,
        reweight_threshold: float = 0.1,
        temperature: float = 1.0,
    ) -> None:
        self.num_tasks = validate_task_count(num_tasks, "LearningProgress")
        _check_rate(fast_rate, "fast_rate")
        _check_rate(slow_rate, "slow_rate")
        if not isinstance(reweight_threshold, jax.core.Tracer) and not 0.0 < float(reweight_threshold) < 1.0:
            raise ValueError(f"reweight_threshold must be in (0, 1), got {reweight_threshold!r}")
        if not isinstance(temperature, jax.core.Tracer) and not float(temperature) > 0.0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.fast_rate = jnp.asarray(fast_rate, jnp.float32)
        self.slow_rate = jnp.asarray(slow_rate, jnp.float32)
        self.reweight_threshold = jnp.asarray(reweight_threshold, jnp.float32)
        self.temperature = jnp.asarray(temperature, jnp.float32)

    def init(self, key: PRNGKeyArray) -> LearningProgressState:
        zeros = jnp.zeros((self.num_tasks,), jnp.float32)
        state = LearningProgressState(
            fast=zeros,
            slow=zeros,
            seen=jnp.zeros((self.num_tasks,), bool),
            cdf=jnp.zeros((self.num_tasks,), jnp.int32),
            cached_with=jnp.zeros((2,), jnp.float32),
        )
        return self._with_cache(state)

    def _tunables(self) -> Float[Array, 2]:
        return jnp.stack([self.reweight_threshold, self.temperature])

    def validate_state(self, state: LearningProgressState) -> LearningProgressState:
        """See the base class: success estimates in [0, 1], then the draw table rebuilt."""
        check_rates("fast", state.fast)
        check_rates("slow", state.slow)
        return per_state(self._with_cache, state, state.seen.ndim - 1)

    def _with_cache(self, state: LearningProgressState) -> LearningProgressState:
        return with_cached_table(state, self.probabilities(state), self._tunables())

    def reweight(self, p: Float[Array, "*s"]) -> Float[Array, "*s"]:
        """``f(p) = (1 - theta) p / (p + theta (1 - 2 p))``."""
        theta = self.reweight_threshold
        return (1.0 - theta) * p / (p + theta * (1.0 - 2.0 * p))

    def learning_progress(self, state: LearningProgressState) -> Float[Array, " num_tasks"]:
        """``|f(p_fast) - f(p_slow)|`` per task (0 for unseen tasks)."""
        progress = jnp.abs(self.reweight(state.fast) - self.reweight(state.slow))
        return jnp.where(state.seen, progress, 0.0)

    def probabilities(self, state: LearningProgressState) -> Float[Array, " num_tasks"]:
        progress = self.learning_progress(state)
        spread = jnp.std(progress)
        z = (progress - jnp.mean(progress)) / jnp.where(spread > 0, spread, 1.0)
        weights = jax.nn.sigmoid(z / self.temperature)
        return weights / jnp.sum(weights)

    def sample(
        self, state: LearningProgressState, key: PRNGKeyArray, n: int, mask: Bool[Array, " n"] | None = None
    ) -> tuple[LearningProgressState, Int[Array, " n"]]:
        return state, draw_cached(state, self._tunables(), lambda: self.probabilities(state), key, n)

    def update(self, state: LearningProgressState, batch: EpisodeBatch) -> LearningProgressState:
        observed, success = batch_success(batch, self.num_tasks)
        first = observed & ~state.seen
        fast = state.fast + self.fast_rate * (success - state.fast)
        slow = state.slow + self.slow_rate * (fast - state.slow)
        fast = jnp.where(first, success, jnp.where(observed, fast, state.fast))
        slow = jnp.where(first, success, jnp.where(observed, slow, state.slow))
        state = LearningProgressState(
            fast=fast, slow=slow, seen=state.seen | observed, cdf=state.cdf, cached_with=state.cached_with
        )
        return self._with_cache(state)

    def metrics(self, state: LearningProgressState) -> dict[str, Array]:
        progress = self.learning_progress(state)
        return {
            "mean_learning_progress": jnp.mean(progress),
            "max_learning_progress": jnp.max(progress),
            "tasks_seen": jnp.sum(state.seen),
        }
