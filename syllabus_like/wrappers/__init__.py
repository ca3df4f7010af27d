"""Gymnasium and PettingZoo wrappers that apply tasks and report results (``syllabus_like.wrappers``).

The PettingZoo wrappers (:class:`PettingZooTaskWrapper`,
:class:`PettingZooCurriculumWrapper`, :class:`ParallelEpisode`) are loaded on
first access, so importing this package never imports PettingZoo; using them
without it raises an ImportError naming the ``pettingzoo`` extra. They are
left out of ``__all__`` so that ``from syllabus_like.wrappers import *`` does
not need it either.
"""

from typing import Any

from syllabus_like.wrappers.curriculum_wrapper import EPISODE_METRICS_KEY, CurriculumWrapper
from syllabus_like.wrappers.episode_scores import EPISODE_SCORES, TRAINER_EPISODE_KEY, FinishedEpisode
from syllabus_like.wrappers.reinit_task_wrapper import ReinitTaskWrapper
from syllabus_like.wrappers.task_source import ClosableTaskSource, TaskSource
from syllabus_like.wrappers.task_wrapper import TaskWrapper

__all__ = [
    "EPISODE_METRICS_KEY",
    "EPISODE_SCORES",
    "TRAINER_EPISODE_KEY",
    "ClosableTaskSource",
    "CurriculumWrapper",
    "FinishedEpisode",
    "ReinitTaskWrapper",
    "TaskSource",
    "TaskWrapper",
]

_PETTINGZOO_NAMES = ("ParallelEpisode", "PettingZooCurriculumWrapper", "PettingZooTaskWrapper")


def __getattr__(name: str) -> Any:
    if name in _PETTINGZOO_NAMES:
        from syllabus_like.wrappers import pettingzoo_wrapper

        return getattr(pettingzoo_wrapper, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PETTINGZOO_NAMES])
