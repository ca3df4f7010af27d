"""Gymnasium wrappers that apply tasks and report results (``syllabus_like.wrappers``)."""

from syllabus_like.wrappers.curriculum_wrapper import CurriculumWrapper
from syllabus_like.wrappers.task_wrapper import TaskWrapper

__all__ = ["CurriculumWrapper", "TaskWrapper"]
