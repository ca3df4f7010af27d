"""The discrete family: the crossing gridworld with infeasible distractor levels, trained with JAX PPO.

Tasks are 50 levels of :class:`~syllabus_like.envs.gridworld_jax.GridCrossingJax`:
its five real levels (0: start in the goal room ... 4: start four rooms away,
the *target*) and 45 distractors that start four rooms away with a 6-step
limit, so the goal can never be reached (infeasible). Success is binary (the
goal reached): the env's partial ``task_completion`` is replaced by it, so an
infeasible level never looks learnable. Every arm trains the same policy with
the same PPO hyperparameters and step budget and is scored by the success
rate of the trained (stochastic) policy on the target level over 256
evaluation episodes.

Arms: ``target`` (every episode on level 4), ``domain_randomization`` (uniform
over the 50), ``sequential`` (a hand-made :class:`~syllabus_like.jax.SequentialCurriculum`
over levels 0..4, next level after 100 episodes with a mean return above
0.8), ``plr`` (positive value loss scores), ``learning_progress``,
``learnability`` (top 4).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from syllabus_like.envs.gridworld import LEVELS
from syllabus_like.envs.gridworld_jax import GridCrossingJax
from syllabus_like.jax import (
    DomainRandomization,
    Learnability,
    LearningProgress,
    PrioritizedLevelReplay,
    SequentialCurriculum,
)
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable
from syllabus_like.jax.training.curriculum_env import CurriculumCallback, CurriculumEnv
from syllabus_like.jax.training.policy import MLPActorCritic
from syllabus_like.jax.training.ppo import PPO

__all__ = ["ARMS", "BinarySuccess", "goal_reach_rate", "target_success_rate", "train_and_evaluate"]

ARMS = ("target", "domain_randomization", "sequential", "plr", "learning_progress", "learnability")
TARGET = 4
NUM_DISTRACTORS = 45


class BinarySuccess(AbstractEnvironment):
    """The wrapped env with ``info["task_completion"]`` = 1.0 on reaching the goal, else 0.0."""

    env: GridCrossingJax

    def reset(self, key):
        return self.env.reset(key)

    def step(self, key, state, action):
        state, observation, reward, terminated, truncated, info = self.env.step(key, state, action)
        info = dict(info, task_completion=terminated.astype(jnp.float32))
        return state, observation, reward, terminated, truncated, info

    @property
    def num_actions(self) -> int:
        return self.env.num_actions


def level_table() -> np.ndarray:
    """The 5 real levels and the infeasible distractors (start four rooms away, 6 steps)."""
    distractor = np.array([LEVELS[TARGET, 0], LEVELS[TARGET, 1], LEVELS[TARGET, 2], LEVELS[TARGET, 3], 6])
    return np.concatenate([LEVELS, np.tile(distractor, (NUM_DISTRACTORS, 1))])


def make_env(level: int = TARGET) -> GridCrossingJax:
    env = GridCrossingJax(level=TARGET)
    env = eqx.tree_at(lambda e: e.levels, env, jnp.asarray(level_table(), jnp.int32))
    return eqx.tree_at(lambda e: e.level, env, jnp.asarray(level, jnp.int32))


def _level_field(env: BinarySuccess) -> jax.Array:
    """The field a task sets (a module-level function, so every run reuses one compiled program)."""
    return env.env.level


def setup(arm: str, key: jax.Array):
    """The training env and callback of one arm."""
    env = BinarySuccess(make_env())
    num_tasks = len(level_table())
    if arm == "target":
        return env, None
    tasks = TaskTable(env, _level_field, jnp.arange(num_tasks, dtype=jnp.int32))
    curricula = {
        "domain_randomization": lambda: DomainRandomization(num_tasks),
        "sequential": lambda: SequentialCurriculum(
            list(range(TARGET + 1)), ["episodes>=100 & episode_return>0.8"] * TARGET, num_tasks, return_buffer_size=100
        ),
        "plr": lambda: PrioritizedLevelReplay(num_tasks),
        "learning_progress": lambda: LearningProgress(num_tasks),
        "learnability": lambda: Learnability(num_tasks, top_k=4),
    }
    if arm not in curricula:
        raise ValueError(f"unknown discrete arm {arm!r}; choose from {ARMS}")
    return CurriculumEnv(env, tasks, curricula[arm](), key=key), CurriculumCallback()


@eqx.filter_jit
def goal_reach_rate(env: AbstractEnvironment, policy: MLPActorCritic, key: jax.Array, episodes: int, max_steps: int):
    """Fraction of ``episodes`` (at most ``max_steps`` steps each) in which ``policy``, sampling its actions,
    ends ``env``'s episode by termination (on the gridworld: reaching the goal). Jitted once per shape."""

    def episode(key):
        reset_key, key = jax.random.split(key)
        state, observation = env.reset(reset_key)

        def step(carry, step_key):
            state, observation, finished, reached = carry
            action = jax.random.categorical(step_key, policy.logits(observation))
            state, observation, _, terminated, truncated, _ = env.step(step_key, state, action)
            reached = reached | (terminated & ~finished)
            return (state, observation, finished | terminated | truncated, reached), None

        carry = (state, observation, jnp.asarray(False), jnp.asarray(False))
        (_, _, _, reached), _ = jax.lax.scan(step, carry, jax.random.split(key, max_steps))
        return reached

    return jnp.mean(jax.vmap(episode)(jax.random.split(key, episodes)))


def target_success_rate(policy: MLPActorCritic, key: jax.Array, episodes: int = 256) -> float:
    """Fraction of ``episodes`` on the target level in which the stochastic policy reaches the goal."""
    return float(goal_reach_rate(make_env(TARGET), policy, key, episodes, int(LEVELS[TARGET, 4])))


def train_and_evaluate(arm: str, seed: int, timesteps: int) -> float:
    """Train one arm with one seed for ``timesteps`` env steps; return its target success rate."""
    ppo = PPO(num_envs=32, num_steps=64, num_epochs=4, num_minibatches=4, learning_rate=1e-3)
    key = jax.random.key(seed)
    env, callback = setup(arm, jax.random.fold_in(key, 2))
    policy = MLPActorCritic(make_env().num_cells, 4, key=jax.random.fold_in(key, 1))
    state = ppo.train(env, policy, timesteps, key=key, callback=callback)
    return target_success_rate(state.policy, jax.random.fold_in(key, 3))
