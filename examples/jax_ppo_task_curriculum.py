"""PPO on tasks drawn by a functional curriculum: a sequence of levels, then Prioritized Level Replay.

Each of PPO's environments plays its own task. A :class:`~syllabus_like.jax.TaskTable`
says what a task is (task ``i`` sets the gridworld's ``level`` field to ``i``),
a :class:`~syllabus_like.jax.CurriculumEnv` joins the environment, the table
and a functional curriculum, and PPO does the rest inside its compiled run:
every reset draws one task from the curriculum state kept in PPO's step state,
and after every iteration the finished episodes (scored by their positive
value loss) update it. The curriculum here is a
:class:`~syllabus_like.jax.SequentialCurriculum` whose last stage is itself a
curriculum: levels 0 and 1 for 100 episodes each, then
:class:`~syllabus_like.jax.PrioritizedLevelReplay` over all five levels.

Run: ``python examples/jax_ppo_task_curriculum.py [total_steps]`` (default 100,000 steps,
well under a minute on a laptop CPU).
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from syllabus_like.envs.gridworld_jax import GridCrossingJax, gridworld_task_table
from syllabus_like.jax import (
    PPO,
    CurriculumCallback,
    CurriculumEnv,
    MLPActorCritic,
    PrioritizedLevelReplay,
    SequentialCurriculum,
)


def main(total_steps: int = 100_000) -> dict:
    env = GridCrossingJax(level=4)
    tasks = gridworld_task_table(env)  # task i plays level i
    curriculum = SequentialCurriculum(
        [0, 1, PrioritizedLevelReplay(tasks.num_tasks, temperature=0.3)],
        ["episodes>=100", "episodes>=100"],
        tasks.num_tasks,
    )
    task_env = CurriculumEnv(env, tasks, curriculum, key=jax.random.key(1), score="positive_value_loss")
    observation = env.reset(jax.random.key(0))[1]
    policy = MLPActorCritic(observation.shape[-1], env.num_actions, key=jax.random.key(0))
    ppo = PPO(num_envs=16, num_steps=64, num_epochs=2, num_minibatches=4, learning_rate=1e-3)
    # CurriculumCallback is optional: it records curriculum.metrics() of the live state after every iteration.
    state = ppo.train(task_env, policy, total_steps, key=jax.random.key(2), callback=CurriculumCallback())

    sequential = state.step_state.curriculum_state  # the one live copy of the curriculum state
    plr = sequential.stage_states[2]
    report = {
        "stage": int(sequential.stage),
        "episodes": int(sequential.total_episodes),
        "plr_episodes": int(plr.episode_count),
        "probabilities": [round(float(p), 3) for p in np.asarray(curriculum.probabilities(sequential))],
        "recorded_stage": int(state.callback_state["stage"]),
    }
    return report


if __name__ == "__main__":
    result = main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
    print(f"stage {result['stage']} after {result['episodes']} episodes ({result['plr_episodes']} under PLR)")
    print(f"task probabilities now: {result['probabilities']}")
