"""The task server: a curriculum in one place, environments anywhere (``syllabus_like.server``).

:class:`TaskServer` hosts a curriculum with one of three backends (``"local"``,
``"process"``, ``"ray"``) and hands out clients that
:class:`~syllabus_like.wrappers.CurriculumWrapper` accepts in place of a
curriculum. Importing this package imports neither Ray nor any backend's
heavy dependency; the Ray backend imports ``ray`` when it is constructed.
"""

from syllabus_like.server.protocol import TaskServerError
from syllabus_like.server.task_server import BACKENDS, TaskServer

__all__ = ["BACKENDS", "TaskServer", "TaskServerError"]
