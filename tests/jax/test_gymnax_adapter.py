"""GymnaxEnvironment: gymnax-API envs with env_params as tasks.

gymnax itself is not installed (it pins an older Gymnasium and needs flax), so
this file has a stand-in with gymnax's API and semantics: params and state as
dataclass pytrees with Python-number defaults, ``reset_env`` / ``step_env``,
stored derived params (``total_mass``, ``polemass_length``), the reward read
from the previous state, ``info["discount"]``, and the two time-limit
conventions (gymnax >= 1.0: ``is_truncated``; older: folded into ``done``).
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from syllabus_like.envs.cartpole_jax import CartPoleJax
from syllabus_like.envs.gymnax_adapter import GymnaxEnvironment, cartpole_derived_params, gymnax_task_table
from syllabus_like.jax import DomainRandomization, TaskTable, random_policy, rollout, rollout_init


# ------------------------------------------------------------ gymnax stand-in
@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CartPoleParams:
    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    total_mass: float = 1.1  # stored, as in gymnax: stale if masscart or masspole change
    length: float = 0.5
    polemass_length: float = 0.05  # stored: stale if masspole or length change
    force_mag: float = 10.0
    tau: float = 0.02
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_steps_in_episode: int = 500


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CartPoleState:
    x: jax.Array
    x_dot: jax.Array
    theta: jax.Array
    theta_dot: jax.Array
    time: int


@dataclasses.dataclass(frozen=True)
class Discrete:
    n: int


@dataclasses.dataclass(frozen=True)
class Box:
    low: float
    high: float


class GymnaxCartPole:
    """CartPole with gymnax 1.0's Environment API: ``done`` is natural termination, the limit is ``is_truncated``."""

    @property
    def default_params(self) -> CartPoleParams:
        return CartPoleParams()

    def reset_env(self, key, params):
        x, x_dot, theta, theta_dot = jax.random.uniform(key, minval=-0.05, maxval=0.05, shape=(4,))
        state = CartPoleState(x, x_dot, theta, theta_dot, time=0)
        return self.observe(state), state

    def step_env(self, key, state, action, params):
        reward = 1.0 - self.is_terminated(state, params)
        force = params.force_mag * action - params.force_mag * (1 - action)
        cos, sin = jnp.cos(state.theta), jnp.sin(state.theta)
        temp = (force + params.polemass_length * state.theta_dot**2 * sin) / params.total_mass
        theta_acc = (params.gravity * sin - cos * temp) / (
            params.length * (4.0 / 3.0 - params.masspole * cos**2 / params.total_mass)
        )
        x_acc = temp - params.polemass_length * theta_acc * cos / params.total_mass
        state = CartPoleState(
            x=state.x + params.tau * state.x_dot,
            x_dot=state.x_dot + params.tau * x_acc,
            theta=state.theta + params.tau * state.theta_dot,
            theta_dot=state.theta_dot + params.tau * theta_acc,
            time=state.time + 1,
        )
        done = self.is_terminated(state, params)
        return self.observe(state), state, jnp.asarray(reward), done, {"discount": self.discount(state, params)}

    def observe(self, state):
        return jnp.array([state.x, state.x_dot, state.theta, state.theta_dot])

    def is_terminated(self, state, params):
        return (jnp.abs(state.x) > params.x_threshold) | (jnp.abs(state.theta) > params.theta_threshold_radians)

    def is_truncated(self, state, params):
        return state.time >= params.max_steps_in_episode

    def discount(self, state, params):
        return jnp.where(self.is_terminated(state, params), 0.0, 1.0)

    def action_space(self, params=None):
        return Discrete(2)


class LegacyGymnaxCartPole(GymnaxCartPole):
    """gymnax < 1.0: the time limit is part of ``done`` and of the discount; there is no ``is_truncated``."""

    is_truncated = None  # absent in the old API

    def is_terminated(self, state, params):
        natural = super().is_terminated(state, params)
        return natural | (state.time >= params.max_steps_in_episode)


# -------------------------------------------------------------------- helpers
def _play(env, key, actions):
    """Reset with ``key`` and step through ``actions`` until the episode ends; the transcript."""
    step = eqx.filter_jit(env.step)
    state, observation = env.reset(key)
    log = [np.asarray(observation)]
    flags = []
    for index, action in enumerate(actions):
        state, observation, reward, terminated, truncated, _ = step(jax.random.key(index), state, action)
        log.append(np.asarray(observation))
        flags.append((float(reward), bool(terminated), bool(truncated)))
        if terminated or truncated:
            break
    return np.stack(log), flags


def _adapter(**overrides):
    params = dataclasses.replace(CartPoleParams(), **overrides)
    return GymnaxEnvironment(GymnaxCartPole(), params, derived=cartpole_derived_params)


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("task", [(9.8, 0.5), (4.0, 1.2), (15.0, 0.3)])
def test_adapter_matches_cartpole_jax_action_for_action(task):
    gravity, length = task
    adapter = GymnaxEnvironment(GymnaxCartPole(), derived=cartpole_derived_params)
    adapter = gymnax_task_table(adapter, {"gravity": [gravity], "length": [length]}).apply(adapter, 0)
    ours = CartPoleJax(gravity=gravity, length=length)
    actions = np.random.default_rng(0).integers(2, size=500)
    for episode in range(3):
        adapter_obs, adapter_flags = _play(adapter, jax.random.key(episode), actions)
        our_obs, our_flags = _play(ours, jax.random.key(episode), actions)
        np.testing.assert_array_equal(adapter_obs[0], our_obs[0])  # same start from the same key
        np.testing.assert_allclose(adapter_obs, our_obs, atol=1e-6)
        assert adapter_flags == our_flags
        assert adapter_flags[-1][1] and 5 < len(adapter_flags) < 500  # the pole fell


def test_stored_derived_params_go_stale_without_derived():
    """gymnax CartPole stores polemass_length: changing length alone only half-changes the dynamics."""
    actions = np.ones(5, int)
    ours, _ = _play(CartPoleJax(length=1.2), jax.random.key(0), actions)
    stale = GymnaxEnvironment(GymnaxCartPole(), CartPoleParams(length=1.2))
    stale_obs, _ = _play(stale, jax.random.key(0), actions)
    fresh_obs, _ = _play(_adapter(length=1.2), jax.random.key(0), actions)
    assert np.abs(stale_obs - ours).max() > 1e-3
    np.testing.assert_allclose(fresh_obs, ours, atol=1e-6)
    assert float(_adapter(length=1.2).effective_params().polemass_length) == pytest.approx(0.12)


@pytest.mark.parametrize("legacy", [False, True])
def test_time_limit_is_truncation_not_termination(legacy):
    env = (LegacyGymnaxCartPole if legacy else GymnaxCartPole)()
    params = CartPoleParams(max_steps_in_episode=3, x_threshold=100.0, theta_threshold_radians=100.0)
    adapter = GymnaxEnvironment(env, params)
    _, flags = _play(adapter, jax.random.key(0), [0, 1, 0, 1])
    assert [f[1:] for f in flags] == [(False, False), (False, False), (False, True)]

    # A natural termination on the very step the limit is reached.
    params = CartPoleParams(max_steps_in_episode=3)
    adapter = GymnaxEnvironment(env, params)
    state = CartPoleState(*jnp.array([2.39, 1.0, 0.0, 0.0]), time=jnp.int32(2))
    state, _, reward, terminated, truncated, info = adapter.step(jax.random.key(0), state, 1)
    assert float(reward) == 1.0 and bool(truncated) and int(state.time) == 3
    # gymnax >= 1.0 tells both apart (both true, like Gymnasium's TimeLimit); the old API cannot.
    assert bool(terminated) is (not legacy)
    assert float(info["discount"]) == 0.0


def test_rollout_with_a_curriculum_over_params_matches_cartpole_jax():
    gravity = np.array([5.0, 9.8, 15.0, 9.8, 20.0, 4.0])
    length = np.array([0.25, 0.5, 1.0, 1.5, 0.5, 0.75])
    limits = np.array([6, 9, 12, 15, 18, 500])
    adapter = GymnaxEnvironment(GymnaxCartPole(), derived=cartpole_derived_params)
    adapter_tasks = gymnax_task_table(adapter, {"gravity": gravity, "length": length, "max_steps_in_episode": limits})
    ours = CartPoleJax()
    our_tasks = TaskTable(ours, lambda e: (e.gravity, e.length, e.max_steps), (gravity, length, limits))
    curriculum = DomainRandomization(len(gravity))
    run = eqx.filter_jit(rollout)
    outputs = []
    for env, tasks in [(adapter, adapter_tasks), (ours, our_tasks)]:
        state = rollout_init(env, tasks, curriculum, jax.random.key(0), num_envs=16)
        state, output = run(env, tasks, curriculum, random_policy(env), state, jax.random.key(1), 64)
        outputs.append((state, output))
    (adapter_state, adapter_out), (our_state, our_out) = outputs

    np.testing.assert_array_equal(adapter_out.reward, our_out.reward)
    np.testing.assert_array_equal(adapter_out.terminated, our_out.terminated)
    np.testing.assert_array_equal(adapter_out.truncated, our_out.truncated)
    np.testing.assert_array_equal(adapter_out.episodes.task_id, our_out.episodes.task_id)
    np.testing.assert_allclose(adapter_state.observation, our_state.observation, atol=1e-5)

    # Each env plays its own task: an episode is truncated exactly when it reaches its task's limit.
    done = np.asarray(adapter_out.episodes.done)
    task = np.asarray(adapter_out.episodes.task_id)[done]
    episode_length = np.asarray(adapter_out.episodes.length)[done]
    truncated = np.asarray(adapter_out.truncated)[done]
    assert len(set(task.tolist())) == len(gravity)
    assert np.all(episode_length <= limits[task])
    np.testing.assert_array_equal(truncated, episode_length == limits[task])
    assert truncated.any() and (~truncated).any()


def test_params_become_array_fields_and_changing_them_does_not_recompile():
    adapter = GymnaxEnvironment(GymnaxCartPole())
    assert adapter.num_actions == 2
    assert adapter.params.gravity.dtype == jnp.float32 and adapter.params.max_steps_in_episode.dtype == jnp.int32
    assert not adapter.params.gravity.weak_type
    traces = []

    @eqx.filter_jit
    def first_step(env, key):
        traces.append(1)
        state, _ = env.reset(key)
        return env.step(key, state, 1)[1]

    a = first_step(adapter, jax.random.key(0))
    b = first_step(eqx.tree_at(lambda e: e.params.gravity, adapter, jnp.float32(20.0)), jax.random.key(0))
    assert len(traces) == 1 and not np.allclose(a, b)

    # The state's Python-int ``time`` (gymnax resets it to 0) comes back as an array: a jitted step
    # sees the same types on every call (filter_jit would treat a Python int as static and recompile).
    state, _ = adapter.reset(jax.random.key(0))
    assert isinstance(state.time, jax.Array) and state.time.dtype == jnp.int32 and not state.time.weak_type
    step_traces = []

    @eqx.filter_jit
    def step(state):
        step_traces.append(1)
        return adapter.step(jax.random.key(0), state, 1)[0]

    for _ in range(3):
        state = step(state)
    assert len(step_traces) == 1 and int(state.time) == 3


def test_grid_task_table_has_every_combination():
    adapter = GymnaxEnvironment(GymnaxCartPole())
    table = gymnax_task_table(adapter, {"gravity": [5.0, 10.0], "length": [0.25, 0.5, 1.0]}, grid=True)
    assert table.num_tasks == 6
    task = table.apply(adapter, 4)
    assert float(task.params.gravity) == 10.0 and float(task.params.length) == 0.5


class _NoParamsPytree:
    """default_params is a plain (unregistered) object."""

    @dataclasses.dataclass
    class Params:
        gravity: float = 9.8

    default_params = Params()
    reset_env = step_env = action_space = GymnaxCartPole.reset_env


class _Continuous(GymnaxCartPole):
    def action_space(self, params=None):
        return Box(-1.0, 1.0)


class _ThreeTupleReset(GymnaxCartPole):
    def reset_env(self, key, params):
        observation, state = super().reset_env(key, params)
        return observation, state, {}


class _SixTupleStep(GymnaxCartPole):
    def step_env(self, key, state, action, params):
        observation, state, reward, done, info = super().step_env(key, state, action, params)
        return observation, state, reward, done, done, info


def test_bad_envs_params_and_tables_are_rejected():
    with pytest.raises(
        TypeError,
        match=r"gymnax's Environment API \(default_params, reset_env, step_env, action_space\); "
        r"CartPoleJax lacks default_params, reset_env, step_env, action_space",
    ):
        GymnaxEnvironment(CartPoleJax())
    with pytest.raises(TypeError, match=r"params.gravity is 'strong' \(str\)"):
        GymnaxEnvironment(GymnaxCartPole(), dataclasses.replace(CartPoleParams(), gravity="strong"))
    with pytest.raises(TypeError, match=r"params must be a CartPoleParams .* got dict"):
        GymnaxEnvironment(GymnaxCartPole(), {"gravity": 9.8})
    with pytest.raises(TypeError, match=r"leaves are numbers or arrays; params is .*Params\(gravity=9.8\)"):
        GymnaxEnvironment(_NoParamsPytree())
    with pytest.raises(ValueError, match=r"needs a discrete action space .* is Box\(low=-1.0, high=1.0\)"):
        GymnaxEnvironment(_Continuous())
    with pytest.raises(TypeError, match=r"step_env\(key, state, action, params\) must return .*, got \("):
        GymnaxEnvironment(_SixTupleStep())
    with pytest.raises(TypeError, match=r"reset_env\(key, params\) must return \(obs, state\), got \("):
        GymnaxEnvironment(_ThreeTupleReset())
    with pytest.raises(TypeError, match="derived must be a function params -> params or None, got 3"):
        GymnaxEnvironment(GymnaxCartPole(), derived=3)
    with pytest.raises(TypeError, match="derived\\(params\\) must return params of the same structure, got dict"):
        GymnaxEnvironment(GymnaxCartPole(), derived=lambda params: {"gravity": params.gravity})

    adapter = GymnaxEnvironment(GymnaxCartPole())
    with pytest.raises(ValueError, match="'friction' is not a field of CartPoleParams; its fields are gravity, mass"):
        gymnax_task_table(adapter, {"friction": [0.1]})
    with pytest.raises(ValueError, match=r"the same non-zero number of tasks, got \[2, 3\]"):
        gymnax_task_table(adapter, {"gravity": [5.0, 9.8], "length": [0.25, 0.5, 1.0]})
    with pytest.raises(ValueError, match="values must be a non-empty mapping"):
        gymnax_task_table(adapter, {})
    with pytest.raises(TypeError, match="env must be a GymnaxEnvironment, got CartPoleJax"):
        gymnax_task_table(CartPoleJax(), {"gravity": [5.0]})
