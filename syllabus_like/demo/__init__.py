"""The demo job behind ``syllabus-like demo``: tabular Q-learning on the crossing gridworld,
trained for its hardest level directly and through a :class:`~syllabus_like.SequentialCurriculum`.

Nothing here is imported by ``import syllabus_like``.
"""

from syllabus_like.demo.curriculum_demo import (
    DemoConfig,
    DemoResult,
    RunResult,
    StageSwitch,
    evaluate_greedy,
    format_table,
    make_sequential_curriculum,
    run_demo,
    stopping_condition,
    train,
)
from syllabus_like.demo.q_learning import QLearningAgent

__all__ = [
    "DemoConfig",
    "DemoResult",
    "QLearningAgent",
    "RunResult",
    "StageSwitch",
    "evaluate_greedy",
    "format_table",
    "make_sequential_curriculum",
    "run_demo",
    "stopping_condition",
    "train",
]
