"""Per-episode scores for the curricula that prioritise by one, and the record a wrapper hands a trainer.

A score comes from one of two places (see :class:`~syllabus_like.wrappers.CurriculumWrapper`):
the episode alone (a name in :data:`EPISODE_SCORES` or a callable), or the trainer, from the
values and advantages it computed, in which case the wrapper hands each finished episode over
as a :class:`FinishedEpisode`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from syllabus_like.validation import check_progress

__all__ = [
    "EPISODE_SCORES",
    "TRAINER_EPISODE_KEY",
    "EpisodeScore",
    "FinishedEpisode",
    "check_episode_score",
    "checked_score_value",
]

#: The info key under which, while a trainer scores episodes (:meth:`CurriculumWrapper.set_trainer_scoring`),
#: an episode's last step carries its :class:`FinishedEpisode` for the trainer to report.
TRAINER_EPISODE_KEY = "curriculum_episode"

#: A per-episode score from the episode alone: ``(episode_return, episode_length, info) -> float``,
#: ``info`` being the episode's last step's.
EpisodeScore = Callable[[float, int, dict], float]


def _success(info: Mapping[str, Any]) -> float:
    return check_progress(info.get("task_completion", 0.0))


def _score_return(episode_return: float, episode_length: int, info: dict) -> float:
    return episode_return


def _score_negative_return(episode_return: float, episode_length: int, info: dict) -> float:
    return -episode_return


def _score_success(episode_return: float, episode_length: int, info: dict) -> float:
    return _success(info)


def _score_failure(episode_return: float, episode_length: int, info: dict) -> float:
    return 1.0 - _success(info)


#: The scores a :class:`CurriculumWrapper` computes by name (``score="return"``, ...):
#: ``"return"`` the episode's return (replay where the agent scores most);
#: ``"negative_return"`` minus the return (replay where it scores least);
#: ``"success"`` the episode's success, ``info["task_completion"]`` on its last step (0 without it);
#: ``"failure"`` one minus that success (replay the levels the agent fails).
EPISODE_SCORES: dict[str, EpisodeScore] = {
    "return": _score_return,
    "negative_return": _score_negative_return,
    "success": _score_success,
    "failure": _score_failure,
}


class FinishedEpisode(NamedTuple):
    """A finished training episode a wrapper hands to the trainer, which reports it with its score.

    Found in ``info[TRAINER_EPISODE_KEY]`` on the episode's last step while
    the trainer scores episodes; the trainer passes these fields to
    ``update_on_episode`` with the score it computed.
    """

    episode_return: float
    length: int
    task: Any
    progress: float
    metrics: Mapping[str, float] | None
    env_id: int | None


def check_episode_score(score: Any) -> EpisodeScore | None:
    """The score function ``score`` names or is; ValueError/TypeError saying what works otherwise."""
    if score is None:
        return None
    if isinstance(score, str):
        if score not in EPISODE_SCORES:
            raise ValueError(
                f"score must be one of {sorted(EPISODE_SCORES)}, a callable "
                f"(episode_return, episode_length, info) -> float, or None; got {score!r}"
            )
        return EPISODE_SCORES[score]
    if not callable(score):
        raise TypeError(
            f"score must be a name in {sorted(EPISODE_SCORES)} or a callable "
            f"(episode_return, episode_length, info) -> float, got {score!r}"
        )
    try:
        signature = inspect.signature(score)
    except (TypeError, ValueError):  # some builtins have no signature: trust them
        return score
    try:
        signature.bind(0.0, 0, {})
    except TypeError as error:
        raise TypeError(
            f"score={score!r} must take three arguments (episode_return, episode_length, info), "
            f"but its signature is {signature} ({error})"
        ) from None
    return score


def checked_score_value(value: Any, score: Any) -> float:
    """A score function's result as a float; TypeError naming the function for anything else."""
    if type(value) is float and math.isfinite(value):  # the usual case, first: nothing to convert
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"score={score!r} must return a real number for each episode, returned {value!r}")
    result = float(value)
    if math.isinf(result) or result != result:
        raise ValueError(f"score={score!r} returned {result!r}; an episode's score must be a finite number")
    return result
