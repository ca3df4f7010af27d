"""PPO's curriculum path: one copy of the curriculum state, one draw per reset, the same switches as a hand-fed curriculum."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from syllabus_like.jax import (
    PPO,
    AbstractCurriculum,
    AbstractEnvironment,
    AbstractIterationCallback,
    CurriculumEnv,
    EpisodeBatch,
    MLPActorCritic,
    SequentialCurriculum,
    TaskTable,
)
from syllabus_like.jax.training.ppo import PPORollout

NUM_ENVS, NUM_STEPS, NUM_TASKS = 4, 8, 4
BATCH = NUM_ENVS * NUM_STEPS


class Countdown(AbstractEnvironment):
    """Episodes last ``length`` steps; the observation is the step count."""

    length: Array = eqx.field(converter=lambda x: jnp.asarray(x, jnp.int32), default=3)

    @property
    def num_actions(self) -> int:
        return 2

    def reset(self, key):
        return jnp.asarray(0, jnp.int32), jnp.zeros(1)

    def step(self, key, steps, action):
        steps = steps + 1
        return steps, jnp.asarray([steps / 10.0]), jnp.asarray(1.0), steps >= self.length, jnp.asarray(False), {}


def task_table() -> TaskTable:
    return TaskTable(Countdown(), lambda env: env.length, [2, 3, 4, 5])


class HandedOut(eqx.Module):
    """State of :class:`CountingCurriculum`: how often each task was handed to a reset, and how many sample calls."""

    handed: Array
    calls: Array


class CountingCurriculum(AbstractCurriculum[HandedOut]):
    """Uniform random tasks, counting every draw a reset uses (``mask``) per task."""

    num_tasks: int = eqx.field(static=True, default=NUM_TASKS)

    def init(self, key):
        return HandedOut(jnp.zeros(self.num_tasks, jnp.int32), jnp.zeros((), jnp.int32))

    def sample(self, state, key, n, mask=None):
        drawn = jax.random.randint(key, (n,), 0, self.num_tasks)
        used = jnp.ones(n, jnp.int32) if mask is None else mask.astype(jnp.int32)
        handed = state.handed + jnp.zeros(self.num_tasks, jnp.int32).at[drawn].add(used)
        return HandedOut(handed, state.calls + 1), drawn

    def update(self, state, batch: EpisodeBatch):
        return state

    def probabilities(self, state):
        return jnp.full(self.num_tasks, 1.0 / self.num_tasks)


class RolloutLog(AbstractIterationCallback):
    """Keeps every iteration's typed rollout record: task played, done, return, length (``[I, T, B]``)."""

    capacity: int = eqx.field(static=True)

    def reset(self, ctx, *, key):
        shape = (self.capacity, NUM_STEPS, NUM_ENVS)
        return {
            "task_id": jnp.zeros(shape, jnp.int32),
            "done": jnp.zeros(shape, bool),
            "episode_return": jnp.zeros(shape, jnp.float32),
            "episode_length": jnp.zeros(shape, jnp.int32),
        }

    def on_iteration(self, ctx, *, key):
        rollout = ctx.rollout
        assert isinstance(rollout, PPORollout) and ctx.locals["rollout"] is rollout
        i = ctx.iteration_count
        return {name: ctx.state[name].at[i].set(getattr(rollout, name)) for name in ctx.state}


def ppo() -> PPO:
    return PPO(num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=1, num_minibatches=1)


def policy() -> MLPActorCritic:
    return MLPActorCritic(1, 2, key=jax.random.key(0), hidden=(4,))


def test_every_reset_draws_its_task_exactly_once_from_the_step_states_curriculum() -> None:
    iterations = 6
    env = CurriculumEnv(Countdown(), task_table(), CountingCurriculum(), key=jax.random.key(0), score="none")
    state = ppo().train(env, policy(), iterations * BATCH, key=jax.random.key(3), callback=RolloutLog(iterations))
    log = {name: np.asarray(value) for name, value in state.callback_state.items()}
    done = log["done"]
    # Every episode that started: the finished ones, plus the one each env is playing now.
    started = np.bincount(log["task_id"][done], minlength=NUM_TASKS)
    started += np.bincount(np.asarray(state.step_state.env_state.task_id), minlength=NUM_TASKS)
    handed = np.asarray(state.step_state.curriculum_state.handed)
    assert done.sum() > 2 * NUM_ENVS  # episodes of 2..5 steps: several resets per env
    assert handed.tolist() == started.tolist()  # each reset's task drawn once, and it is the task played
    # One sample call at the start and one per step that ended an episode: no second sampling to advance counters.
    steps_with_resets = int(done.any(axis=2).sum())
    assert 0 < steps_with_resets < iterations * NUM_STEPS
    assert int(state.step_state.curriculum_state.calls) == 1 + steps_with_resets
    # The env module keeps the initial state: the step state holds the only live copy.
    assert int(state.env.curriculum_state.calls) == 0
    # A finished episode's length is its task's length.
    lengths = np.asarray([2, 3, 4, 5])
    assert np.array_equal(log["episode_length"][done], lengths[log["task_id"][done]])


def test_a_hand_fed_and_a_ppo_fed_sequential_curriculum_switch_at_the_same_episode() -> None:
    iterations = 8
    curriculum = SequentialCurriculum([0, 1, [2, 3]], ["episodes>=10", "episodes>=10"], NUM_TASKS)
    env = CurriculumEnv(Countdown(), task_table(), curriculum, key=jax.random.key(1))
    trainer = ppo()
    state = trainer.train(env, policy(), BATCH, key=jax.random.key(4), callback=RolloutLog(iterations))
    ppo_stages = [int(state.step_state.curriculum_state.stage)]
    for i in range(2, iterations + 1):
        state = trainer.resume(state, i * BATCH, key=jax.random.key(4), callback=RolloutLog(iterations))
        ppo_stages.append(int(state.step_state.curriculum_state.stage))
    log = {name: np.asarray(value) for name, value in state.callback_state.items()}

    # The same episodes fed by hand: one draw per env at the start, one per reset, one update per iteration.
    hand = curriculum.init(jax.random.key(1))
    hand, first = curriculum.sample(hand, jax.random.key(9), NUM_ENVS)
    hand_stages, switch_episodes, ppo_switch_episodes = [], [], []
    for i in range(iterations):
        for t in range(NUM_STEPS):
            hand, _ = curriculum.sample(hand, jax.random.key(t), NUM_ENVS, mask=jnp.asarray(log["done"][i, t]))
        before = int(hand.stage)
        hand = curriculum.update(
            hand,
            EpisodeBatch(
                jnp.asarray(log["task_id"][i]),
                jnp.asarray(log["episode_return"][i]),
                jnp.asarray(log["episode_length"][i]),
                done=jnp.asarray(log["done"][i]),
            ),
        )
        hand_stages.append(int(hand.stage))
        if int(hand.stage) != before:
            switch_episodes.append(int(hand.total_episodes))
    # PPO's switches, located by the episodes finished when each stage change happened.
    episodes_so_far = np.cumsum(log["done"].sum(axis=(1, 2)))
    for i in range(1, iterations):
        if ppo_stages[i] != ppo_stages[i - 1]:
            ppo_switch_episodes.append(int(episodes_so_far[i]))
    if ppo_stages[0] != 0:
        ppo_switch_episodes.insert(0, int(episodes_so_far[0]))

    assert hand_stages == ppo_stages and ppo_stages[-1] == 2
    assert switch_episodes == ppo_switch_episodes and len(switch_episodes) == 2
    final = state.step_state.curriculum_state
    for counter in ("stage", "episodes", "tasks", "total_episodes", "total_tasks", "total_steps"):
        assert int(getattr(hand, counter)) == int(getattr(final, counter)), counter


def test_the_task_curriculum_example_reaches_its_plr_stage():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "jax_ppo_task_curriculum.py"
    spec = importlib.util.spec_from_file_location("jax_ppo_task_curriculum", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(30_000)
    assert result["stage"] == 2 and result["recorded_stage"] == 2
    assert 0 < result["plr_episodes"] < result["episodes"]
    assert abs(sum(result["probabilities"]) - 1.0) < 0.01
