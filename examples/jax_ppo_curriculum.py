"""PPO with a level curriculum on the crossing gridworld, all inside one jitted program.

The hardest level (start four rooms from the goal, sparse reward) is close to
unlearnable from scratch: random exploration almost never reaches the goal.
A :class:`~syllabus_like.jax.training.field_curricula.LevelCurriculum` starts on level 0
and moves the env's ``level`` field up whenever the running success rate
exceeds 0.8, so each level teaches the next. A progress bar reports every
10 iterations; the run is checkpointed halfway and resumed.

Run: ``python examples/jax_ppo_curriculum.py`` (about half a minute on a laptop CPU).
"""

from __future__ import annotations

import io
import sys

import equinox as eqx
import jax
import jax.numpy as jnp

from syllabus_like.envs.gridworld_jax import GridCrossingJax
from syllabus_like.jax import LevelCurriculum
from syllabus_like.jax.training.policy import MLPActorCritic
from syllabus_like.jax.training.ppo import PPO
from syllabus_like.jax.training.progress import ProgressCallback

HARDEST = 4
TOTAL_STEPS = 300_000


def success(done, reward, locals):
    """Per-step metric summed over an episode: the sparse reward, so 1 for a successful episode."""
    return reward


def success_rate(policy: MLPActorCritic, level: int, key: jax.Array, episodes: int = 256) -> float:
    """Fraction of ``episodes`` on ``level`` in which the policy (sampling actions) reaches the goal."""
    env = GridCrossingJax(level=level)
    max_steps = int(env.max_steps)

    @eqx.filter_jit
    def run(policy, key):
        def episode(key):
            reset_key, key = jax.random.split(key)
            state, observation = env.reset(reset_key)

            def step(carry, step_key):
                state, observation, finished, reached = carry
                action = jax.random.categorical(step_key, policy.logits(observation))
                state, observation, _, terminated, truncated, _ = env.step(step_key, state, action)
                return (state, observation, finished | terminated | truncated, reached | (terminated & ~finished)), None

            start = (state, observation, jnp.asarray(False), jnp.asarray(False))
            (_, _, _, reached), _ = jax.lax.scan(step, start, jax.random.split(key, max_steps))
            return reached

        return jnp.mean(jax.vmap(episode)(jax.random.split(key, episodes)))

    return float(run(policy, key))


def main() -> None:
    key = jax.random.key(0)
    env = GridCrossingJax(level=0)  # the curriculum's first level
    policy = MLPActorCritic(env.num_cells, env.num_actions, key=jax.random.fold_in(key, 1))
    ppo = PPO(num_envs=32, num_steps=64, num_epochs=4, num_minibatches=4, learning_rate=1e-3)
    curriculum = LevelCurriculum(lambda env: env.level, list(range(HARDEST + 1)), success, threshold=0.8)
    progress = ProgressCallback(every=10, stream=sys.stderr, metrics_fn=lambda ctx: {"level": ctx.env.level})
    callbacks = [curriculum, progress]

    print(f"before training: success on level {HARDEST} = {success_rate(policy, HARDEST, key):.2f}")

    # First half, then a checkpoint (bytes here; a file works the same way).
    state = ppo.train(env, policy, TOTAL_STEPS // 2, key=key, callback=callbacks)
    checkpoint = io.BytesIO()
    eqx.tree_serialise_leaves(checkpoint, state)
    print(f"checkpoint after {int(state.iteration_count)} iterations: level {int(state.callback_state[0].level)}")

    # Restore into a state of the same structure and finish the run.
    checkpoint.seek(0)
    template = ppo.reset(env, policy, key=key, callback=callbacks)
    state = eqx.tree_deserialise_leaves(checkpoint, template)
    state = ppo.resume(state, TOTAL_STEPS, key=key, callback=callbacks)
    jax.effects_barrier()

    level = int(state.callback_state[0].level)
    print(f"after {int(state.iteration_count)} iterations: curriculum level {level}")
    for evaluation_level in range(HARDEST + 1):
        rate = success_rate(state.policy, evaluation_level, jax.random.fold_in(key, evaluation_level))
        print(f"  success on level {evaluation_level}: {rate:.2f}")
    print("(benchmarks/jax_curriculum_learning.py compares this with training on the hardest level directly)")


if __name__ == "__main__":
    main()
