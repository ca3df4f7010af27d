"""The JAX backend: curricula as pure functions inside jitted, vmapped rollouts.

Needs the ``jax`` extra (``pip install 'syllabus-like[jax]'``): JAX, equinox,
optax and jaxtyping. Nothing here is imported by ``import syllabus_like``.

Functional curricula (optax-shaped: a Module of configuration plus a separate
state pytree)::

    import jax
    from syllabus_like.jax import DomainRandomization, EpisodeBatch

    curriculum = DomainRandomization(num_tasks=16)
    state = curriculum.init(jax.random.key(0))
    state, task_ids = curriculum.sample(state, jax.random.key(1), 4096)
    state = curriculum.update(state, EpisodeBatch(task_ids, returns, lengths, done=dones))

Two halves: :mod:`syllabus_like.jax.curricula` (the functional curricula,
their sampling and scoring helpers) and :mod:`syllabus_like.jax.training`
(the training API: :class:`AbstractAlgorithm` and :class:`PPO`, callbacks
(:class:`AbstractCallback` and its variants, :class:`CallbackList`), curricula
that change the env while a jitted loop trains (:class:`ScheduledCurriculum`,
:class:`LevelCurriculum`) and :class:`CurriculumEnv`, whose resets draw tasks
from a functional curriculum). Between them, at this level:
:func:`compile_condition` (stopping conditions as array code), state
serialisation, the JAX environment protocol (:class:`AbstractEnvironment`,
:class:`TaskTable`) and :func:`rollout`. Every public name is importable from
here.
"""

try:
    import equinox as _equinox  # noqa: F401
    import jax as _jax  # noqa: F401
    import jaxtyping as _jaxtyping  # noqa: F401
    import optax as _optax  # noqa: F401
except ImportError as _error:  # pragma: no cover - exercised in a subprocess test
    # The one guard for the whole package: importing any syllabus_like.jax module runs it first.
    raise ImportError(
        f"syllabus_like.jax needs JAX, equinox, optax and jaxtyping ({_error.name} is missing): "
        "pip install 'syllabus-like[jax]'"
    ) from _error

from syllabus_like.jax.compiled_condition import CompiledCondition, compile_condition
from syllabus_like.jax.curricula.base import AbstractCurriculum, EmptyState
from syllabus_like.jax.curricula.constant import Constant
from syllabus_like.jax.curricula.domain_randomization import DomainRandomization
from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.curricula.learnability import Learnability, LearnabilityState
from syllabus_like.jax.curricula.learning_progress import LearningProgress, LearningProgressState
from syllabus_like.jax.curricula.level_scores import (
    EpisodeAccumulator,
    episode_means,
    max_mc_scores,
    positive_value_loss,
)
from syllabus_like.jax.curricula.prioritized_level_replay import PLRState, PrioritizedLevelReplay
from syllabus_like.jax.curricula.sampling import categorical_from_cdf, cumulative_weights, sample_categorical
from syllabus_like.jax.curricula.sequential import SEQUENTIAL_METRICS, SequentialCurriculum, SequentialState
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable
from syllabus_like.jax.rollout import RolloutOutput, RolloutState, random_policy, rollout, rollout_init
from syllabus_like.jax.serialization import load_state, save_state, state_from_bytes, state_to_bytes
from syllabus_like.jax.training.algorithm import AbstractAlgorithm
from syllabus_like.jax.training.callback import (
    AbstractCallback,
    AbstractCallbackState,
    AbstractCallbackStepState,
    AbstractIterationCallback,
    AbstractStatelessCallback,
    AbstractStepCallback,
    AbstractTrainingCallback,
    CallbackList,
    EmptyCallbackState,
    EmptyCallbackStepState,
    IterationContext,
    ResetContext,
    StepContext,
    TrainingContext,
)
from syllabus_like.jax.training.curriculum_env import CurriculumCallback, CurriculumEnv
from syllabus_like.jax.training.field_curricula import (
    AbstractAdaptiveCurriculum,
    AdaptiveCurriculumState,
    AdaptiveCurriculumStepState,
    AdaptiveState,
    LevelCurriculum,
    LevelState,
    ScheduledCurriculum,
)
from syllabus_like.jax.training.policy import AbstractActorCritic, MLPActorCritic
from syllabus_like.jax.training.ppo import PPO, PPORollout, PPOState, PPOStepState
from syllabus_like.jax.training.progress import ProgressCallback, ProgressReporter
from syllabus_like.jax.training.schedules import (
    AbstractSchedule,
    CosineSchedule,
    LinearSchedule,
    StepSchedule,
    cosine_schedule,
    linear_schedule,
    step_schedule,
)
from syllabus_like.jax.training.state import AbstractAlgorithmState, AbstractStepState

__all__ = [
    "AbstractActorCritic",
    "AbstractAdaptiveCurriculum",
    "AbstractAlgorithm",
    "AbstractAlgorithmState",
    "AbstractCallback",
    "AbstractCallbackState",
    "AbstractCallbackStepState",
    "AbstractCurriculum",
    "AbstractEnvironment",
    "AbstractIterationCallback",
    "AbstractSchedule",
    "AbstractStatelessCallback",
    "AbstractStepCallback",
    "AbstractStepState",
    "AbstractTrainingCallback",
    "AdaptiveCurriculumState",
    "AdaptiveCurriculumStepState",
    "AdaptiveState",
    "CallbackList",
    "CompiledCondition",
    "Constant",
    "CosineSchedule",
    "CurriculumCallback",
    "CurriculumEnv",
    "DomainRandomization",
    "EmptyCallbackState",
    "EmptyCallbackStepState",
    "EmptyState",
    "EpisodeAccumulator",
    "EpisodeBatch",
    "IterationContext",
    "Learnability",
    "LearnabilityState",
    "LearningProgress",
    "LearningProgressState",
    "LevelCurriculum",
    "LevelState",
    "LinearSchedule",
    "MLPActorCritic",
    "PLRState",
    "PPO",
    "PPORollout",
    "PPOState",
    "PPOStepState",
    "PrioritizedLevelReplay",
    "ProgressCallback",
    "ProgressReporter",
    "ResetContext",
    "RolloutOutput",
    "RolloutState",
    "SEQUENTIAL_METRICS",
    "ScheduledCurriculum",
    "SequentialCurriculum",
    "SequentialState",
    "StepContext",
    "StepSchedule",
    "TaskTable",
    "TrainingContext",
    "categorical_from_cdf",
    "compile_condition",
    "cosine_schedule",
    "cumulative_weights",
    "episode_means",
    "linear_schedule",
    "load_state",
    "max_mc_scores",
    "positive_value_loss",
    "random_policy",
    "rollout",
    "rollout_init",
    "sample_categorical",
    "save_state",
    "state_from_bytes",
    "state_to_bytes",
    "step_schedule",
]
