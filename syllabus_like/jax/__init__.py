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

Also here: :func:`compile_condition` (stopping conditions as array code),
PLR score helpers, state serialisation, the JAX environment protocol and
:func:`rollout`.
"""

try:
    import equinox as _equinox  # noqa: F401
    import jax as _jax  # noqa: F401
    import jaxtyping as _jaxtyping  # noqa: F401
except ImportError as _error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        f"syllabus_like.jax needs JAX, equinox and jaxtyping ({_error.name} is missing): "
        "pip install 'syllabus-like[jax]'"
    ) from _error

from syllabus_like.jax.base import AbstractCurriculum, EmptyState
from syllabus_like.jax.compiled_condition import CompiledCondition, compile_condition
from syllabus_like.jax.constant import Constant
from syllabus_like.jax.domain_randomization import DomainRandomization
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable
from syllabus_like.jax.episodes import EpisodeBatch
from syllabus_like.jax.learning_progress import LearningProgress, LearningProgressState
from syllabus_like.jax.level_scores import EpisodeAccumulator, episode_means, max_mc_scores, positive_value_loss
from syllabus_like.jax.prioritized_level_replay import PLRState, PrioritizedLevelReplay
from syllabus_like.jax.rollout import RolloutOutput, RolloutState, random_policy, rollout, rollout_init
from syllabus_like.jax.sampling import categorical_from_cdf, cumulative_weights, sample_categorical
from syllabus_like.jax.sequential import SEQUENTIAL_METRICS, SequentialCurriculum, SequentialState
from syllabus_like.jax.serialization import load_state, save_state, state_from_bytes, state_to_bytes

__all__ = [
    "AbstractCurriculum",
    "AbstractEnvironment",
    "CompiledCondition",
    "Constant",
    "DomainRandomization",
    "EmptyState",
    "EpisodeAccumulator",
    "EpisodeBatch",
    "LearningProgress",
    "LearningProgressState",
    "PLRState",
    "PrioritizedLevelReplay",
    "RolloutOutput",
    "RolloutState",
    "SEQUENTIAL_METRICS",
    "SequentialCurriculum",
    "SequentialState",
    "TaskTable",
    "categorical_from_cdf",
    "compile_condition",
    "cumulative_weights",
    "episode_means",
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
]
