"""Per-episode scores from a trainer's rollouts (positive value loss, MaxMC), for the score-driven curricula.

A curriculum such as :class:`~syllabus_like.PrioritizedLevelReplay` ranks
tasks by how much the agent can still learn on them, which a policy-gradient
trainer already knows from the values and advantages of its last rollout.
The scores (Jiang et al., ICML 2021; MaxMC from Jiang et al., NeurIPS 2021)::

    positive_value_loss = mean_t max(A_t, 0)               over the episode's steps (GAE advantages)
    max_mc              = R_max - mean_t V(s_t)            R_max: the best return seen on the task
                                                            (this episode's included)

How an episode reaches the curriculum exactly once: while a trainer scores
episodes, each :class:`~syllabus_like.wrappers.CurriculumWrapper` reports
none itself (:meth:`~syllabus_like.wrappers.CurriculumWrapper.set_trainer_scoring`);
it puts the finished episode (a :class:`~syllabus_like.wrappers.FinishedEpisode`)
into its last step's info. The trainer hands each step's infos to
:meth:`RolloutScorer.record_step`, and after the rollout (advantages
computed) :meth:`RolloutScorer.end_rollout` scores every episode handed over
in it, in the order they ended, from the rollout's arrays. An episode that
spans rollouts is scored over all its steps: the part in earlier rollouts is
carried per env (with the advantages those rollouts computed, bootstrapped at
their ends, as PLR's reference implementation does). Episodes that end
without being handed over (evaluation) only close their env's carry.

The SB3 callback and the CleanRL helper use this class; it needs only numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from syllabus_like.wrappers.episode_scores import TRAINER_EPISODE_KEY, FinishedEpisode

__all__ = ["TRAINER_SCORES", "RolloutScorer", "ScoredEpisode", "check_trainer_score", "report_scored"]

#: The scores a trainer integration computes from its rollouts (formulas in the module docstring).
TRAINER_SCORES = ("positive_value_loss", "max_mc")


def check_trainer_score(score: Any, *, allowed_extra: Sequence[str | None] = ()) -> Any:
    """``score`` if it names a trainer score (or is one of ``allowed_extra``); ValueError otherwise."""
    if score is None and None in allowed_extra:
        return None
    if isinstance(score, str) and (score in TRAINER_SCORES or score in allowed_extra):
        return score
    choices = ", ".join(repr(choice) for choice in (*TRAINER_SCORES, *allowed_extra))
    raise ValueError(f"score must be one of {choices}; got {score!r}")


class ScoredEpisode(NamedTuple):
    """An episode a wrapper handed over, with the score the trainer computed for it."""

    episode: FinishedEpisode
    score: float
    env_index: int
    step: int


def _task_key(task: Any) -> Any:
    """A dict key for ``task`` (its repr when the task itself is unhashable, e.g. a dict or an array)."""
    try:
        hash(task)
    except TypeError:
        return repr(task)
    return task


class RolloutScorer:
    """Scores the episodes handed over by CurriculumWrappers, rollout by rollout (see the module docstring).

    Args:
        num_envs: sub-envs of the vector env (columns of the rollout arrays).
        score: ``"positive_value_loss"`` or ``"max_mc"`` (:data:`TRAINER_SCORES`).

    The rollout arrays are ``(num_steps, num_envs)``, step-major, as SB3's
    rollout buffer and a CleanRL loop keep them: ``episode_starts[t, i]`` says
    whether the observation of step ``t`` began an episode (SB3's
    ``episode_starts``, CleanRL's ``dones``), and ``last_dones[i]`` whether
    the rollout's last step ended one.
    """

    def __init__(self, num_envs: int, score: str = "positive_value_loss") -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        self.score = check_trainer_score(score)
        self.num_envs = num_envs
        self._carry_sum = np.zeros(num_envs)  # per env: the sum of the per-step quantity so far in its episode
        self._carry_count = np.zeros(num_envs, np.int64)  # ... and the steps it covers
        self._handed: dict[tuple[int, int], FinishedEpisode] = {}  # (step, env) -> episode, this rollout
        self._max_returns: dict[Any, float] = {}

    def record_step(self, step: int, infos: Any, env_indices: Sequence[int] | None = None) -> None:
        """Take the episodes handed over on rollout step ``step``.

        ``infos`` is a list of per-env info dicts (SB3) or a Gymnasium vector
        env's aggregated info dict (in either autoreset mode: with
        ``SAME_STEP`` the last step's info is under ``infos["final_info"]``);
        ``env_indices`` limits a list to those envs (e.g. the ones done on this step).
        """
        if isinstance(infos, Mapping):
            for aggregated in (infos, infos.get("final_info")):
                if isinstance(aggregated, Mapping) and TRAINER_EPISODE_KEY in aggregated:
                    mask = np.asarray(aggregated[f"_{TRAINER_EPISODE_KEY}"], dtype=bool)
                    values = aggregated[TRAINER_EPISODE_KEY]
                    for index in np.flatnonzero(mask):
                        self._take(step, int(index), values[index])
            return
        for index in range(len(infos)) if env_indices is None else env_indices:
            episode = infos[index].get(TRAINER_EPISODE_KEY)
            if episode is not None:
                self._take(step, int(index), episode)

    def _take(self, step: int, index: int, episode: Any) -> None:
        if not isinstance(episode, FinishedEpisode):
            episode = FinishedEpisode(*episode)  # a vector env may have turned it into a plain tuple
        self._handed[(int(step), index)] = episode

    def end_rollout(self, advantages: Any, values: Any, episode_starts: Any, last_dones: Any) -> list[ScoredEpisode]:
        """Score the episodes handed over in this rollout (in the order they ended) and carry the unfinished ones.

        ``advantages`` and ``values`` are the rollout's GAE advantages and
        value predictions, ``(num_steps, num_envs)`` (anything ``numpy.asarray``
        takes: a CPU torch tensor works).
        """
        quantity = self._per_step(advantages, values)
        num_steps = quantity.shape[0]
        starts = self._column_array("episode_starts", episode_starts, (num_steps, self.num_envs)).astype(bool)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1] = self._column_array("last_dones", last_dones, (self.num_envs,)).astype(bool)
        missing = [key for key in self._handed if not (0 <= key[0] < num_steps and ends[key])]
        if missing:
            raise ValueError(
                f"episodes were handed over on (step, env) {sorted(missing)[:4]}, where the rollout arrays show "
                "no episode ending; pass the rollout's own episode_starts and last dones, and the step index "
                "within the rollout to record_step"
            )
        cumulative = np.cumsum(quantity, axis=0)
        scored = []
        for index in range(self.num_envs):
            start = 0
            for end in np.flatnonzero(ends[:, index]):
                total = cumulative[end, index] - (cumulative[start - 1, index] if start else 0.0)
                count = end + 1 - start
                if start == 0:
                    total += self._carry_sum[index]
                    count += int(self._carry_count[index])
                episode = self._handed.pop((int(end), index), None)
                if episode is not None:
                    scored.append(ScoredEpisode(episode, self._episode_score(episode, total / count), index, int(end)))
                start = end + 1
            tail = cumulative[-1, index] - (cumulative[start - 1, index] if start else 0.0)
            if start == 0:
                self._carry_sum[index] += tail
                self._carry_count[index] += num_steps
            else:
                self._carry_sum[index] = tail
                self._carry_count[index] = num_steps - start
        scored.sort(key=lambda item: (item.step, item.env_index))
        return scored

    def end_without_rollout(self) -> list[ScoredEpisode]:
        """Score the episodes handed over since the last rollout ended, from the steps already scored.

        For a rollout cut short before the trainer computed its advantages
        (SB3 stops ``learn`` from a callback): each handed episode is scored on
        the steps of it that earlier rollouts covered, or NaN (ranked lowest by
        PLR) when there are none, rather than lost. Its env's carry restarts.
        """
        scored = []
        for (step, index), episode in sorted(self._handed.items()):
            count = int(self._carry_count[index])
            mean = self._carry_sum[index] / count if count else math.nan
            scored.append(ScoredEpisode(episode, self._episode_score(episode, mean), index, step))
            self._carry_sum[index] = 0.0
            self._carry_count[index] = 0
        self._handed.clear()
        return scored

    def _per_step(self, advantages: Any, values: Any) -> np.ndarray:
        if self.score == "positive_value_loss":
            array = np.asarray(advantages, dtype=np.float64)
            if array.ndim != 2 or array.shape[1] != self.num_envs:
                raise ValueError(f"advantages must have shape (num_steps, {self.num_envs}), got {array.shape}")
            return np.maximum(array, 0.0)
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != self.num_envs:
            raise ValueError(f"values must have shape (num_steps, {self.num_envs}), got {array.shape}")
        return array

    @staticmethod
    def _column_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
        array = np.asarray(value)
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
        return array

    def _episode_score(self, episode: FinishedEpisode, mean: float) -> float:
        if self.score == "positive_value_loss":
            return float(mean)
        key = _task_key(episode.task)
        best = max(self._max_returns.get(key, -math.inf), float(episode.episode_return))
        self._max_returns[key] = best
        return best - float(mean)


def report_scored(curriculum: Any, scored: Sequence[ScoredEpisode]) -> None:
    """Report each scored episode to ``curriculum`` (a Curriculum or ``server.curriculum``), once, in order."""
    for item in scored:
        episode = item.episode
        extras = {"score": item.score} if episode.metrics is None else {"score": item.score, "metrics": episode.metrics}
        curriculum.update_on_episode(
            episode.episode_return, episode.length, episode.task, episode.progress, env_id=episode.env_id, **extras
        )
