"""Curricula: the Curriculum base class and every curriculum, one file each."""

from syllabus_like.curricula.base import Curriculum
from syllabus_like.curricula.constant import Constant
from syllabus_like.curricula.domain_randomization import DomainRandomization
from syllabus_like.curricula.sequential import SequentialCurriculum
from syllabus_like.stages import SEQUENTIAL_METRICS

__all__ = ["SEQUENTIAL_METRICS", "Constant", "Curriculum", "DomainRandomization", "SequentialCurriculum"]
