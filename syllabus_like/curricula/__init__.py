"""Curricula: the Curriculum base class and every curriculum, one file each."""

from syllabus_like.curricula.alp_gmm import ALPGMM
from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.constant import Constant
from syllabus_like.curricula.domain_randomization import DomainRandomization
from syllabus_like.curricula.learnability import Learnability
from syllabus_like.curricula.learning_progress import LearningProgress
from syllabus_like.curricula.prioritized_level_replay import PrioritizedLevelReplay
from syllabus_like.curricula.sequential import SequentialCurriculum
from syllabus_like.stages import SEQUENTIAL_METRICS

__all__ = [
    "ALPGMM",
    "SEQUENTIAL_METRICS",
    "Constant",
    "Curriculum",
    "DomainRandomization",
    "Learnability",
    "LearningProgress",
    "PrioritizedLevelReplay",
    "SequentialCurriculum",
]
