"""Curriculum callbacks inside jitted PPO runs: schedules, scheduled fields, adaptive levels.

Mechanics only (which value a field has at which iteration, when a level
advances, that tuning does not recompile), with budgets of a few
iterations. Whether a curriculum helps learning is measured by
``benchmarks/jax_curriculum_learning.py``.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

from syllabus_like.jax.curricula.prioritized_level_replay import PrioritizedLevelReplay
from syllabus_like.jax.curricula.sequential import SequentialCurriculum
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable
from syllabus_like.jax.training.callback import AbstractIterationCallback
from syllabus_like.jax.training.curriculum_env import CurriculumCallback, CurriculumEnv
from syllabus_like.jax.training.field_curricula import AdaptiveState, LevelCurriculum, ScheduledCurriculum
from syllabus_like.jax.training.policy import MLPActorCritic
from syllabus_like.jax.training.ppo import PPO
from syllabus_like.jax.training.schedules import cosine_schedule, linear_schedule, step_schedule

NUM_ENVS, NUM_STEPS = 3, 8
BATCH = NUM_ENVS * NUM_STEPS


class Tunable(AbstractEnvironment):
    """Episodes end after ``length`` steps; every step pays ``scale``.

    ``length`` and ``scale`` are array fields (a curriculum may set them);
    ``half_length`` is derived, as a property, so it follows ``length``.
    """

    length: Array = eqx.field(converter=lambda x: jnp.asarray(x, jnp.int32), default=3)
    scale: Array = eqx.field(converter=lambda x: jnp.asarray(x, jnp.float32), default=1.0)

    @property
    def half_length(self) -> Array:
        return self.length // 2

    @property
    def num_actions(self) -> int:
        return 2

    def reset(self, key):
        return jnp.asarray(0, jnp.int32), jnp.zeros(2)

    def step(self, key, steps, action):
        steps = steps + 1
        observation = jnp.stack([steps / 10.0, (steps >= self.half_length).astype(jnp.float32)])
        return steps, observation, self.scale, steps >= self.length, jnp.asarray(False), {}


class FieldRecorder(AbstractIterationCallback):
    """Records, per iteration, the env fields the rollout ran with and the mean reward it saw."""

    capacity: int = eqx.field(static=True, default=12)

    def reset(self, ctx, *, key):
        return {name: jnp.full(self.capacity, -1.0) for name in ("length", "scale", "reward", "half")}

    def on_iteration(self, ctx, *, key):
        i = ctx.iteration_count
        return {
            "length": ctx.state["length"].at[i].set(ctx.env.length),
            "scale": ctx.state["scale"].at[i].set(ctx.env.scale),
            "reward": ctx.state["reward"].at[i].set(ctx.training_log["reward"]),
            "half": ctx.state["half"].at[i].set(ctx.env.half_length),
        }


@pytest.fixture(scope="module")
def ppo() -> PPO:
    return PPO(num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=1, num_minibatches=1)


@pytest.fixture(scope="module")
def policy() -> MLPActorCritic:
    return MLPActorCritic(2, 2, key=jax.random.key(0), hidden=(8,))


# --------------------------------------------------------------------------- schedules
def test_linear_schedule_is_clamped_at_both_ends() -> None:
    schedule = linear_schedule(2.0, 10.0, 4)
    values = [float(schedule(jnp.asarray(i))) for i in (-3, 0, 1, 2, 4, 9)]
    assert values == [2.0, 2.0, 4.0, 6.0, 10.0, 10.0]
    vector = linear_schedule(jnp.zeros(2), jnp.asarray([1.0, -1.0]), 2)
    np.testing.assert_allclose(np.asarray(vector(jnp.asarray(1))), [0.5, -0.5])
    with pytest.raises(ValueError, match="total must be a positive finite number, got 0"):
        linear_schedule(0.0, 1.0, 0)


def test_step_schedule_switches_at_the_boundaries_and_validates() -> None:
    schedule = step_schedule([1.0, 2.0, 5.0], [2, 4])
    assert [float(schedule(jnp.asarray(i))) for i in range(7)] == [1.0, 1.0, 2.0, 2.0, 5.0, 5.0, 5.0]
    assert float(step_schedule([3.0], [])(jnp.asarray(100))) == 3.0
    with pytest.raises(ValueError, match=r"len\(values\) == len\(boundaries\) \+ 1.*got 2 values and 2 boundaries"):
        step_schedule([1.0, 2.0], [2, 4])
    with pytest.raises(ValueError, match=r"strictly increasing, got \[4, 2\]"):
        step_schedule([1.0, 2.0, 3.0], [4, 2])
    with pytest.raises(ValueError, match="non-negative integers"):
        step_schedule([1.0, 2.0], [1.5])
    with pytest.raises(ValueError, match="values must be a sequence"):
        step_schedule(1.0, [])


def test_cosine_schedule_goes_from_start_to_end() -> None:
    schedule = cosine_schedule(1.0, 0.0, 10)
    values = np.asarray([float(schedule(jnp.asarray(i))) for i in range(12)])
    assert values[0] == pytest.approx(1.0) and values[5] == pytest.approx(0.5) and values[10] == pytest.approx(0.0)
    assert values[11] == pytest.approx(0.0) and np.all(np.diff(values[:11]) < 0)
    assert float(schedule(jnp.asarray(3))) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.3)))


# --------------------------------------------------------------------------- scheduled curriculum
def test_scheduled_curriculum_sets_fields_at_the_right_iteration(ppo: PPO, policy: MLPActorCritic) -> None:
    callbacks = [
        ScheduledCurriculum(lambda env: env.scale, step_schedule([1.0, 2.0, 5.0], [2, 4])),
        ScheduledCurriculum(lambda env: env.length, linear_schedule(2, 6, 4)),
        FieldRecorder(),
    ]
    state = ppo.train(Tunable(), policy, 6 * BATCH, key=jax.random.key(0), callback=callbacks)
    record = state.callback_state[2]
    assert np.asarray(record["scale"][:6]).tolist() == [1.0, 1.0, 2.0, 2.0, 5.0, 5.0]
    assert np.asarray(record["length"][:6]).tolist() == [2.0, 3.0, 4.0, 5.0, 6.0, 6.0]
    # The derived parameter followed the field it is computed from.
    assert np.asarray(record["half"][:6]).tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    # The rollouts really ran with the scheduled values: every reward equals the scale.
    np.testing.assert_allclose(np.asarray(record["reward"][:6]), [1.0, 1.0, 2.0, 2.0, 5.0, 5.0])
    assert int(state.env.length) == 6 and float(state.env.scale) == 5.0  # the final state keeps them


class PythonNumberEnv(Tunable):
    gravity: float = 9.8


def test_a_python_number_field_is_refused_with_a_clear_message(ppo: PPO, policy: MLPActorCritic) -> None:
    curriculum = ScheduledCurriculum(lambda env: env.gravity, linear_schedule(1.0, 2.0, 3))
    with pytest.raises(TypeError, match=r"must be a JAX array.*PythonNumberEnv has 9.8 \(float\)"):
        ppo.train(PythonNumberEnv(), policy, BATCH, key=jax.random.key(0), callback=curriculum)
    with pytest.raises(TypeError, match="where must be a function"):
        ScheduledCurriculum("gravity", linear_schedule(1.0, 2.0, 3))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- adaptive / levels
TRACES: list[int] = []


def steps_metric(done, reward, locals):
    """One per step, so an episode's metric is its length (and counts traces of the run)."""
    TRACES.append(1)
    return jnp.asarray(1.0)


def length_field(env):
    return env.length


LEVELS = [3, 4, 6, 7]


def run_iteration_by_iteration(ppo, policy, curriculum, iterations, key):
    """Resume one iteration at a time (one compiled program) and collect the callback state after each."""
    state = ppo.train(Tunable(), policy, BATCH, key=key, callback=curriculum)
    states = [state]
    for i in range(2, iterations + 1):
        state = ppo.resume(state, i * BATCH, key=key, callback=curriculum)
        states.append(state)
    return states


def test_the_average_counts_completed_episodes_only(ppo: PPO, policy: MLPActorCritic) -> None:
    # Threshold out of reach: the level stays, and every completed episode has length 3 exactly;
    # 8 steps per iteration leave an unfinished episode in every environment at each boundary.
    curriculum = LevelCurriculum(length_field, LEVELS, steps_metric, threshold=100.0, smoothing=0.1)
    states = run_iteration_by_iteration(ppo, policy, curriculum, 3, jax.random.key(1))
    for state in states:
        adaptive: AdaptiveState = state.callback_state
        assert int(adaptive.level) == 0 and int(state.env.length) == 3
        episodes = int(adaptive.episodes)
        assert episodes == NUM_ENVS * (int(state.iteration_count) * NUM_STEPS // 3)
        # An average over episodes of length 3 only: partial episodes would pull the mean below 3.
        assert float(adaptive.metric) == pytest.approx(3.0 * (1.0 - 0.9**episodes), rel=1e-5)


def test_levels_advance_when_the_metric_crosses_the_threshold(ppo: PPO, policy: MLPActorCritic) -> None:
    curriculum = LevelCurriculum(length_field, LEVELS, steps_metric, threshold=3.5, smoothing=0.1)
    states = run_iteration_by_iteration(ppo, policy, curriculum, 10, jax.random.key(2))
    levels = [int(s.callback_state.level) for s in states]
    metrics = [float(s.callback_state.metric) for s in states]
    # Level 0's episodes have metric 3 < 3.5: the average never crosses, the level never moves.
    assert levels == [0] * 10
    assert all(m < 3.0 for m in metrics)

    lowered = eqx.tree_at(lambda c: c.threshold, curriculum, jnp.asarray(2.5, jnp.float32))
    states = run_iteration_by_iteration(ppo, policy, lowered, 10, jax.random.key(2))
    levels = [int(s.callback_state.level) for s in states]
    metrics = [float(s.callback_state.metric) for s in states]
    for i in range(1, 10):
        crossed = metrics[i - 1] > 2.5 and levels[i - 1] < len(LEVELS) - 1
        assert levels[i] == levels[i - 1] + int(crossed), (i, levels, metrics)
        # The env ran the iteration with the level's value.
        assert int(states[i].env.length) == LEVELS[levels[i]]
        if levels[i] > levels[i - 1]:  # the average restarts on every new level
            assert int(states[i].callback_state.episodes) <= NUM_ENVS * (NUM_STEPS // LEVELS[levels[i]] + 1)
    assert levels[-1] >= 2  # it did climb (every level's episodes are longer than 2.5)
    assert max(levels) <= len(LEVELS) - 1


def test_tuning_threshold_and_smoothing_does_not_recompile(ppo: PPO, policy: MLPActorCritic) -> None:
    curriculum = LevelCurriculum(length_field, LEVELS, steps_metric, threshold=2.5, smoothing=0.1)
    fast = ppo.train(Tunable(), policy, 6 * BATCH, key=jax.random.key(3), callback=curriculum)
    traces = len(TRACES)
    retuned = eqx.tree_at(
        lambda c: (c.threshold, c.smoothing),
        curriculum,
        (jnp.asarray(3.9, jnp.float32), jnp.asarray(0.02, jnp.float32)),
    )
    slow = ppo.train(Tunable(), policy, 6 * BATCH, key=jax.random.key(3), callback=retuned)
    assert len(TRACES) == traces  # the compiled run was reused
    assert int(slow.callback_state.level) < int(fast.callback_state.level)


def test_level_curriculum_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="smoothing must be in \\(0, 1\\], got 0"):
        LevelCurriculum(length_field, LEVELS, steps_metric, threshold=1.0, smoothing=0)
    with pytest.raises(TypeError, match="metric_fn must be a function"):
        LevelCurriculum(length_field, LEVELS, 3, threshold=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="levels must be a non-empty sequence"):
        LevelCurriculum(length_field, [], steps_metric, threshold=1.0)
    with pytest.raises(ValueError, match="threshold must be a scalar"):
        LevelCurriculum(length_field, LEVELS, steps_metric, threshold=[1.0, 2.0])


# --------------------------------------------------------------------------- functional curricula
TASK_LENGTHS = [2, 3, 4, 5]


def length_tasks() -> TaskTable:
    """Task ``i`` sets the episode length to ``TASK_LENGTHS[i]``."""
    return TaskTable(Tunable(), lambda env: env.length, TASK_LENGTHS)


class EpisodeLog(AbstractIterationCallback):
    """Per iteration: how many episodes ended (from the training log) and on which tasks (from the rollout)."""

    capacity: int = eqx.field(static=True, default=12)

    def reset(self, ctx, *, key):
        return {"episodes": jnp.zeros(self.capacity, jnp.int32), "tasks": jnp.zeros((self.capacity, 4), jnp.int32)}

    def on_iteration(self, ctx, *, key):
        rollout = ctx.locals["rollout"]
        finished = jax.nn.one_hot(rollout["info"]["task_id"], 4, dtype=jnp.int32) * rollout["done"][..., None]
        i = ctx.iteration_count
        return {
            "episodes": ctx.state["episodes"].at[i].set(ctx.training_log["episodes"]),
            "tasks": ctx.state["tasks"].at[i].set(finished.sum(axis=(0, 1))),
        }


def test_a_sequential_curriculum_draws_each_reset_and_learns_from_finished_episodes(
    ppo: PPO, policy: MLPActorCritic
) -> None:
    curriculum = SequentialCurriculum([0, 1, [2, 3]], ["episodes>=12", "episodes>=12"], len(TASK_LENGTHS))
    env = CurriculumEnv(Tunable(), length_tasks(), curriculum, key=jax.random.key(0))
    callbacks = [CurriculumCallback(), EpisodeLog()]
    key = jax.random.key(4)
    state = ppo.train(env, policy, BATCH, key=key, callback=callbacks)
    stages = [int(state.step_state.curriculum_state.stage)]
    for i in range(2, 9):
        state = ppo.resume(state, i * BATCH, key=key, callback=callbacks)
        stages.append(int(state.step_state.curriculum_state.stage))
        assert int(state.callback_state[0]["stage"]) == stages[-1]  # the callback records the live state's metrics
    sequential, log = state.step_state.curriculum_state, state.callback_state[1]
    episodes, tasks = np.asarray(log["episodes"][:8]), np.asarray(log["tasks"][:8])

    # Iteration 0 plays task 0 only (length 2: 3 envs x 4 episodes), which meets "episodes>=12".
    assert episodes[0] == 12 and tasks[0].tolist() == [12, 0, 0, 0]
    assert stages == sorted(stages) and stages[-1] == 2
    # Once in the last stage, only its tasks are played.
    assert tasks[-3:, :2].sum() == 0 and tasks[-3:, 2:].sum(axis=0).min() > 0
    # Every reset drew one task: the initial one per env plus one after each finished episode.
    assert int(sequential.total_tasks) == NUM_ENVS + int(episodes.sum())
    assert int(sequential.total_episodes) == int(episodes.sum())
    # The curriculum state lives in the step state only: the env keeps the initial state, never written.
    assert int(state.env.curriculum_state.total_episodes) == 0 and int(state.env.curriculum_state.total_tasks) == 0


def test_prioritized_level_replay_gets_scores_from_the_rollout(ppo: PPO, policy: MLPActorCritic) -> None:
    curriculum = PrioritizedLevelReplay(len(TASK_LENGTHS), temperature=0.3)
    env = CurriculumEnv(Tunable(), length_tasks(), curriculum, key=jax.random.key(0))
    state = ppo.train(env, policy, 6 * BATCH, key=jax.random.key(5), callback=[CurriculumCallback(), EpisodeLog()])
    plr, log = state.step_state.curriculum_state, state.callback_state[1]
    played = set(np.nonzero(np.asarray(log["tasks"]).sum(axis=0))[0].tolist())
    buffered = set(int(level) for level in np.asarray(plr.levels) if level >= 0)
    assert buffered == played and len(played) >= 2
    scores = np.asarray(plr.scores)[np.asarray(plr.levels) >= 0]
    assert np.all(np.isfinite(scores)) and np.all(scores >= 0) and scores.max() > 0  # positive value loss
    assert int(plr.episode_count) == int(np.asarray(log["episodes"]).sum())


def test_curriculum_callback_checks_what_it_is_given(ppo: PPO, policy: MLPActorCritic) -> None:
    with pytest.raises(TypeError, match="needs the training environment to be a CurriculumEnv.*got Tunable"):
        ppo.train(Tunable(), policy, BATCH, key=jax.random.key(0), callback=CurriculumCallback())
    sequential = SequentialCurriculum([0, 1], ["episodes>=12"], len(TASK_LENGTHS))
    env = CurriculumEnv(Tunable(), length_tasks(), sequential, key=jax.random.key(0))
    with pytest.raises(TypeError, match="score='max_mc'.*SequentialCurriculum has none"):
        ppo.train(env, policy, BATCH, key=jax.random.key(0), callback=CurriculumCallback(score="max_mc"))
    with pytest.raises(ValueError, match="score must be 'positive_value_loss', 'max_mc' or 'none', got 'pvl'"):
        CurriculumCallback(score="pvl")
    with pytest.raises(ValueError, match="the curriculum has 3 tasks but the task table has 4"):
        CurriculumEnv(Tunable(), length_tasks(), PrioritizedLevelReplay(3), key=jax.random.key(0))
