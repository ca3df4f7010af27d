"""The demo job behind ``syllabus-like demo``: tabular Q-learning on the crossing gridworld,
trained for its hardest level directly and through a :class:`~syllabus_like.SequentialCurriculum`,
both declared as experiments in ``examples/experiments/`` and run by :mod:`syllabus_like.experiment`.

Nothing here is imported by ``import syllabus_like``.
"""

from syllabus_like.agents import QLearningAgent
from syllabus_like.demo.curriculum_demo import (
    DEMO_FILES,
    HARDEST_LEVEL,
    DemoConfig,
    DemoResult,
    RunResult,
    StageSwitch,
    experiments_directory,
    format_table,
    run_demo,
    stopping_condition,
)

__all__ = [
    "DEMO_FILES",
    "HARDEST_LEVEL",
    "DemoConfig",
    "DemoResult",
    "QLearningAgent",
    "RunResult",
    "StageSwitch",
    "experiments_directory",
    "format_table",
    "run_demo",
    "stopping_condition",
]
