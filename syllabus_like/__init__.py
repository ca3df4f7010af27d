"""syllabus_like: curriculum learning for reinforcement learning.

The core (this package) needs only numpy and gymnasium. Backends live in
subpackages that import their heavy dependencies themselves:
``syllabus_like.server`` (process / Ray task servers), ``syllabus_like.jax``
(the JAX backend), ``syllabus_like.wrappers`` and ``syllabus_like.envs``.
"""

from syllabus_like.conditions import (
    And,
    Comparison,
    Condition,
    ConditionSyntaxError,
    Not,
    Or,
    parse_condition,
)
from syllabus_like.curricula import (
    ALPGMM,
    SEQUENTIAL_METRICS,
    Constant,
    Curriculum,
    DomainRandomization,
    Learnability,
    LearningProgress,
    PrioritizedLevelReplay,
    SequentialCurriculum,
)
from syllabus_like.task_space import (
    BoxTaskSpace,
    DictTaskSpace,
    DiscreteTaskSpace,
    MultiDiscreteTaskSpace,
    SubsetTaskSpace,
    TaskSpace,
    TaskSpaceError,
    TupleTaskSpace,
)

__version__ = "0.1.0"

__all__ = [
    "ALPGMM",
    "SEQUENTIAL_METRICS",
    "And",
    "BoxTaskSpace",
    "Comparison",
    "Condition",
    "ConditionSyntaxError",
    "Constant",
    "Curriculum",
    "DictTaskSpace",
    "DiscreteTaskSpace",
    "DomainRandomization",
    "Learnability",
    "LearningProgress",
    "MultiDiscreteTaskSpace",
    "Not",
    "Or",
    "PrioritizedLevelReplay",
    "SequentialCurriculum",
    "SubsetTaskSpace",
    "TaskSpace",
    "TaskSpaceError",
    "TupleTaskSpace",
    "parse_condition",
]
