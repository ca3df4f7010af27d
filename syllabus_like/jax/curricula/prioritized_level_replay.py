"""Prioritized Level Replay (Jiang, Grefenstette & Rocktäschel, ICML 2021).

PLR keeps a buffer of levels (tasks) with a *score* each, an estimate of how
much the agent can still learn there (e.g. the positive value loss, see
:mod:`syllabus_like.jax.curricula.level_scores`). Each draw either replays a level from
the buffer, with probability ``p`` (``replay_prob``), or plays a level that
is not in the buffer (uniformly), with probability ``1 - p``.

Replay distribution over the buffer (paper, Section 3)::

    P_replay(l_i) = (1 - rho) * P_S(l_i) + rho * P_C(l_i)

    P_S(l_i) = h(S_i) ** (1 / beta) / sum_j h(S_j) ** (1 / beta)      score prioritisation
        rank:  h(S_i) = 1 / rank(S_i)     (rank 1 = highest score)
        top-k: h(S_i) = 1 if rank(S_i) <= k else 0
    P_C(l_i) = (c - C_i) / sum_j (c - C_j)                              staleness

where ``beta`` is the temperature, ``rho`` the staleness coefficient, ``c``
the number of episodes reported so far and ``C_i`` that count when level
``i``'s score was last updated (uniform over the buffer while every
staleness is zero).

The buffer holds ``buffer_size`` levels (at most ``num_tasks``) and is kept
sorted by score, best first, so ranks are positions. ``update`` replaces the
score of each replayed level by the mean score of its episodes in the batch
and inserts the new levels in one pass: the buffer and the candidates are
merged with a single ``top_k`` (a new level enters only by beating the
lowest-scored one; ties keep the level already there) and the task -> slot
table is rebuilt with one masked scatter. No per-episode loop.

Replay starts once ``min_fill`` of the buffer is filled; when every task is in
the buffer, every draw is a replay. Tunable numbers (``temperature``,
``top_k``, ``staleness_coef``, ``replay_prob``, ``min_fill``) are array
leaves, so changing them never recompiles. The distribution only changes in
``update``, so its cumulative table is cached in the state there, together
with the tunables it was built with; ``sample`` uses the cache when they
still match the Module's and rebuilds the table otherwise, so a cache is never
stale. The table covers the buffer slots (weighted ``p * P_replay``) and then
every task (``1 - p``, uniform over those outside the buffer), so a draw is
one uniform number and one binary search, and a batch of ``n`` draws costs
O(n log(buffer_size + num_tasks)).
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from syllabus_like.jax._numerics import saturating_add
from syllabus_like.jax.curricula.base import AbstractCurriculum, check_draw_count, validate_task_count
from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.curricula.sampling import cached_cumulative_weights, categorical_from_cdf, cumulative_weights
from syllabus_like.jax.curricula.state_checks import check_plr_state, per_state
from syllabus_like.jax.curricula.threefry import random_uniform
from syllabus_like.validation import check_positive_int

__all__ = ["PLRState", "PrioritizedLevelReplay"]

Prioritization = Literal["rank", "topk"]


class PLRState(eqx.Module):
    """The level buffer, sorted by score (best first); empty slots have level ``-1``.

    ``slot_of_task[t]`` is task ``t``'s slot, ``-1`` for tasks outside the buffer.
    ``draw_cdf`` caches the cumulative table :meth:`~PrioritizedLevelReplay.sample`
    searches (buffer slots, then tasks), built with the tunables
    ``cached_with`` (temperature, top_k, staleness_coef, replay_prob, min_fill).
    """

    levels: Int[Array, " buffer_size"]
    scores: Float[Array, " buffer_size"]
    last_played: Int[Array, " buffer_size"]
    max_returns: Float[Array, " buffer_size"]
    slot_of_task: Int[Array, " num_tasks"]
    episode_count: Int[Array, ""]
    draw_cdf: Int[Array, " buffer_size + num_tasks"]
    cached_with: Float[Array, 5]


def _check_fraction(value: object, name: str) -> None:
    if not isinstance(value, jax.core.Tracer) and not 0.0 <= float(value) <= 1.0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


class PrioritizedLevelReplay(AbstractCurriculum[PLRState]):
    """PLR over task ids ``0 .. num_tasks - 1`` (see the module docstring for the formulas).

    Args:
        num_tasks: number of levels.
        buffer_size: levels kept with a score (clamped to ``num_tasks``).
        prioritization: ``"rank"`` or ``"topk"``.
        temperature: ``beta`` > 0; lower concentrates on the best scores.
        top_k: ``k`` for ``"topk"``.
        staleness_coef: ``rho`` in [0, 1].
        replay_prob: ``p`` in [0, 1], the chance a draw replays from the buffer.
        min_fill: fraction of the buffer that must hold levels before replay starts.

    ``update`` needs ``batch.score`` (one score per episode).
    """

    draws_ahead = True

    num_tasks: int = eqx.field(static=True)
    buffer_size: int = eqx.field(static=True)
    prioritization: str = eqx.field(static=True)
    temperature: Float[Array, ""]
    top_k: Int[Array, ""]
    staleness_coef: Float[Array, ""]
    replay_prob: Float[Array, ""]
    min_fill: Float[Array, ""]

    def __init__(
        self,
        num_tasks: int,
        buffer_size: int = 4096,
        *,
        prioritization: Prioritization = "rank",
        temperature: float = 0.1,
        top_k: int = 1,
        staleness_coef: float = 0.1,
        replay_prob: float = 0.5,
        min_fill: float = 0.0,
    ) -> None:
        self.num_tasks = validate_task_count(num_tasks, "PrioritizedLevelReplay")
        check_positive_int("buffer_size", buffer_size)
        if prioritization not in ("rank", "topk"):
            raise ValueError(f"prioritization must be 'rank' or 'topk', got {prioritization!r}")
        if not isinstance(temperature, jax.core.Tracer) and not float(temperature) > 0.0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not isinstance(top_k, jax.core.Tracer) and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        _check_fraction(staleness_coef, "staleness_coef")
        _check_fraction(replay_prob, "replay_prob")
        _check_fraction(min_fill, "min_fill")
        self.buffer_size = min(buffer_size, num_tasks)
        self.prioritization = prioritization
        self.temperature = jnp.asarray(temperature, jnp.float32)
        self.top_k = jnp.asarray(top_k, jnp.int32)
        self.staleness_coef = jnp.asarray(staleness_coef, jnp.float32)
        self.replay_prob = jnp.asarray(replay_prob, jnp.float32)
        self.min_fill = jnp.asarray(min_fill, jnp.float32)

    def init(self, key: PRNGKeyArray) -> PLRState:
        size = self.buffer_size
        state = PLRState(
            levels=jnp.full((size,), -1, jnp.int32),
            scores=jnp.zeros((size,), jnp.float32),
            last_played=jnp.zeros((size,), jnp.int32),
            max_returns=jnp.full((size,), -jnp.inf, jnp.float32),
            slot_of_task=jnp.full((self.num_tasks,), -1, jnp.int32),
            episode_count=jnp.zeros((), jnp.int32),
            draw_cdf=jnp.zeros((size + self.num_tasks,), jnp.int32),
            cached_with=jnp.zeros((5,), jnp.float32),
        )
        return self._with_cache(state)

    def _tunables(self) -> Float[Array, 5]:
        return jnp.stack(
            [self.temperature, self.top_k.astype(jnp.float32), self.staleness_coef, self.replay_prob, self.min_fill]
        )

    def _draw_weights(self, state: PLRState) -> Float[Array, " buffer_size + num_tasks"]:
        """``p * P_replay`` for each buffer slot, then ``1 - p`` spread over the tasks outside the buffer."""
        replay = self.effective_replay_prob(state)
        outside = state.slot_of_task < 0
        new = (1.0 - replay) * outside / jnp.maximum(jnp.sum(outside), 1)
        return jnp.concatenate([replay * self.replay_distribution(state), new])

    def _with_cache(self, state: PLRState) -> PLRState:
        cdf = cumulative_weights(self._draw_weights(state))
        return eqx.tree_at(lambda s: (s.draw_cdf, s.cached_with), state, (cdf, self._tunables()))

    def validate_state(self, state: PLRState) -> PLRState:
        """See the base class: :func:`~syllabus_like.jax.curricula.state_checks.check_plr_state`, then the draw table rebuilt."""
        check_plr_state(self.num_tasks, self.buffer_size, state)
        return per_state(self._with_cache, state, state.levels.ndim - 1)

    def draw_cdf(self, state: PLRState) -> Int[Array, " buffer_size + num_tasks"]:
        """The cumulative draw table: the cached one when built with the current tunables."""
        return cached_cumulative_weights(
            state.draw_cdf, state.cached_with, self._tunables(), lambda: self._draw_weights(state)
        )

    # ---------------------------------------------------------- distribution
    def replay_distribution(self, state: PLRState) -> Float[Array, " buffer_size"]:
        """``P_replay`` over buffer slots (zero on empty slots)."""
        valid = state.levels >= 0
        rank = jnp.arange(1, self.buffer_size + 1, dtype=jnp.float32)
        weight = (
            jnp.exp(-jnp.log(rank) / self.temperature)
            if self.prioritization == "rank"
            else (rank <= self.top_k).astype(jnp.float32)
        )
        weight = jnp.where(valid, weight, 0.0)
        score_part = weight / jnp.maximum(jnp.sum(weight), jnp.finfo(jnp.float32).tiny)

        staleness = jnp.where(valid, state.episode_count - state.last_played, 0).astype(jnp.float32)
        total = jnp.sum(staleness)
        uniform = valid / jnp.maximum(jnp.sum(valid), 1)
        staleness_part = jnp.where(total > 0, staleness / jnp.maximum(total, 1.0), uniform)
        return (1.0 - self.staleness_coef) * score_part + self.staleness_coef * staleness_part

    def effective_replay_prob(self, state: PLRState) -> Float[Array, ""]:
        """``p`` once the buffer is filled enough; 1 when no task is left outside the buffer."""
        filled = jnp.sum(state.levels >= 0)
        needed = jnp.maximum(jnp.ceil(self.min_fill * self.buffer_size), 1.0)
        replaying = jnp.where(filled == self.num_tasks, 1.0, self.replay_prob)  # nothing left outside
        return jnp.where(filled >= needed, replaying, 0.0)

    def probabilities(self, state: PLRState) -> Float[Array, " num_tasks"]:
        weights = self._draw_weights(state)
        slots = jnp.where(state.levels >= 0, state.levels, self.num_tasks)
        replayed = jnp.zeros((self.num_tasks,), jnp.float32).at[slots].add(weights[: self.buffer_size], mode="drop")
        return replayed + weights[self.buffer_size :]

    def max_returns(self, state: PLRState) -> Float[Array, " num_tasks"]:
        """The best return seen on each buffered level (``-inf`` for the others), for MaxMC scores."""
        slots = jnp.where(state.levels >= 0, state.levels, self.num_tasks)
        return jnp.full((self.num_tasks,), -jnp.inf).at[slots].set(state.max_returns, mode="drop")

    # --------------------------------------------------------------- sampling
    def sample(
        self, state: PLRState, key: PRNGKeyArray, n: int, mask: Bool[Array, " n"] | None = None
    ) -> tuple[PLRState, Int[Array, " n"]]:
        n = check_draw_count(n)
        # Entries below buffer_size are slots to replay, the others new tasks (zero weight if in the buffer).
        entry = categorical_from_cdf(self.draw_cdf(state), random_uniform(key, n))
        replayed_level = state.levels[jnp.minimum(entry, self.buffer_size - 1)]
        return state, jnp.where(entry < self.buffer_size, replayed_level, entry - self.buffer_size)

    # ---------------------------------------------------------------- updates
    def update(self, state: PLRState, batch: EpisodeBatch) -> PLRState:
        if batch.score is None:
            raise ValueError(
                "PrioritizedLevelReplay.update needs EpisodeBatch.score (one score per episode, e.g. from "
                "syllabus_like.jax.positive_value_loss + episode_means); the batch has score=None"
            )
        batch = batch.flatten()
        num_tasks, size = self.num_tasks, self.buffer_size
        done = batch.done
        task = batch.task_id

        # Per-task aggregates of this batch (ids outside [0, num_tasks) are dropped).
        count = jnp.zeros((num_tasks,), jnp.int32).at[task].add(done.astype(jnp.int32), mode="drop")
        score_sum = jnp.zeros((num_tasks,), jnp.float32).at[task].add(jnp.where(done, batch.score, 0.0), mode="drop")
        best_return = (
            jnp.full((num_tasks,), -jnp.inf).at[task].max(jnp.where(done, batch.episode_return, -jnp.inf), mode="drop")
        )
        batch_score = score_sum / jnp.maximum(count, 1)
        episode_count = saturating_add(state.episode_count, jnp.sum(count))

        # Levels already in the buffer: new score, fresh staleness, best return.
        valid = state.levels >= 0
        level = jnp.where(valid, state.levels, 0)
        replayed = valid & (count[level] > 0)
        scores = jnp.where(replayed, batch_score[level], state.scores)
        last_played = jnp.where(replayed, episode_count, state.last_played)
        max_returns = jnp.where(replayed, jnp.maximum(state.max_returns, best_return[level]), state.max_returns)

        # Merge buffer and new levels with one top_k on the score (buffer first, so ties keep it).
        candidate = (count > 0) & (state.slot_of_task < 0)
        finite = jnp.finfo(jnp.float32)

        def rank_key(score: Array, present: Array) -> Array:
            key = jnp.nan_to_num(score, nan=finite.min, posinf=finite.max, neginf=finite.min)
            # top_k orders -0.0 below 0.0; scores compare as numbers, so the two tie (and the buffer keeps its
            # level). Subnormals are 0 too, on every platform (a CPU flushes them to zero, a GPU need not).
            key = jnp.where(jnp.abs(key) < finite.tiny, 0.0, key)
            return jnp.where(present, key, -jnp.inf)

        merged_key = jnp.concatenate([rank_key(scores, valid), rank_key(batch_score, candidate)])
        _, order = lax.top_k(merged_key, size)
        all_tasks = jnp.arange(num_tasks, dtype=jnp.int32)
        levels = jnp.concatenate([jnp.where(valid, state.levels, -1), jnp.where(candidate, all_tasks, -1)])[order]
        kept = levels >= 0
        scores = jnp.where(kept, jnp.concatenate([scores, batch_score])[order], 0.0)
        last_played = jnp.where(
            kept, jnp.concatenate([last_played, jnp.broadcast_to(episode_count, (num_tasks,))])[order], 0
        )
        max_returns = jnp.where(kept, jnp.concatenate([max_returns, best_return])[order], -jnp.inf)

        slot_of_task = (
            jnp.full((num_tasks,), -1, jnp.int32)
            .at[jnp.where(kept, levels, num_tasks)]
            .set(jnp.arange(size, dtype=jnp.int32), mode="drop")
        )
        state = PLRState(
            levels=levels,
            scores=scores,
            last_played=last_played,
            max_returns=max_returns,
            slot_of_task=slot_of_task,
            episode_count=episode_count,
            draw_cdf=state.draw_cdf,
            cached_with=state.cached_with,
        )
        return self._with_cache(state)

    def metrics(self, state: PLRState) -> dict[str, Array]:
        valid = state.levels >= 0
        filled = jnp.sum(valid)
        return {
            "buffer_fill": filled / self.buffer_size,
            "mean_score": jnp.sum(jnp.where(valid, state.scores, 0.0)) / jnp.maximum(filled, 1),
            "replay_prob": self.effective_replay_prob(state),
            "episodes": state.episode_count,
        }
