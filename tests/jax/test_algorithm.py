"""PPO and the algorithm interface: learning, checkpoint + resume, recompilation, GAE, loss, validation.

Compiles are the slow part on a small CPU, so every test here shares one PPO
configuration and one environment type: the whole-run program is compiled
once and reused (the iteration budget is an array, not a static number).
"""

from __future__ import annotations

import io

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jaxtyping import Array

from syllabus_like.jax.training.algorithm import AbstractAlgorithm
from syllabus_like.jax.training.policy import AbstractActorCritic, MLPActorCritic
from syllabus_like.jax.training.ppo import PPO, PPOState, _Minibatch, _Trajectory
from syllabus_like.jax.training.state import AbstractAlgorithmState, AbstractStepState

# --------------------------------------------------------------------------- a tiny environment
STEP_TRACES: list[int] = []


class ChainState(eqx.Module):
    position: Array
    steps: Array


class Chain(eqx.Module):
    """Walk right along a chain to ``goal`` (reward 1, terminated); truncated after ``max_steps``.

    ``max_steps`` is derived from the array field ``goal`` (a property), the
    way environments declare derived parameters.
    """

    goal: Array = eqx.field(converter=lambda x: jnp.asarray(x, jnp.int32), default=3)
    size: int = eqx.field(static=True, default=6)

    @property
    def max_steps(self) -> Array:
        return 2 * self.goal + 2

    def reset(self, key):
        state = ChainState(jnp.asarray(0, jnp.int32), jnp.asarray(0, jnp.int32))
        return state, jax.nn.one_hot(state.position, self.size)

    def step(self, key, state, action):
        STEP_TRACES.append(1)  # the Python body runs once per trace under jit: counts compilations
        position = jnp.clip(state.position + jnp.where(action == 1, 1, -1), 0, self.size - 1)
        state = ChainState(position, state.steps + 1)
        terminated = position >= self.goal
        truncated = state.steps >= self.max_steps
        return state, jax.nn.one_hot(position, self.size), terminated.astype(jnp.float32), terminated, truncated, {}


PPO_CONFIG = dict(num_envs=4, num_steps=8, num_epochs=2, num_minibatches=2, learning_rate=3e-3)
BATCH = 4 * 8


@pytest.fixture(scope="module")
def ppo() -> PPO:
    return PPO(**PPO_CONFIG)


@pytest.fixture(scope="module")
def policy() -> MLPActorCritic:
    return MLPActorCritic(6, 2, key=jax.random.key(0), hidden=(16,))


def greedy_success(policy: MLPActorCritic, env: Chain) -> bool:
    """Whether always taking the most likely action reaches the goal within the step limit."""
    state, observation = env.reset(jax.random.key(0))
    for _ in range(int(env.max_steps)):
        action = jnp.argmax(policy.logits(observation))
        state, observation, _, terminated, truncated, _ = env.step(jax.random.key(0), state, action)
        if bool(terminated):
            return True
        if bool(truncated):
            return False
    return False


def leaves_equal(a, b) -> bool:
    la = jax.tree_util.tree_leaves(eqx.filter(a, eqx.is_array))
    lb = jax.tree_util.tree_leaves(eqx.filter(b, eqx.is_array))
    return len(la) == len(lb) and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb, strict=False)
    )


# --------------------------------------------------------------------------- learning and the loop
def test_ppo_learns_the_chain(ppo: PPO, policy: MLPActorCritic) -> None:
    env = Chain(goal=5)
    assert not greedy_success(policy, env)  # the untrained policy does not already solve it
    state = ppo.train(env, policy, 60 * BATCH, key=jax.random.key(1))
    assert isinstance(state, PPOState)
    assert int(state.iteration_count) == 60
    assert greedy_success(state.policy, env)
    learned = ppo.learn(env, policy, 60 * BATCH, key=jax.random.key(1))
    assert leaves_equal(learned, state.policy)  # learn returns train's final policy


def test_resume_from_a_checkpoint_continues_identically(ppo: PPO, policy: MLPActorCritic) -> None:
    env = Chain()
    key = jax.random.key(7)
    uninterrupted = ppo.train(env, policy, 6 * BATCH, key=key)

    first_half = ppo.train(env, policy, 3 * BATCH, key=key)
    assert int(first_half.iteration_count) == 3
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, first_half)
    buffer.seek(0)
    template = ppo.reset(env, policy, key=jax.random.key(0), callback=None)
    restored = eqx.tree_deserialise_leaves(buffer, template)
    resumed = ppo.resume(restored, 6 * BATCH, key=key)

    assert int(resumed.iteration_count) == 6
    assert leaves_equal(resumed, uninterrupted)
    # And the run actually changed the policy in the second half.
    assert not leaves_equal(resumed.policy, first_half.policy)


def test_budget_rounds_up_to_whole_iterations(ppo: PPO) -> None:
    assert ppo.batch_size == BATCH
    assert ppo.num_iterations(0) == 0
    assert ppo.num_iterations(1) == 1
    assert ppo.num_iterations(BATCH) == 1
    assert ppo.num_iterations(BATCH + 1) == 2


def test_changing_hyperparameters_or_budget_does_not_recompile(ppo: PPO, policy: MLPActorCritic) -> None:
    env = Chain()
    first = ppo.train(env, policy, 2 * BATCH, key=jax.random.key(0))
    traces = len(STEP_TRACES)
    assert traces >= 1  # Chain.step was traced when the run was compiled (in this test or an earlier one)
    retuned = eqx.tree_at(
        lambda p: (p.gamma, p.clip_coef, p.learning_rate), ppo, (jnp.asarray(0.5), jnp.asarray(0.1), jnp.asarray(1e-2))
    )
    second = retuned.train(env, policy, 4 * BATCH, key=jax.random.key(0))
    longer_goal = retuned.train(Chain(goal=4), policy, 3 * BATCH, key=jax.random.key(0))
    assert len(STEP_TRACES) == traces  # same program: new numbers, new budget, new env field value
    assert int(second.iteration_count) == 4 and int(longer_goal.iteration_count) == 3
    assert not leaves_equal(first.policy, second.policy)


@pytest.mark.slow
def test_ppo_reaches_the_maximum_return_on_cartpole() -> None:
    """CartPole-v1's maximum return is 500; PPO gets there in 300k steps (about 10 s here).

    Same configuration as ``benchmarks/ppo.py``, where 5 of 5 seeds reach 500.
    """
    from syllabus_like.envs.cartpole_jax import CartPoleJax

    env = CartPoleJax()
    iterations = 300_000 // (16 * 32)
    optimizer = optax.chain(
        optax.clip_by_global_norm(0.5), optax.adam(optax.linear_schedule(1e-3, 0.0, iterations * 16), eps=1e-5)
    )
    ppo = PPO(num_envs=16, num_steps=32, num_epochs=4, num_minibatches=4, optimizer=optimizer)
    policy = MLPActorCritic(4, 2, key=jax.random.key(1))
    trained = ppo.learn(env, policy, 300_000, key=jax.random.key(0))

    @eqx.filter_jit
    def greedy_returns(policy, key):
        def episode(key):
            state, observation = env.reset(key)

            def step(carry, _):
                state, observation, total, alive = carry
                state, observation, reward, terminated, truncated, _ = env.step(
                    key, state, jnp.argmax(policy.logits(observation))
                )
                return (
                    state,
                    observation,
                    total + jnp.where(alive, reward, 0.0),
                    alive & ~(terminated | truncated),
                ), None

            (_, _, total, _), _ = jax.lax.scan(step, (state, observation, 0.0, True), None, length=500)
            return total

        return jax.vmap(episode)(jax.random.split(key, 20))

    before = np.asarray(greedy_returns(policy, jax.random.key(5)))
    after = np.asarray(greedy_returns(trained, jax.random.key(5)))
    assert before.mean() < 100
    assert after.mean() >= 475, after


# --------------------------------------------------------------------------- the math
def numpy_gae(rewards, values, dones, last_value, gamma, lam):
    advantages = np.zeros_like(rewards)
    next_advantage = np.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(len(rewards))):
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * not_done - values[t]
        next_advantage = delta + gamma * lam * not_done * next_advantage
        advantages[t] = next_advantage
        next_value = values[t]
    return advantages


def test_gae_matches_a_reference_implementation() -> None:
    rng = np.random.default_rng(0)
    steps, envs = 7, 3
    rewards = rng.normal(size=(steps, envs)).astype(np.float32)
    values = rng.normal(size=(steps, envs)).astype(np.float32)
    dones = rng.random((steps, envs)) < 0.3
    last_value = rng.normal(size=envs).astype(np.float32)
    ppo = PPO(num_envs=envs, num_steps=steps, num_minibatches=1, gamma=0.9, gae_lambda=0.8)
    trajectory = _Trajectory(
        observation=jnp.zeros((steps, envs, 1)),
        action=jnp.zeros((steps, envs), jnp.int32),
        log_prob=jnp.zeros((steps, envs)),
        value=jnp.asarray(values),
        reward=jnp.asarray(rewards),
        done=jnp.asarray(dones),
    )
    advantage, target = ppo._advantages(trajectory, jnp.asarray(last_value))
    expected = numpy_gae(rewards, values, dones.astype(np.float32), last_value, 0.9, 0.8)
    np.testing.assert_allclose(np.asarray(advantage), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(target), expected + values, rtol=1e-5, atol=1e-5)


def test_clipped_loss_matches_the_formula(policy: MLPActorCritic) -> None:
    rng = np.random.default_rng(1)
    n = 16
    observation = jnp.asarray(np.eye(6, dtype=np.float32)[rng.integers(0, 6, n)])
    action = jnp.asarray(rng.integers(0, 2, n), jnp.int32)
    old_log_prob = jnp.asarray(np.log(rng.uniform(0.2, 0.8, n)), jnp.float32)
    advantage = jnp.asarray(rng.normal(size=n), jnp.float32)
    target = jnp.asarray(rng.normal(size=n), jnp.float32)
    old_value = jnp.asarray(rng.normal(size=n), jnp.float32)
    batch = _Minibatch(observation, action, old_log_prob, old_value, advantage, target)
    ppo = PPO(num_envs=1, num_steps=16, num_minibatches=1, clip_coef=0.1, value_coef=0.7, entropy_coef=0.03)
    params, static = eqx.partition(policy, eqx.is_inexact_array)
    loss, log = ppo._loss(params, static, batch)

    log_prob, entropy, value = (np.asarray(x) for x in jax.vmap(policy.evaluate)(observation, action))
    adv = np.asarray(advantage)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = np.exp(log_prob - np.asarray(old_log_prob))
    policy_loss = -np.mean(np.minimum(ratio * adv, np.clip(ratio, 0.9, 1.1) * adv))
    value_loss = 0.5 * np.mean((value - np.asarray(target)) ** 2)
    expected = policy_loss + 0.7 * value_loss - 0.03 * entropy.mean()
    np.testing.assert_allclose(float(log["policy_loss"]), policy_loss, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(log["value_loss"]), value_loss, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4, atol=1e-6)
    assert 0.0 <= float(log["clip_fraction"]) <= 1.0


def test_policy_log_probs_and_entropy_are_consistent(policy: MLPActorCritic) -> None:
    observation = jax.nn.one_hot(2, 6)
    logits = policy.logits(observation)
    probs = np.asarray(jax.nn.softmax(logits))
    for action in range(2):
        log_prob, entropy, value = policy.evaluate(observation, jnp.asarray(action))
        np.testing.assert_allclose(float(log_prob), np.log(probs[action]), rtol=1e-5)
        np.testing.assert_allclose(float(entropy), -np.sum(probs * np.log(probs)), rtol=1e-5)
        np.testing.assert_allclose(float(value), float(policy.value(observation)), rtol=1e-6)
    keys = jax.random.split(jax.random.key(3), 2000)
    actions, log_probs, _ = jax.vmap(policy.action_and_value, in_axes=(None, 0))(observation, keys)
    frequencies = np.bincount(np.asarray(actions), minlength=2) / 2000
    np.testing.assert_allclose(frequencies, probs, atol=0.04)
    np.testing.assert_allclose(np.asarray(log_probs), np.log(probs)[np.asarray(actions)], rtol=1e-5)


def test_one_hot_observations() -> None:
    policy = MLPActorCritic(None, 3, key=jax.random.key(0), hidden=(4,), num_observations=5)
    direct = policy.logits(jnp.asarray(3))
    net_input = jax.nn.one_hot(3, 5)
    assert np.allclose(np.asarray(direct), np.asarray(policy.actor(net_input)))


# --------------------------------------------------------------------------- the abstract interface
def test_ppo_state_types_implement_the_abstract_interface(ppo: PPO, policy: MLPActorCritic) -> None:
    assert isinstance(ppo, AbstractAlgorithm)
    state = ppo.reset(Chain(), policy, key=jax.random.key(0), callback=None)
    assert isinstance(state, AbstractAlgorithmState)
    assert isinstance(state.step_state, AbstractStepState)
    assert state.step_state.observation.shape == (4, 6)
    later = state.next(state.step_state, state.policy, state.opt_state)
    assert int(later.iteration_count) == 1
    assert later.with_callback_states(jnp.ones(2)).callback_state.shape == (2,)
    assert state.step_state.with_callback_state(jnp.ones(4)).callback_state.shape == (4,)
    with pytest.raises(TypeError, match="abstract"):
        AbstractActorCritic()  # type: ignore[abstract]


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_envs": 0}, "num_envs must be a positive int, got 0"),
        ({"num_envs": 3, "num_steps": 5, "num_minibatches": 4}, r"num_minibatches \(4\) must divide .* = 15"),
        ({"gamma": 1.5}, r"gamma must be in \[0.0, 1.0\], got 1.5"),
        ({"learning_rate": 0.0}, r"learning_rate must be in \(0.0, inf\], got 0.0"),
        ({"optimizer": "adam"}, "optimizer must be an optax.GradientTransformation"),
    ],
)
def test_ppo_rejects_bad_configuration(kwargs, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        PPO(**kwargs)


def test_bad_environment_policy_and_budget_are_refused(ppo: PPO, policy: MLPActorCritic) -> None:
    with pytest.raises(TypeError, match="Chain.*AbstractActorCritic|AbstractActorCritic policy"):
        ppo.reset(Chain(), object(), key=jax.random.key(0), callback=None)
    with pytest.raises(TypeError, match="object has no callable 'reset'"):
        ppo.reset(object(), policy, key=jax.random.key(0), callback=None)
    with pytest.raises(ValueError, match="total_timesteps must be >= 0, got -5"):
        ppo.learn(Chain(), policy, -5, key=jax.random.key(0))
    with pytest.raises(TypeError, match=r"total_timesteps must be an int, got 1.5"):
        ppo.learn(Chain(), policy, 1.5, key=jax.random.key(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_actions must be a positive int"):
        MLPActorCritic(4, 0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="observation_size must be a positive int"):
        MLPActorCritic(None, 2, key=jax.random.key(0))
