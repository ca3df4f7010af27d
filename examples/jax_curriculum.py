"""Curricula inside a jitted JAX rollout: 1024 CartPoles, 4096 tasks, stage switches from condition strings.

Run: ``python examples/jax_curriculum.py`` (needs ``pip install 'syllabus-like[jax]'``).

1. A task is an integer id into a task table: here every (gravity, pole
   length) pair on a 64 x 64 grid. Each of the B envs carries its own task.
2. A ``SequentialCurriculum`` starts on the easy, low-gravity quarter of the
   table and widens it; its stage conditions are the same strings a Python
   ``SequentialCurriculum`` takes, compiled to array code.
3. ``rollout`` runs B envs for T steps in one compiled program: a finished
   env resets at once on a task drawn from the curriculum, and the
   curriculum is updated from the rollout's episodes before it returns.
4. ``PrioritizedLevelReplay`` on the same loop, scoring levels from the
   episodes, then its state saved and restored mid-run.
"""

from __future__ import annotations

import io

import equinox as eqx
import jax
import numpy as np

from syllabus_like.envs.cartpole_jax import CartPoleJax, cartpole_task_table
from syllabus_like.jax import (
    PrioritizedLevelReplay,
    SequentialCurriculum,
    load_state,
    random_policy,
    rollout,
    rollout_init,
    save_state,
)

NUM_ENVS, NUM_STEPS = 1024, 64


def sequential_demo() -> None:
    env = CartPoleJax()
    tasks = cartpole_task_table(env, gravity=np.linspace(5.0, 15.0, 64), length=np.linspace(0.25, 1.0, 64))
    ids = np.arange(tasks.num_tasks)
    curriculum = SequentialCurriculum(
        [list(ids[: tasks.num_tasks // 4]), list(ids[: tasks.num_tasks // 2]), list(ids)],
        ["episodes >= 5000 & episode_return > 15", "total_steps >= 1_000_000"],
        tasks.num_tasks,
    )
    run = eqx.filter_jit(rollout)  # one compilation; tunables and env fields can change freely
    policy = random_policy(env)
    state = rollout_init(env, tasks, curriculum, jax.random.key(0), NUM_ENVS)
    key = jax.random.key(1)
    print(
        f"SequentialCurriculum over {tasks.num_tasks} CartPole tasks, {NUM_ENVS} envs x {NUM_STEPS} steps per rollout"
    )
    for iteration in range(24):
        key, subkey = jax.random.split(key)
        state, output = run(env, tasks, curriculum, policy, state, subkey, NUM_STEPS)
        metrics = curriculum.metrics(state.curriculum_state)
        if iteration % 4 == 0 or iteration == 23:
            print(
                f"  rollout {iteration:2d}: stage {int(metrics['stage'])}, "
                f"{int(output.episodes.num_episodes):5d} episodes, "
                f"stage episodes {int(metrics['episodes']):6d}, mean return {float(metrics['episode_return']):5.1f}, "
                f"total steps {int(metrics['total_steps']):8d}"
            )


def plr_demo() -> None:
    env = CartPoleJax()
    tasks = cartpole_task_table(env, gravity=np.linspace(5.0, 15.0, 16), length=np.linspace(0.25, 1.0, 16))
    curriculum = PrioritizedLevelReplay(tasks.num_tasks, buffer_size=128, replay_prob=0.8, temperature=0.3)

    def score(episodes):
        # Levels where the random agent falls fastest score highest.
        return 1.0 - episodes.progress

    run = eqx.filter_jit(rollout)
    policy = random_policy(env)
    state = rollout_init(env, tasks, curriculum, jax.random.key(0), NUM_ENVS)
    for index in range(3):
        state, _ = run(env, tasks, curriculum, policy, state, jax.random.key(index + 1), NUM_STEPS, score_fn=score)

    # Save the curriculum state and a key mid-run, restore, and continue identically.
    buffer = io.BytesIO()
    save_state(buffer, (state.curriculum_state, jax.random.key(42)))
    buffer.seek(0)
    template = (curriculum.init(jax.random.key(0)), jax.random.key(0))
    restored, key = load_state(buffer, like=template)
    _, original = curriculum.sample(state.curriculum_state, jax.random.key(42), 8)
    _, again = curriculum.sample(restored, key, 8)
    assert np.array_equal(original, again)

    plr = state.curriculum_state
    probabilities = np.asarray(curriculum.probabilities(plr))
    top = np.argsort(-probabilities)[:3]
    print(f"\nPrioritizedLevelReplay over {tasks.num_tasks} tasks: buffer holds {int((plr.levels >= 0).sum())} levels")
    for task in top:
        gravity, length = (float(value) for value in tasks.task(int(task)))
        print(f"  task {task:3d} (gravity {gravity:5.2f}, half-length {length:4.2f}): p = {probabilities[task]:.4f}")
    print("  restored state draws the same tasks:", np.asarray(again).tolist())


if __name__ == "__main__":
    sequential_demo()
    plr_demo()
