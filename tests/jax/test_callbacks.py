"""Callbacks inside a jitted PPO run: hook order and counts, per-env state, early stop, lists, progress.

The environment has episodes of a fixed length, so how many episodes end in
each iteration is known exactly. One PPO configuration is shared by all
tests; each callback *structure* compiles the run once, and its numbers
(e.g. when to stop) are array fields, so tests reuse the compiled program.
"""

from __future__ import annotations

import io

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

from syllabus_like.jax.training.callback import (
    AbstractCallback,
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
    as_callback,
)
from syllabus_like.jax.training.policy import MLPActorCritic
from syllabus_like.jax.training.ppo import PPO
from syllabus_like.jax.training.progress import ProgressCallback, ProgressReporter

NUM_ENVS, NUM_STEPS, EPISODE_LENGTH = 3, 8, 3
BATCH = NUM_ENVS * NUM_STEPS


class FixedLength(eqx.Module):
    """Every episode lasts exactly ``EPISODE_LENGTH`` steps (terminated); reward = action."""

    def reset(self, key):
        return jnp.asarray(0, jnp.int32), jnp.zeros(2)

    def step(self, key, steps, action):
        steps = steps + 1
        observation = jnp.stack([steps / EPISODE_LENGTH, action.astype(jnp.float32)])
        return steps, observation, action.astype(jnp.float32), steps >= EPISODE_LENGTH, jnp.asarray(False), {}


class StepCount(eqx.Module):
    steps: Array
    episodes: Array


class Record(eqx.Module):
    iterations: Array
    starts: Array
    ends: Array
    iteration_ids: Array  # ctx.iteration_count seen by on_iteration, slot per iteration
    logged_episodes: Array  # training_log["episodes"] per iteration
    counted_episodes: Array  # episodes counted by this callback's own step states, per iteration


class Recorder(AbstractCallback):
    """Records every hook; stops training once ``stop_after`` iterations are done."""

    stop_after: Array
    capacity: int = eqx.field(static=True)

    def __init__(self, stop_after: int = 1_000, capacity: int = 16) -> None:
        self.stop_after = jnp.asarray(stop_after, jnp.int32)
        self.capacity = capacity

    def reset(self, ctx: ResetContext, *, key) -> Record:
        assert set(ctx.locals) >= {"num_envs", "num_steps"}
        zeros = jnp.zeros(self.capacity, jnp.int32)
        return Record(jnp.asarray(0), jnp.asarray(0), jnp.asarray(0), zeros - 1, zeros, zeros)

    def step_reset(self, ctx: ResetContext, *, key) -> StepCount:
        return StepCount(jnp.asarray(0), jnp.asarray(0))

    def on_step(self, ctx: StepContext, *, key) -> StepCount:
        assert ctx.done.shape == ()  # one environment at a time (vmapped)
        return StepCount(ctx.state.steps + 1, ctx.state.episodes + ctx.done.astype(jnp.int32))

    def on_iteration(self, ctx: IterationContext, *, key) -> Record:
        record: Record = ctx.state
        index = ctx.iteration_count
        total_episodes = jnp.sum(ctx.step_state.callback_state.episodes)
        previous = jnp.sum(jnp.where(jnp.arange(self.capacity) < index, record.counted_episodes, 0))
        return Record(
            iterations=record.iterations + 1,
            starts=record.starts,
            ends=record.ends,
            iteration_ids=record.iteration_ids.at[index].set(index),
            logged_episodes=record.logged_episodes.at[index].set(ctx.training_log["episodes"]),
            counted_episodes=record.counted_episodes.at[index].set(total_episodes - previous),
        )

    def on_training_start(self, ctx: TrainingContext, *, key) -> Record:
        return eqx.tree_at(lambda r: r.starts, ctx.state, ctx.state.starts + 1)

    def on_training_end(self, ctx: TrainingContext, *, key) -> Record:
        return eqx.tree_at(lambda r: r.ends, ctx.state, ctx.state.ends + 1)

    def continue_training(self, ctx: IterationContext, *, key):
        return ctx.iteration_count + 1 < self.stop_after


@pytest.fixture(scope="module")
def ppo() -> PPO:
    return PPO(num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=1, num_minibatches=2)


@pytest.fixture(scope="module")
def policy() -> MLPActorCritic:
    return MLPActorCritic(2, 2, key=jax.random.key(0), hidden=(8,))


def same_leaves(a, b) -> bool:
    la = jax.tree_util.tree_leaves(eqx.filter(a, eqx.is_array))
    lb = jax.tree_util.tree_leaves(eqx.filter(b, eqx.is_array))
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb, strict=True))


# --------------------------------------------------------------------------- hooks
def test_every_hook_runs_the_expected_number_of_times(ppo: PPO, policy: MLPActorCritic) -> None:
    state = ppo.train(FixedLength(), policy, 5 * BATCH, key=jax.random.key(0), callback=Recorder())
    record: Record = state.callback_state
    assert int(record.iterations) == 5
    assert (int(record.starts), int(record.ends)) == (1, 1)
    assert np.asarray(record.iteration_ids[:5]).tolist() == [0, 1, 2, 3, 4]
    steps: StepCount = state.step_state.callback_state
    assert steps.steps.shape == (NUM_ENVS,)  # one step-level state per environment
    assert np.asarray(steps.steps).tolist() == [5 * NUM_STEPS] * NUM_ENVS
    # Episodes last 3 steps: after 40 steps each env has finished 13 episodes.
    assert np.asarray(steps.episodes).tolist() == [(5 * NUM_STEPS) // EPISODE_LENGTH] * NUM_ENVS
    # The step-level counts agree with PPO's training log, iteration by iteration.
    per_iteration = [sum(1 for t in range(i * 8, (i + 1) * 8) if (t + 1) % 3 == 0) * NUM_ENVS for i in range(5)]
    assert np.asarray(record.logged_episodes[:5]).tolist() == per_iteration
    assert np.asarray(record.counted_episodes[:5]).tolist() == per_iteration


def test_continue_training_false_stops_at_that_iteration(ppo: PPO, policy: MLPActorCritic) -> None:
    key = jax.random.key(1)
    stopped = ppo.train(FixedLength(), policy, 10 * BATCH, key=key, callback=Recorder(stop_after=3))
    assert int(stopped.iteration_count) == 3
    assert int(stopped.callback_state.iterations) == 3
    assert int(stopped.callback_state.ends) == 1  # on_training_end still runs
    # Exactly what a run with a 3-iteration budget produces: the stop really ended training.
    budgeted = ppo.train(FixedLength(), policy, 3 * BATCH, key=key, callback=Recorder())
    assert same_leaves(stopped.policy, budgeted.policy)
    longer = ppo.train(FixedLength(), policy, 4 * BATCH, key=key, callback=Recorder())
    assert not same_leaves(stopped.policy, longer.policy)


def test_resume_calls_the_training_hooks_again(ppo: PPO, policy: MLPActorCritic) -> None:
    key = jax.random.key(2)
    callback = Recorder()
    state = ppo.train(FixedLength(), policy, 2 * BATCH, key=key, callback=callback)
    state = ppo.resume(state, 4 * BATCH, key=key, callback=callback)
    assert int(state.iteration_count) == 4
    assert (int(state.callback_state.starts), int(state.callback_state.ends)) == (2, 2)
    assert np.asarray(state.callback_state.iteration_ids[:4]).tolist() == [0, 1, 2, 3]
    # A state already at its budget runs no iteration.
    again = ppo.resume(state, 4 * BATCH, key=key, callback=callback)
    assert int(again.iteration_count) == 4


# --------------------------------------------------------------------------- lists
def test_callback_list_keeps_one_state_per_callback_and_stops_when_any_says_so(
    ppo: PPO, policy: MLPActorCritic
) -> None:
    callbacks = [Recorder(stop_after=100), Recorder(stop_after=2)]
    state = ppo.train(FixedLength(), policy, 6 * BATCH, key=jax.random.key(3), callback=callbacks)
    assert int(state.iteration_count) == 2
    first, second = state.callback_state
    assert int(first.iterations) == int(second.iterations) == 2
    first_steps, second_steps = state.step_state.callback_state
    assert np.asarray(first_steps.steps).tolist() == np.asarray(second_steps.steps).tolist() == [16] * NUM_ENVS
    # Both saw the same episodes through their own step-level states.
    assert np.array_equal(np.asarray(first.counted_episodes), np.asarray(second.counted_episodes))


def test_as_callback_accepts_one_a_sequence_or_none_and_refuses_the_rest() -> None:
    recorder = Recorder()
    assert as_callback(recorder) is recorder
    assert isinstance(as_callback(None), CallbackList) and as_callback(None).callbacks == ()
    assert as_callback([recorder, recorder]).callbacks == (recorder, recorder)
    with pytest.raises(TypeError, match="callback must be an AbstractCallback, a sequence of them, or None; got 3"):
        as_callback(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="entry 1 is 'nope'"):
        CallbackList([recorder, "nope"])  # type: ignore[list-item]


def test_callback_variants_fill_in_the_hooks_they_do_not_use() -> None:
    class Stateless(AbstractStatelessCallback):
        pass

    class StepOnly(AbstractStepCallback):
        def step_reset(self, ctx, *, key):
            return jnp.asarray(0)

        def on_step(self, ctx, *, key):
            return ctx.state + 1

    class IterationOnly(AbstractIterationCallback):
        def reset(self, ctx, *, key):
            return jnp.asarray(0)

        def on_iteration(self, ctx, *, key):
            return ctx.state + 1

    class TrainingOnly(AbstractTrainingCallback):
        def reset(self, ctx, *, key):
            return jnp.asarray(0)

        def on_training_start(self, ctx, *, key):
            return ctx.state + 10

        def on_training_end(self, ctx, *, key):
            return ctx.state + 1

    key = jax.random.key(0)
    reset = ResetContext(env=None, policy=None, locals={})
    step = StepContext(
        state=jnp.asarray(5),
        env=None,
        policy=None,
        done=jnp.asarray(True),
        reward=jnp.asarray(1.0),
        locals={},
        iteration_count=jnp.asarray(0),
    )
    # Empty states are lerax's EmptyCallbackState / EmptyCallbackStepState (pytrees without leaves).
    assert Stateless().reset(reset, key=key) == EmptyCallbackState()
    assert Stateless().on_step(step, key=key) == EmptyCallbackStepState()
    assert bool(Stateless().continue_training(None, key=key))  # type: ignore[arg-type]
    assert int(StepOnly().on_step(step, key=key)) == 6 and StepOnly().reset(reset, key=key) == EmptyCallbackState()
    assert int(IterationOnly().on_step(step, key=key)) == 5  # step state passed through
    assert int(TrainingOnly().on_step(step, key=key)) == 5
    with pytest.raises(TypeError, match="abstract"):
        AbstractCallback()  # type: ignore[abstract]
    with pytest.raises(TypeError, match="abstract"):
        AbstractIterationCallback()  # type: ignore[abstract]


# --------------------------------------------------------------------------- progress
class FakeWriter:
    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, scalar_value: float, global_step: int) -> None:
        self.scalars.append((tag, scalar_value, global_step))


def test_progress_callback_reports_every_k_iterations_never_per_step(ppo: PPO, policy: MLPActorCritic) -> None:
    writer, stream = FakeWriter(), io.StringIO()
    progress = ProgressCallback(
        every=2,
        stream=stream,
        writer=writer,
        prefix="train/",
        min_interval=0.0,
        metrics_fn=lambda ctx: {"first_action_value": ctx.training_log["reward"] * 0 + 7.0},
    )
    state = ppo.train(FixedLength(), policy, 5 * BATCH, key=jax.random.key(4), callback=[progress, Recorder()])
    jax.effects_barrier()
    assert int(state.iteration_count) == 5
    assert progress.reporter.reports == 2  # after iterations 2 and 4 of 5: never per step
    steps = sorted({step for _, _, step in writer.scalars})
    assert steps == [2 * BATCH, 4 * BATCH]
    tags = {tag for tag, _, _ in writer.scalars}
    assert {"train/episode_return", "train/loss", "train/entropy", "train/first_action_value"} <= tags
    assert all(value == 7.0 for tag, value, _ in writer.scalars if tag == "train/first_action_value")
    episodes = [value for tag, value, _ in writer.scalars if tag == "train/episodes"]
    assert episodes == [9.0, 6.0]  # 3 envs x episodes ending in iterations 1 and 3
    text = stream.getvalue()
    assert "5/5 it" in text and text.endswith("\n")
    assert f"{4 * BATCH} steps" in text


def test_progress_reporter_throttles_drawing_but_not_the_writer() -> None:
    now = [0.0]
    stream, writer = io.StringIO(), FakeWriter()
    reporter = ProgressReporter(stream, writer, min_interval=1.0, clock=lambda: now[0])
    reporter.start(0, 10)
    draws_after_start = stream.getvalue().count("\r")
    for iteration in range(5):
        now[0] += 0.3
        reporter.report(iteration, 100, {"loss": iteration})
    assert len(writer.scalars) == 5  # every report reaches the writer
    # start drew at t=0; of the reports at t=0.3, 0.6, 0.9, 1.2, 1.5 only t=1.2 is >= 1 s later.
    assert stream.getvalue().count("\r") - draws_after_start == 1
    assert "4/10 it" in stream.getvalue() and "loss 3" in stream.getvalue()
    reporter.report(2, 100, {"loss": 9.0})  # a late duplicate is ignored
    assert len(writer.scalars) == 5
    reporter.finish(5)
    assert stream.getvalue().endswith("\n") and "5/10 it" in stream.getvalue()
    with pytest.raises(TypeError, match="add_scalar"):
        ProgressReporter(writer=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="every must be a positive int"):
        ProgressCallback(every=0)


def test_progress_reporter_writes_tensorboard_events(tmp_path) -> None:
    import tensorboardX  # the dev extra installs tensorboardX and tensorboard
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = tensorboardX.SummaryWriter(str(tmp_path))
    reporter = ProgressReporter(writer=writer, prefix="train/")
    reporter.start(0, 3)
    reporter.report(0, 64, {"loss": 0.5, "episode_return": 10.0})
    reporter.report(2, 64, {"loss": 0.25, "episode_return": 30.0})
    reporter.finish(3)
    writer.close()

    events = EventAccumulator(str(tmp_path))
    events.Reload()
    returns = events.Scalars("train/episode_return")
    assert [(e.step, e.value) for e in returns] == [(64, 10.0), (192, 30.0)]
    assert [e.value for e in events.Scalars("train/loss")] == [0.5, 0.25]
