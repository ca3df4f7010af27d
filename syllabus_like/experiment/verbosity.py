"""academia's verbosity levels, on top of :mod:`logging`.

``LearningTask.run`` and ``Experiment.run`` take ``verbose`` (0-4); a message
is logged (at ``INFO``, warnings at ``WARNING``) only when ``verbose`` reaches
its level, so the levels filter *what* is said while logging's own
configuration decides *where* it goes. Library code never prints.

======  =============================================================
level   what is logged
======  =============================================================
0       nothing (except errors)
1       task finished / task interrupted, and warnings
2       mean evaluation scores
3       each evaluation episode
4       each training episode
======  =============================================================
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = [
    "EACH_EPISODE",
    "EACH_EVALUATION",
    "EVALUATION_MEANS",
    "TASK_EVENTS",
    "check_verbose",
    "log_at",
]

TASK_EVENTS = 1
EVALUATION_MEANS = 2
EACH_EVALUATION = 3
EACH_EPISODE = 4


def check_verbose(verbose: Any) -> int:
    """``verbose`` as an int in 0..4, or a ValueError naming what was given."""
    if isinstance(verbose, bool) or not isinstance(verbose, int) or not 0 <= verbose <= 4:
        raise ValueError(f"verbose must be an int from 0 to 4, got {verbose!r}")
    return verbose


def log_at(logger: logging.Logger, verbose: int, level: int, message: str, *args: Any, warning: bool = False) -> None:
    """Log ``message % args`` when ``verbose >= level`` (at WARNING when ``warning``, else INFO)."""
    if verbose >= level:
        logger.log(logging.WARNING if warning else logging.INFO, message, *args)
