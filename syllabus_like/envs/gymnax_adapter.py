"""gymnax environments behind our JAX environment protocol, with ``env_params`` as tasks.

:class:`GymnaxEnvironment` wraps any object with gymnax's ``Environment`` API
(``default_params``, ``reset_env``, ``step_env``, ``action_space``) and keeps
the env-params pytree as its ``params`` field, so a :class:`TaskTable` can
set parameters per task and :func:`syllabus_like.jax.rollout` runs it like
our own envs::

    import gymnax
    env = GymnaxEnvironment(*gymnax.make("CartPole-v1"), derived=cartpole_derived_params)
    tasks = gymnax_task_table(env, {"gravity": [5.0, 9.8, 15.0], "length": [0.25, 0.5, 1.0]})

gymnax is duck-typed: this module imports nothing from it (gymnax pins an
older Gymnasium and pulls in flax, so the project does not depend on it).

**Parameters become arrays.** gymnax declares its params as dataclasses with
Python ``float`` / ``int`` defaults (``gravity: float = 9.8``). The adapter
converts every leaf to a (strongly typed) JAX array at construction, ints to
``int32`` and floats to ``float32``, so every parameter, ``max_steps_in_episode``
included, can be set by a task and changed without recompiling. A gymnax env
that uses a parameter as a shape or in Python control flow needs a Python
value there and cannot be wrapped as is.

**Derived parameters.** Some gymnax params are stored products of others
(CartPole's ``total_mass = masscart + masspole`` and
``polemass_length = masspole * length``): setting ``length`` alone leaves them
stale, and the pole's dynamics only half change. Pass ``derived``, a function
``params -> params`` applied before every ``reset_env`` / ``step_env``, to
recompute them (:func:`cartpole_derived_params` does it for CartPole), in the
spirit of the derived properties of :mod:`syllabus_like.jax.environment`.

**Termination.** The adapter calls ``reset_env`` / ``step_env`` (never
gymnax's auto-resetting ``step``; our rollout resets finished envs on new
tasks itself) and splits gymnax's ``done`` the Gymnasium way:

* gymnax >= 1.0: ``step_env``'s ``done`` is the natural termination only and
  the time limit is ``env.is_truncated(state, params)``
  (``state.time >= params.max_steps_in_episode``); they map to ``terminated``
  and ``truncated`` as they are (both true when they coincide, as with
  Gymnasium's ``TimeLimit``).
* gymnax < 1.0 (no ``is_truncated``): ``done`` includes the time limit and
  ``info["discount"]`` is 0 for both causes, so the adapter computes
  ``truncated = state.time >= params.max_steps_in_episode`` and reports
  ``terminated = done & ~truncated`` (a natural termination on the very step
  the time limit is reached is then reported as truncation only).

Checked by hand against the real gymnax 1.0.1 (CartPole-v1 against
:class:`~syllabus_like.envs.cartpole_jax.CartPoleJax`: identical starts,
observations, rewards and flags for the same keys and actions; Acrobot-v1 and
MountainCar-v0 truncated at their time limits).

Needs the ``jax`` extra.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree

from syllabus_like.jax.environment import AbstractEnvironment, TaskTable

__all__ = ["GymnaxEnvironment", "cartpole_derived_params", "gymnax_task_table"]

GYMNAX_API = ("default_params", "reset_env", "step_env", "action_space")


def _as_array(leaf: Any) -> Array:
    """``leaf`` as a strongly typed array, so its type is the same whether it came from Python or from a step."""
    array = jnp.asarray(leaf)
    return array.astype(array.dtype)


def _is_numeric(leaf: Any) -> bool:
    if not isinstance(leaf, (bool, int, float, np.generic, np.ndarray, jax.Array)):
        return False
    dtype = np.asarray(leaf).dtype if isinstance(leaf, (bool, int, float)) else leaf.dtype
    return np.issubdtype(dtype, np.number) or dtype == np.bool_


def _params_to_arrays(params: PyTree) -> PyTree:
    """``params`` with every leaf a JAX array; TypeError naming the first leaf that is not numeric."""
    leaves, structure = jax.tree_util.tree_flatten_with_path(params)
    for path, leaf in leaves:
        if not _is_numeric(leaf):
            raise TypeError(
                f"gymnax params must be a pytree (e.g. a flax struct.dataclass) whose leaves are numbers or "
                f"arrays; params{jax.tree_util.keystr(path)} is {leaf!r} ({type(leaf).__name__})"
            )
    return jax.tree_util.tree_unflatten(structure, [_as_array(leaf) for _, leaf in leaves])


def _strong(tree: PyTree) -> PyTree:
    """Every leaf an array: gymnax resets ``state.time`` to the Python int 0, which ``filter_jit`` would
    treat as static (one more compilation for the first step)."""
    return jax.tree.map(_as_array, tree)


class GymnaxEnvironment(AbstractEnvironment[PyTree]):
    """A gymnax environment with its params as a field (see the module docstring).

    Args:
        env: an object with gymnax's ``Environment`` API (``default_params``,
            ``reset_env(key, params) -> (obs, state)``,
            ``step_env(key, state, action, params) -> (obs, state, reward, done, info)``,
            ``action_space(params)`` with a discrete ``n``).
        params: its env params (default ``env.default_params``), a pytree of
            numbers or arrays; every leaf becomes an array field.
        derived: optional ``params -> params`` recomputing stored derived
            parameters before each call into ``env``.

    Raises:
        TypeError: ``env`` lacks the API, ``params`` is not the env's params
            type or has a non-numeric leaf, or a method returns the wrong arity.
        ValueError: the action space is not discrete.
    """

    env: Any = eqx.field(static=True)
    params: PyTree
    derived: Callable[[PyTree], PyTree] | None = eqx.field(static=True)
    _num_actions: int = eqx.field(static=True)
    _time_limit_in_done: bool = eqx.field(static=True)

    def __init__(
        self, env: Any, params: PyTree | None = None, *, derived: Callable[[PyTree], PyTree] | None = None
    ) -> None:
        missing = [name for name in GYMNAX_API if not hasattr(env, name)]
        missing += [name for name in GYMNAX_API[1:] if name not in missing and not callable(getattr(env, name))]
        if missing:
            raise TypeError(
                f"GymnaxEnvironment needs an object with gymnax's Environment API ({', '.join(GYMNAX_API)}); "
                f"{type(env).__name__} lacks {', '.join(missing)}"
            )
        default = env.default_params
        if params is None:
            params = default
        elif not isinstance(params, type(default)):
            raise TypeError(
                f"params must be a {type(default).__name__} (the type of {type(env).__name__}.default_params), "
                f"got {type(params).__name__}"
            )
        if derived is not None and not callable(derived):
            raise TypeError(f"derived must be a function params -> params or None, got {derived!r}")
        self.env = env
        self.params = _params_to_arrays(params)
        self.derived = derived
        self._time_limit_in_done = not callable(getattr(env, "is_truncated", None))

        space = env.action_space(self.params)
        count = getattr(space, "n", None)
        if count is None or np.ndim(count) != 0 or not np.issubdtype(np.asarray(count).dtype, np.integer):
            raise ValueError(
                f"GymnaxEnvironment needs a discrete action space (with an integer n); "
                f"{type(env).__name__}.action_space(params) is {space!r}"
            )
        self._num_actions = int(count)
        self._check_call_shapes()

    def _check_call_shapes(self) -> None:
        """Trace (no compute) one reset and one step, so a wrong API fails here and not inside a rollout."""
        name = type(self.env).__name__
        params = self.effective_params()
        if jax.tree_util.tree_structure(params) != jax.tree_util.tree_structure(self.params):
            raise TypeError(
                f"derived(params) must return params of the same structure, got {type(params).__name__} "
                f"with structure {jax.tree_util.tree_structure(params)}"
            )
        key = jax.random.key(0)
        reset = jax.eval_shape(lambda: self.env.reset_env(key, params))
        if not isinstance(reset, tuple) or len(reset) != 2:
            raise TypeError(f"{name}.reset_env(key, params) must return (obs, state), got {reset!r}")
        step = jax.eval_shape(lambda state: self.env.step_env(key, state, jnp.int32(0), params), reset[1])
        if not isinstance(step, tuple) or len(step) != 5:
            raise TypeError(
                f"{name}.step_env(key, state, action, params) must return (obs, state, reward, done, info), "
                f"got {step!r}"
            )

    # ------------------------------------------------------------------ protocol
    @property
    def num_actions(self) -> int:
        return self._num_actions

    def effective_params(self) -> PyTree:
        """The params handed to the gymnax env: ``params`` after ``derived``."""
        return self.params if self.derived is None else self.derived(self.params)

    def reset(self, key: PRNGKeyArray) -> tuple[PyTree, PyTree]:
        observation, state = self.env.reset_env(key, self.effective_params())
        return _strong(state), observation

    def step(
        self, key: PRNGKeyArray, state: PyTree, action: Int[ArrayLike, ""]
    ) -> tuple[PyTree, PyTree, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Array]]:
        params = self.effective_params()
        observation, state, reward, done, info = self.env.step_env(key, state, action, params)
        state = _strong(state)
        done = jnp.asarray(done, bool)
        if self._time_limit_in_done:
            if hasattr(state, "time") and hasattr(params, "max_steps_in_episode"):
                truncated = state.time >= params.max_steps_in_episode
            else:
                truncated = jnp.zeros((), bool)
            terminated = done & ~truncated
        else:
            terminated = done
            truncated = jnp.asarray(self.env.is_truncated(state, params), bool)
        info = jax.tree.map(jnp.asarray, dict(info)) if isinstance(info, Mapping) else {}
        return state, observation, jnp.asarray(reward, jnp.float32), terminated, truncated, info


def cartpole_derived_params(params: PyTree) -> PyTree:
    """gymnax CartPole params with ``total_mass`` and ``polemass_length`` recomputed from the masses and length."""
    return dataclasses.replace(
        params,
        total_mass=params.masscart + params.masspole,
        polemass_length=params.masspole * params.length,
    )


def gymnax_task_table(env: GymnaxEnvironment, values: Mapping[str, ArrayLike], *, grid: bool = False) -> TaskTable:
    """A task table over named params fields.

    ``gymnax_task_table(env, {"gravity": [5.0, 9.8], "length": [0.25, 1.0]})``
    has 2 tasks (task ``i`` takes the ``i``-th value of every field); with
    ``grid=True`` it has every combination, 4 tasks (first field varies slowest).
    """
    if not isinstance(env, GymnaxEnvironment):
        raise TypeError(f"env must be a GymnaxEnvironment, got {type(env).__name__}")
    if not isinstance(values, Mapping) or not values:
        raise ValueError(f"values must be a non-empty mapping of params field name -> per-task values, got {values!r}")
    names = tuple(values)
    params = env.params
    if dataclasses.is_dataclass(params):
        available = [field.name for field in dataclasses.fields(params)]
    else:
        available = [name for name in dir(params) if not name.startswith("_")]
    for name in names:
        if name not in available:
            raise ValueError(
                f"{name!r} is not a field of {type(params).__name__}; its fields are {', '.join(available)}"
            )

    def where(environment: GymnaxEnvironment) -> tuple[Any, ...]:
        return tuple(getattr(environment.params, name) for name in names)

    if grid:
        return TaskTable.grid(env, where, *values.values())
    return TaskTable(env, where, tuple(np.asarray(column) for column in values.values()))
