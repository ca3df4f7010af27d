"""The names lerax's callback and curriculum docs use (../shared/seeds) exist here with their meaning."""

from __future__ import annotations

import typing

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from syllabus_like.jax import (
    PPO,
    AbstractAdaptiveCurriculum,
    AbstractCallback,
    AbstractCallbackState,
    AbstractCallbackStepState,
    AbstractIterationCallback,
    AbstractStatelessCallback,
    AbstractStepCallback,
    AdaptiveCurriculumState,
    AdaptiveCurriculumStepState,
    AdaptiveState,
    CallbackList,
    EmptyCallbackState,
    EmptyCallbackStepState,
    LevelCurriculum,
    MLPActorCritic,
    ResetContext,
    cosine_schedule,
    linear_schedule,
    step_schedule,
)
from syllabus_like.jax.training.ppo import PPOStepState


def test_empty_callback_states_are_leafless_pytrees_of_the_lerax_bases() -> None:
    assert issubclass(EmptyCallbackState, AbstractCallbackState)
    assert issubclass(EmptyCallbackStepState, AbstractCallbackStepState)
    assert jax.tree_util.tree_leaves(EmptyCallbackState()) == []
    assert jax.tree_util.tree_leaves(EmptyCallbackStepState()) == []


def test_the_callback_variants_return_empty_states_where_they_keep_none() -> None:
    class Stateless(AbstractStatelessCallback):
        pass

    class IterationOnly(AbstractIterationCallback):
        def reset(self, ctx, *, key):
            return jnp.zeros(())

        def on_iteration(self, ctx, *, key):
            return ctx.state

    class StepOnly(AbstractStepCallback):
        def step_reset(self, ctx, *, key):
            return jnp.zeros(())

        def on_step(self, ctx, *, key):
            return ctx.state

    ctx, key = ResetContext(env=None, policy=None, locals={}), jax.random.key(0)
    assert isinstance(Stateless().reset(ctx, key=key), EmptyCallbackState)
    assert isinstance(Stateless().step_reset(ctx, key=key), EmptyCallbackStepState)
    assert isinstance(IterationOnly().step_reset(ctx, key=key), EmptyCallbackStepState)
    assert isinstance(StepOnly().reset(ctx, key=key), EmptyCallbackState)


def test_abstract_callback_is_generic_in_its_two_state_types() -> None:
    assert len(typing.get_args(AbstractCallback[AdaptiveCurriculumState, AdaptiveCurriculumStepState])) == 2
    bases = {typing.get_origin(b): typing.get_args(b) for b in AbstractAdaptiveCurriculum.__orig_bases__}
    assert bases[AbstractCallback] == (AdaptiveCurriculumState, AdaptiveCurriculumStepState)
    stateless = {typing.get_origin(b): typing.get_args(b) for b in AbstractStatelessCallback.__orig_bases__}
    assert stateless[AbstractCallback] == (EmptyCallbackState, EmptyCallbackStepState)


def test_with_callback_state_none_keeps_the_state() -> None:
    step_state = PPOStepState(
        env_state=jnp.zeros(2),
        policy_state=None,
        callback_state=jnp.arange(2.0),
        observation=jnp.zeros((2, 1)),
        episode_return=jnp.zeros(2),
        episode_length=jnp.zeros(2, jnp.int32),
    )
    assert step_state.with_callback_state(None) is step_state
    assert step_state.with_callback_state(jnp.ones(2)).callback_state.tolist() == [1.0, 1.0]


class Counter(eqx.Module):
    """An environment whose episodes last ``length`` steps and pay 1 per step."""

    length: jax.Array = eqx.field(converter=lambda x: jnp.asarray(x, jnp.int32), default=3)

    @property
    def num_actions(self) -> int:
        return 2

    def reset(self, key):
        return jnp.asarray(0, jnp.int32), jnp.zeros(1)

    def step(self, key, steps, action):
        steps = steps + 1
        return steps, jnp.asarray([steps / 10.0]), jnp.asarray(1.0), steps >= self.length, jnp.asarray(False), {}


def test_adaptive_curriculum_state_has_lerax_fields_and_default_smoothing() -> None:
    curriculum = LevelCurriculum(lambda env: env.length, [3, 5], lambda done, reward, locals: reward, threshold=2.0)
    assert float(curriculum.smoothing) == pytest.approx(0.05)  # lerax's default
    ppo = PPO(num_envs=2, num_steps=12, num_epochs=1, num_minibatches=1)
    policy = MLPActorCritic(1, 2, key=jax.random.key(0), hidden=(4,))
    state = ppo.train(Counter(), policy, 24 * 40, key=jax.random.key(1), callback=curriculum)
    adaptive = state.callback_state
    assert isinstance(adaptive, AdaptiveCurriculumState) and AdaptiveState is AdaptiveCurriculumState
    assert isinstance(state.step_state.callback_state, AdaptiveCurriculumStepState)
    # Episodes of length 3 return 3 > 2: the running metric rises past the threshold, then the level moves up.
    assert int(adaptive.level) == 1 and int(state.env.length) == 5
    assert float(adaptive.running_metric) == float(adaptive.metric) and float(adaptive.running_metric) > 0


def test_a_callback_list_narrows_empty_and_none_step_states_correctly() -> None:
    class NoneStep(AbstractIterationCallback):
        def reset(self, ctx, *, key):
            return jnp.zeros((), jnp.int32)

        def step_reset(self, ctx, *, key):
            return None

        def on_iteration(self, ctx, *, key):
            assert ctx.step_state.callback_state is None  # its own slice, not the list's tuple
            return ctx.state + 1

    class Stateless(AbstractStatelessCallback):
        pass

    ppo = PPO(num_envs=2, num_steps=4, num_epochs=1, num_minibatches=1)
    policy = MLPActorCritic(1, 2, key=jax.random.key(0), hidden=(4,))
    state = ppo.train(Counter(), policy, 8 * 3, key=jax.random.key(0), callback=CallbackList([NoneStep(), Stateless()]))
    assert int(state.callback_state[0]) == 3 and isinstance(state.callback_state[1], EmptyCallbackState)


@pytest.mark.parametrize(
    "schedule",
    [linear_schedule(0.0, 10.0, 5), cosine_schedule(1.0, 0.0, 4), step_schedule([1.0, 2.0, 3.0], [2, 4])],
    ids=["linear", "cosine", "step"],
)
def test_schedules_survive_plain_jax_jit(schedule) -> None:
    jitted = jax.jit(schedule)
    for iteration in (0, 1, 2, 3, 4, 7):
        assert float(jitted(jnp.asarray(iteration))) == pytest.approx(float(schedule(jnp.asarray(iteration))))
    # A schedule with other numbers is another function to jax.jit, not a stale cache entry.
    changed = jax.tree_util.tree_map(lambda leaf: leaf * 2 if leaf.dtype == jnp.float32 else leaf, schedule)
    assert float(jax.jit(changed)(jnp.asarray(1))) == pytest.approx(float(changed(jnp.asarray(1))))
