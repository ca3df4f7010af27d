"""Prioritized Level Replay (Jiang, Grefenstette & Rocktäschel, ICML 2021), and its
robust variant (Jiang et al., "Replay-Guided Adversarial Environment Design", NeurIPS 2021).

PLR keeps a buffer of levels (tasks) with a *score* each, an estimate of how
much the agent can still learn there (e.g. the mean positive value loss of an
episode, or MaxMC). Each draw replays a level from the buffer with
probability ``p`` (``replay_prob``), or plays a level that is not in the
buffer (uniformly) with probability ``1 - p``. Replay distribution over the
buffer (paper, Section 3)::

    P_replay(l_i) = (1 - rho) * P_S(l_i) + rho * P_C(l_i)

    P_S(l_i) = h(S_i) ** (1 / beta) / sum_j h(S_j) ** (1 / beta)     score prioritisation
        rank:  h(S_i) = 1 / rank(S_i)     (rank 1 = highest score)
        topk:  h(S_i) = 1 if rank(S_i) <= k else 0
    P_C(l_i) = (c - C_i) / sum_j (c - C_j)                             staleness

with ``beta`` the temperature, ``rho`` the staleness coefficient, ``c`` the
number of episodes reported so far and ``C_i`` that count when level ``i``'s
score was last updated (uniform over the buffer while every staleness is 0).

This is the same curriculum as :class:`syllabus_like.jax.PrioritizedLevelReplay`,
with the same parameters and the same distribution for the same stream of
episodes (tested to float32 tolerance): the buffer holds ``buffer_size``
levels (at most ``num_tasks``), sorted by score, best first, so a level's
rank is its position; a replayed level takes its episode's score; a new level
enters only by beating the lowest-scored one when the buffer is full (ties
keep the level already there); among equal scores, levels keep their order.
Scores are kept in float32, as in the JAX version, so both rank alike (a
float32 subnormal counts as 0, which XLA flushes it to on a CPU).
Replay starts once ``min_fill`` of the buffer is filled; when every task is in
the buffer, every draw is a replay. The two draw from different random
streams: a Python draw first decides replay-or-new, then picks a slot or a
task; the JAX one searches one table.

Robust PLR (``robust=True``): the trainer trains only on replayed levels; an
episode on a new level is only *evaluated* (its score still updates the
buffer). :meth:`PrioritizedLevelReplay.should_train_on` tells the trainer
which case the latest draw of a task was.

Cost: ``update_on_episode`` and ``sample()`` are O(log buffer_size) apart
from a list insertion (a memmove). The buffer is one list of integer sort
keys, bisected (layout in :func:`_score_order`): each key holds a level's
score, its place among equal scores and the level itself. The list is worst
first, so the best levels, which the score part replays most, sit at its end,
where taking one out moves nothing. Staleness draws descend a Fenwick tree of
the levels' last-played counts, and a draw picks replay-or-new, then the
score part or the staleness part of ``P_replay``, then a rank or a level, so
no distribution table is rebuilt after an update. An episode costs a few
microseconds of Python at 4,000 tasks, so the hot paths read attributes into
locals once and use Python floats and ints only. ``probabilities()`` computes
the whole distribution (O(num_tasks)). Uniform numbers come from the
generator in blocks, which are part of :meth:`PrioritizedLevelReplay.state_dict`.

Each episode needs a score: ``update_on_episode(..., score=s)``. A report
without one raises at once (a PLR fed no scores would silently be uniform).
Scores come from the trainer (``CurriculumCallback()`` for SB3 computes the
positive value loss by default, :class:`syllabus_like.integrations.cleanrl.EpisodeScorer`
for a CleanRL loop) or from the wrapper (``CurriculumWrapper(env, source, score="failure")``).
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.feedback import (
    check_fraction,
    check_positive_float,
    distribution_entropy,
    require_finite_task_space,
)
from syllabus_like.curricula.state_checks import (
    checked_floats,
    checked_int,
    checked_spare_uniforms,
    is_int,
    lists_exactly,
)
from syllabus_like.task_space import TaskSpace
from syllabus_like.validation import check_positive_int

__all__ = ["PrioritizedLevelReplay"]

_FLOAT32_MIN = float(np.finfo(np.float32).min)
_FLOAT32_MAX = float(np.finfo(np.float32).max)

#: Uniform doubles drawn from the generator at a time.
_UNIFORM_BLOCK = 256

_FLOAT32 = struct.Struct("f")
_UINT32 = struct.Struct("I")  # the same 4 bytes read as the float32's bit pattern
_FLOAT32_AND_BITS = struct.Struct("fI")  # twice the 4 bytes: the float32, then its bit pattern

#: Bits of a sort key that hold a level's tie label (with :data:`_LABEL_OFFSET` added, so never negative):
#: labels are within +-(updates so far), so 2**63 updates would be needed to overflow them.
_LABEL_BITS = 64
_LABEL_OFFSET = 1 << (_LABEL_BITS - 1)


def _to_float32(value: float) -> float:
    """``value`` rounded to float32 (as ``np.float32`` rounds it: past the range, to an infinity), 4x cheaper."""
    value = float(value)
    try:
        return cast(float, _FLOAT32.unpack(_FLOAT32.pack(value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def _rank_key(score: float) -> float:
    """The number the buffer is sorted by: NaN and -inf rank lowest, +inf highest (as in the JAX version)."""
    if score != score or score == -math.inf:
        return _FLOAT32_MIN
    return _FLOAT32_MAX if score == math.inf else score


def _score_order(score: Any) -> tuple[float, int]:
    """``score`` rounded to float32, and its place in the ranking: a 32-bit int, larger for better scores.

    The place orders float32 scores as ``_rank_key(score)`` does (equal scores, -0.0 and 0.0
    included, get equal places); a subnormal float32 score is 0.0, as in the JAX version. It is
    the float32's bit pattern, reordered: the buffer's sort keys are ints
    ``place << (64 + level bits) | (tie label + 2**63) << level bits | level``, one list
    bisected and shifted once per update, with no equal keys (the label settles ties; see
    :meth:`PrioritizedLevelReplay.update_on_episode`).
    """
    try:
        packed = _FLOAT32.pack(score)
    except (OverflowError, TypeError, struct.error):  # past float32's range, or not a float yet
        score32 = _to_float32(score)
        bits = _UINT32.unpack(_FLOAT32.pack(_rank_key(score32)))[0]
    else:
        score32, bits = _FLOAT32_AND_BITS.unpack(packed * 2)
        if bits & 0x7F800000 == 0x7F800000:  # NaN or an infinity
            bits = _UINT32.unpack(_FLOAT32.pack(_rank_key(score32)))[0]
    if not bits & 0x7F800000:  # -0.0, and subnormals (which XLA flushes to zero), rank as 0.0
        score32, bits = 0.0, 0
    # Negative floats: a larger pattern is a lower score. Non-negative ones: a larger pattern is a higher score.
    return score32, 0xFFFFFFFF - bits if bits >> 31 else bits + 0x80000000


class PrioritizedLevelReplay(Curriculum):
    """PLR over a finite task space (formulas in the module docstring).

    Args:
        task_space: a finite task space.
        buffer_size: levels kept with a score (clamped to the number of tasks).
        prioritization: ``"rank"`` or ``"topk"``.
        temperature: ``beta`` > 0; lower concentrates on the best scores.
        top_k: ``k`` for ``"topk"``.
        staleness_coef: ``rho`` in [0, 1].
        replay_prob: ``p`` in [0, 1], the chance a draw replays from the buffer.
        min_fill: fraction of the buffer that must hold levels before replay starts.
        robust: robust PLR; see :meth:`should_train_on`.
        seed: seed of the curriculum's generator.
    """

    requires_scores = True

    def __init__(
        self,
        task_space: TaskSpace,
        *,
        buffer_size: int = 4096,
        prioritization: Literal["rank", "topk"] = "rank",
        temperature: float = 0.1,
        top_k: int = 1,
        staleness_coef: float = 0.1,
        replay_prob: float = 0.5,
        min_fill: float = 0.0,
        robust: bool = False,
        seed: int | None = None,
    ) -> None:
        self.num_tasks = require_finite_task_space(task_space, "PrioritizedLevelReplay")
        super().__init__(task_space, seed=seed)
        check_positive_int("buffer_size", buffer_size)
        if prioritization not in ("rank", "topk"):
            raise ValueError(f"prioritization must be 'rank' or 'topk', got {prioritization!r}")
        self.temperature = check_positive_float("temperature", temperature)
        self.top_k = check_positive_int("top_k", top_k)
        self.staleness_coef = check_fraction("staleness_coef", staleness_coef)
        self.replay_prob = check_fraction("replay_prob", replay_prob)
        self.min_fill = check_fraction("min_fill", min_fill)
        if not isinstance(robust, bool):
            raise ValueError(f"robust must be True or False, got {robust!r}")
        self.prioritization = prioritization
        self.robust = robust
        self.buffer_size = size = min(buffer_size, self.num_tasks)
        # Levels needed before replay starts, computed in float32 as the JAX version does.
        self._needed = max(float(np.ceil(np.float32(self.min_fill) * np.float32(size))), 1.0)
        rank = np.arange(1, size + 1, dtype=np.float64)
        weights = rank ** (-1.0 / self.temperature) if prioritization == "rank" else (rank <= self.top_k) * 1.0
        self._rank_weights = weights
        self._rank_cumulative = np.cumsum(weights).tolist()
        # The ranking: the levels' sort keys ascending, so worst first (layout in _score_order), and
        # what to take a key apart with: ``key >> _tail_bits`` is its place, ``key & _level_mask`` its level.
        self._level_bits = (self.num_tasks - 1).bit_length()
        self._level_mask = (1 << self._level_bits) - 1
        self._tail_bits = _LABEL_BITS + self._level_bits
        self._keys: list[int] = []
        self._ticks = 0  # score changes so far: the tie labels are +ticks and -ticks (not part of state_dict)
        # Per level, a fixed home (an index in 0 .. size-1) for what does not depend on rank.
        self._home_of: dict[int, int] = {}
        self._free_homes = list(range(size - 1, -1, -1))
        self._level_at = [-1] * size
        self._score_at = [0.0] * size
        self._key_at = [0] * size
        self._last_played_at = [0] * size
        self._max_return_at = [-math.inf] * size
        self._tree_counts = [0] * (size + 1)  # Fenwick trees over homes: levels present, last-played counts
        self._tree_last_played = [0] * (size + 1)
        self._last_played_total = 0
        self._episode_count = 0
        self._trained_on: dict[int, bool] = {}  # task -> whether its latest draw was a replay
        # The tasks outside the buffer, in some order, and each one's index in that list: built the first
        # time fewer than half the tasks are outside (before that, draws reject buffered tasks), then
        # kept up to date with O(1) swap-removals and appends.
        self._outside_tasks: list[int] | None = None
        self._outside_index: dict[int, int] = {}
        self._spare_uniforms: list[float] = []  # the next doubles of the generator's stream, last one first
        # Drawn indices are always tasks of the space, so a single draw decodes without the range
        # check (not for a subclass that draws its own way).
        fast = type(self)._sample is PrioritizedLevelReplay._sample
        self._decode_index = task_space._index_decoder() if fast else None

    # ---------------------------------------------------------- distribution
    def effective_replay_prob(self) -> float:
        """``p`` once ``min_fill`` of the buffer holds levels; 1 when every task is in the buffer."""
        filled = len(self._keys)
        if filled < self._needed:
            return 0.0
        return 1.0 if filled == self.num_tasks else self.replay_prob

    def replay_distribution(self) -> npt.NDArray[np.float64]:
        """``P_replay`` over the buffered levels, best score first."""
        filled = len(self._keys)
        if filled == 0:
            return np.zeros(0)
        weight = self._rank_weights[:filled]
        score_part = weight / weight.sum()
        last_played = np.array([self._last_played_at[self._home_of[level]] for level in self._levels()], np.float64)
        staleness = self._episode_count - last_played
        total = staleness.sum()
        staleness_part = staleness / total if total > 0 else np.full(filled, 1.0 / filled)
        return cast(
            npt.NDArray[np.float64], (1.0 - self.staleness_coef) * score_part + self.staleness_coef * staleness_part
        )

    def probabilities(self) -> np.ndarray:
        replay = self.effective_replay_prob()
        filled = len(self._keys)
        outside = self.num_tasks - filled
        probabilities = np.full(self.num_tasks, (1.0 - replay) / outside if outside else 0.0)
        if filled:
            levels = np.array(self._levels(), np.int64)
            probabilities[levels] = replay * self.replay_distribution()
        return probabilities

    # --------------------------------------------------------------- sampling
    def _levels(self) -> list[int]:
        """The buffered levels, best score first."""
        mask = self._level_mask
        return [key & mask for key in reversed(self._keys)]

    def _uniform(self) -> float:
        """The next uniform double of the generator's stream (drawn in blocks, refilled in place)."""
        spare = self._spare_uniforms
        if not spare:
            spare.extend(self._rng.random(_UNIFORM_BLOCK).tolist()[::-1])
        return spare.pop()

    def sample(self, k: int = 1) -> list[Any]:
        if type(k) is int and k == 1 and self._decode_index is not None:  # a wrapper's reset (hot path)
            return [self._decode_index(self._draw(self.effective_replay_prob()))]
        return super().sample(k)

    def _sample(self, k: int) -> list[int]:
        replay = self.effective_replay_prob()
        return [self._draw(replay) for _ in range(k)]

    def _draw(self, replay: float) -> int:
        """One encoded task: replay (with probability ``replay``) or a new level; a replay draws from
        the score part (a rank) or the staleness part."""
        keys, spare = self._keys, self._spare_uniforms
        filled = len(keys)
        replayed = replay > 0.0 and (spare.pop() if spare else self._uniform()) < replay
        if not replayed:
            task = self._draw_outside()
        elif (spare.pop() if spare else self._uniform()) >= self.staleness_coef:  # P_replay's score part: a rank
            cumulative = self._rank_cumulative
            target = (spare.pop() if spare else self._uniform()) * cumulative[filled - 1]
            # The best level first: at the default temperature it takes 99.9% of the score part.
            rank = 0 if target < cumulative[0] else self._draw_rank(target, filled)
            task = keys[filled - 1 - rank] & self._level_mask
        else:
            task = self._draw_stale()
        if self.robust:
            self._trained_on[task] = replayed
        return task

    def _draw_rank(self, target: float, filled: int) -> int:
        """The first rank among ``filled`` whose cumulative weight exceeds ``target`` (the score part's draw).

        The rank weights fall fast (at the default temperature the best level takes 99.9%), so the
        search gallops from rank 0 before it bisects: a draw of a top rank reads a few entries of
        the cumulative weights, not the ~12 a bisection over 4,000 reads (each a cache miss while
        an environment steps between draws). The rank is the bisection's over all ``filled``.
        """
        cumulative = self._rank_cumulative
        low, high = 0, 1
        while high < filled and cumulative[high - 1] <= target:
            low, high = high, 2 * high
        rank = bisect_right(cumulative, target, low, min(high, filled))
        return rank if rank < filled else filled - 1

    def _draw_stale(self) -> int:
        """A buffered level from ``P_replay``'s staleness part (uniform while every staleness is 0)."""
        filled = len(self._keys)
        total = self._episode_count * filled - self._last_played_total
        if total <= 0:
            return self._keys[filled - 1 - min(int(self._uniform() * filled), filled - 1)] & self._level_mask
        return self._level_at[self._descend_staleness(min(int(self._uniform() * total), total - 1))]

    def _descend_staleness(self, target: int) -> int:
        """The home whose cumulative staleness ``c * count - last_played`` first exceeds ``target``."""
        counts, last_played, c = self._tree_counts, self._tree_last_played, self._episode_count
        position, step = 0, 1 << self.buffer_size.bit_length()
        while step:
            following = position + step
            if following <= self.buffer_size:
                weight = c * counts[following] - last_played[following]
                if weight <= target:
                    position = following
                    target -= weight
            step >>= 1
        return position  # the 1-based tree index is position + 1: home ``position``

    def _draw_outside(self) -> int:
        """A task drawn uniformly from those outside the buffer."""
        num_tasks, home_of = self.num_tasks, self._home_of
        outside = num_tasks - len(home_of)
        if 2 * outside >= num_tasks:  # rejection: fewer than 2 tries on average
            while True:
                task = min(int(self._uniform() * num_tasks), num_tasks - 1)
                if task not in home_of:
                    return task
        if self._outside_tasks is None:
            self._outside_tasks = [task for task in range(num_tasks) if task not in home_of]
            self._outside_index = {task: index for index, task in enumerate(self._outside_tasks)}
        return self._outside_tasks[min(int(self._uniform() * outside), outside - 1)]

    def _leaves_outside(self, task: int) -> None:
        if self._outside_tasks is not None:
            index = self._outside_index.pop(task)
            last = self._outside_tasks.pop()
            if last != task:
                self._outside_tasks[index] = last
                self._outside_index[last] = index

    def _joins_outside(self, task: int) -> None:
        if self._outside_tasks is not None:
            self._outside_index[task] = len(self._outside_tasks)
            self._outside_tasks.append(task)

    def should_train_on(self, task: Any) -> bool:
        """Whether the trainer should use the episode on ``task`` for a gradient update.

        Always True for plain PLR. For robust PLR, True only when the latest
        draw of ``task`` replayed it from the buffer; an episode on a new level
        is only evaluated (its score is still reported to the curriculum).
        """
        if not self.robust:
            return True
        return self._trained_on.get(int(self.task_space.encode(task)), False)

    # ---------------------------------------------------------------- updates
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
        """Score ``task``'s level with ``score``: a replayed level takes it, a new one may enter the buffer.

        ``metrics`` is accepted for the base class's contract and ignored.
        """
        encoded = int(self.task_space.encode(task))
        if score is None:
            raise ValueError(
                "PrioritizedLevelReplay.update_on_episode needs score= (a per-episode learning-potential score, "
                "e.g. the mean positive value loss or MaxMC of the episode), got score=None for task "
                f"{task!r}; let the trainer compute it (SB3: CurriculumCallback(score='positive_value_loss'); "
                "a CleanRL loop: integrations.cleanrl.EpisodeScorer) or the wrapper from the episode alone "
                "(CurriculumWrapper(env, source, score='failure'), or a callable)"
            )
        # Kept in float32, as in the JAX version, so both rank alike.
        score32, place = _score_order(score)
        self._episode_count = count = self._episode_count + 1
        self._ticks = ticks = self._ticks + 1
        keys, tail_bits = self._keys, self._tail_bits
        home = self._home_of.get(encoded)
        if home is not None:
            # Among equal scores levels keep their order: a level whose score rose ranks after the levels
            # with its new score (they ranked before it), one whose score fell before them (they ranked after
            # it), one whose score stayed stays. Its tie label, -ticks, +ticks or unchanged, says so (the
            # list is worst first: a smaller label is a lower rank).
            old_key = self._key_at[home]
            old_place = old_key >> tail_bits
            if place != old_place:
                if keys[-1] == old_key:  # the best level, which the score part replays most
                    keys.pop()
                else:
                    del keys[bisect_left(keys, old_key)]
                label = -ticks if place > old_place else ticks
                key = (place << tail_bits) | ((label + _LABEL_OFFSET) << self._level_bits) | encoded
                insort(keys, key)
                self._key_at[home] = key
            episode_return = float(episode_return)
            if episode_return > self._max_return_at[home]:
                self._max_return_at[home] = episode_return
            self._score_at[home] = score32
            # The tree update: the level's last-played count becomes c (its count of levels is unchanged).
            delta = count - self._last_played_at[home]
            self._last_played_at[home] = count
            self._last_played_total += delta
            totals, size, index = self._tree_last_played, self.buffer_size, home + 1
            while index <= size:
                totals[index] += delta
                index += index & -index
            return
        # A new level ranks after every level with an equal score (its label, -ticks, is the smallest yet).
        key = (place << tail_bits) | ((_LABEL_OFFSET - ticks) << self._level_bits) | encoded
        position = bisect_left(keys, key)
        if len(keys) == self.buffer_size:
            if position == 0:
                return  # does not beat the lowest-scored level of a full buffer
            self._remove(keys[0] & self._level_mask)  # the lowest-scored level leaves
            del keys[0]
            position -= 1
        keys.insert(position, key)
        home = self._free_homes.pop()
        self._home_of[encoded] = home
        self._level_at[home] = encoded
        self._key_at[home] = key
        self._score_at[home] = score32
        self._max_return_at[home] = float(episode_return)
        self._last_played_at[home] = count
        self._tree_add(home, 1, count)
        self._leaves_outside(encoded)

    def _remove(self, level: int) -> None:
        home = self._home_of.pop(level)
        self._tree_add(home, -1, -self._last_played_at[home])
        self._level_at[home] = -1
        self._last_played_at[home] = 0
        self._free_homes.append(home)
        self._joins_outside(level)

    def _tree_add(self, home: int, count: int, last_played: int) -> None:
        self._last_played_total += last_played
        index = home + 1
        counts, totals, size = self._tree_counts, self._tree_last_played, self.buffer_size
        while index <= size:
            counts[index] += count
            totals[index] += last_played
            index += index & -index

    # -------------------------------------------------------------- reporting
    def max_return(self, task: Any) -> float:
        """The best return seen on ``task``'s level while in the buffer (``-inf`` otherwise), for MaxMC scores."""
        home = self._home_of.get(int(self.task_space.encode(task)))
        return self._max_return_at[home] if home is not None else float("-inf")

    def buffer(self) -> list[tuple[Any, float]]:
        """The buffered levels (decoded) with their scores, best first."""
        return [(self.task_space.decode(level), self._score_at[self._home_of[level]]) for level in self._levels()]

    def metrics(self) -> dict[str, float]:
        filled = len(self._keys)
        scores = [self._score_at[self._home_of[level]] for level in self._levels()]
        return {
            "buffer_fill": filled / self.buffer_size,
            "mean_score": float(np.mean(scores)) if filled else 0.0,
            "max_score": scores[0] if filled else 0.0,
            "replay_prob": self.effective_replay_prob(),
            "episodes": float(self._episode_count),
            "entropy": distribution_entropy(self.probabilities()),
        }

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            levels=self._levels(),
            level_at=list(self._level_at),
            free_homes=list(self._free_homes),
            score_at=list(self._score_at),
            last_played_at=list(self._last_played_at),
            max_return_at=list(self._max_return_at),
            episode_count=self._episode_count,
            trained_on=dict(self._trained_on),
            spare_uniforms=list(self._spare_uniforms),
            outside_tasks=None if self._outside_tasks is None else list(self._outside_tasks),
        )
        return state

    def _check_state(self, state: Any) -> dict[str, Any]:
        checked = super()._check_state(state)
        size, num_tasks = self.buffer_size, self.num_tasks
        what = f"buffer_size={size}"
        level_at = state["level_at"]
        if (
            not isinstance(level_at, list)
            or len(level_at) != size
            or not all(is_int(level) and -1 <= level < num_tasks for level in level_at)
        ):
            raise ValueError(
                f"state field 'level_at' must be a list of {size} ints ({what}), each a task in "
                f"0 .. {num_tasks - 1} or -1 for an empty home, got {level_at!r:.80}"
            )
        level_at = [int(level) for level in level_at]
        filled = [level for level in level_at if level >= 0]
        if len(set(filled)) != len(filled):
            raise ValueError(f"state field 'level_at' holds a level twice: {level_at!r:.80}")
        levels = state["levels"]
        if not isinstance(levels, list) or not all(is_int(level) for level in levels):
            raise ValueError(f"state field 'levels' must be a list of ints, got {levels!r:.80}")
        levels = [int(level) for level in levels]
        if sorted(levels) != sorted(filled):
            raise ValueError(
                f"state field 'levels' ({levels!r:.80}) must hold the levels of 'level_at' ({sorted(filled)!r:.80})"
            )
        free_homes = state["free_homes"]
        empty = sorted(home for home, level in enumerate(level_at) if level < 0)
        if not lists_exactly(free_homes, empty):
            raise ValueError(
                f"state field 'free_homes' must list the empty homes of 'level_at' ({empty!r:.80}), "
                f"got {free_homes!r:.80}"
            )
        score_at = checked_floats("score_at", state["score_at"], size, what=what, float32=True)
        max_return_at = checked_floats("max_return_at", state["max_return_at"], size, what=what)
        episode_count = checked_int("episode_count", state["episode_count"], 0, 2**63 - 1)
        last_played_at = state["last_played_at"]
        if (
            not isinstance(last_played_at, list)
            or len(last_played_at) != size
            or not all(is_int(count) for count in last_played_at)
            or any(
                not (1 <= count <= episode_count if level >= 0 else count == 0)
                for count, level in zip(last_played_at, level_at, strict=True)
            )
        ):
            raise ValueError(
                f"state field 'last_played_at' must be a list of {size} ints ({what}): the episode count "
                f"(1 .. 'episode_count' = {episode_count}) at which each home's level was last played, 0 for an "
                f"empty home, got {last_played_at!r:.80}"
            )
        # The ranking: the levels best first, so their scores' places must not rise along the list.
        home_of = {level: home for home, level in enumerate(level_at) if level >= 0}
        places = [_score_order(score_at[home_of[level]])[1] for level in levels]
        if any(later > earlier for earlier, later in zip(places, places[1:], strict=False)):
            raise ValueError(
                f"state field 'levels' must list the levels best score first (by 'score_at'), got {levels!r:.80}"
            )
        trained_on = state["trained_on"]
        if not isinstance(trained_on, dict) or not all(
            is_int(task) and 0 <= task < num_tasks and type(flag) is bool for task, flag in trained_on.items()
        ):
            raise ValueError(
                f"state field 'trained_on' must map tasks in 0 .. {num_tasks - 1} to bools, got {trained_on!r:.80}"
            )
        outside = state["outside_tasks"]
        if outside is not None:
            expected = sorted(set(range(num_tasks)) - set(filled))
            if not lists_exactly(outside, expected):
                raise ValueError(
                    f"state field 'outside_tasks' must be None or list the tasks outside the buffer "
                    f"({expected!r:.80}), got {outside!r:.80}"
                )
            outside = [int(task) for task in outside]
        checked.update(
            levels=levels,
            level_at=level_at,
            free_homes=[int(home) for home in free_homes],
            score_at=score_at,
            last_played_at=[int(count) for count in last_played_at],
            max_return_at=max_return_at,
            episode_count=episode_count,
            trained_on={int(task): flag for task, flag in trained_on.items()},
            spare_uniforms=checked_spare_uniforms(state["spare_uniforms"], _UNIFORM_BLOCK),
            outside_tasks=outside,
        )
        return checked

    def _restore_state(self, checked: dict[str, Any]) -> None:
        super()._restore_state(checked)
        size = self.buffer_size
        levels, level_at = checked["levels"], checked["level_at"]
        self._level_at = level_at
        self._free_homes = checked["free_homes"]
        self._score_at = checked["score_at"]
        self._last_played_at = checked["last_played_at"]
        self._max_return_at = checked["max_return_at"]
        self._home_of = {level: home for home, level in enumerate(level_at) if level >= 0}
        # Tie labels by rank (the ranking is all that matters: 0 for the best, -1 for the next, ...), and
        # later ones from there on.
        self._key_at = [0] * size
        self._keys = []
        self._ticks = len(levels)
        for label, level in enumerate(reversed(levels), start=1 - len(levels)):
            home = self._home_of[level]
            place = _score_order(self._score_at[home])[1]
            key = (place << self._tail_bits) | ((label + _LABEL_OFFSET) << self._level_bits) | level
            self._key_at[home] = key
            self._keys.append(key)
        self._tree_counts = [0] * (size + 1)
        self._tree_last_played = [0] * (size + 1)
        self._last_played_total = 0
        for home, level in enumerate(level_at):
            if level >= 0:
                self._tree_add(home, 1, self._last_played_at[home])
        self._episode_count = checked["episode_count"]
        self._trained_on = checked["trained_on"]
        self._spare_uniforms = checked["spare_uniforms"]
        outside = checked["outside_tasks"]
        if outside is None:
            self._outside_tasks = None
            self._outside_index = {}
        else:
            self._outside_tasks = outside
            self._outside_index = {task: i for i, task in enumerate(outside)}
