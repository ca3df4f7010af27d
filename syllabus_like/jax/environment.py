"""The JAX environment protocol and task tables.

**An environment is an equinox Module** describing *one* environment::

    reset(key) -> (state, observation)
    step(key, state, action) -> (state, observation, reward, terminated, truncated, info)

Both are pure; batches are made with ``jax.vmap`` (the rollout and the
training loop vmap them over ``num_envs``). ``state`` is any pytree (usually a
small equinox Module); ``info`` is a dict of arrays with a fixed set of keys.
When ``info`` has ``"task_completion"`` (a float in ``[0, 1]``, meaningful on
the step that ends an episode) the rollout reports it as the episode's
``progress``, the same key the Gymnasium envs and ``CurriculumWrapper`` use.

**Parameters are fields.** Every number that defines the dynamics
(``gravity``, ``length``, ``level``, ...) is an array field of the Module, so
it can be changed inside a jitted program with ``eqx.tree_at`` (e.g. by a
scheduled curriculum) and changing it never recompiles. Only what shapes
arrays (grid size, observation size) is ``eqx.field(static=True)``.

**Derived parameters are properties, never stored.** A quantity computed
from fields (CartPole's ``total_mass = masscart + masspole`` and
``polemass_length = masspole * length``; the gridworld's ``max_steps``, looked
up from ``level``) is a ``@property`` evaluated from the current fields each
time it is read. Changing a field with ``eqx.tree_at`` therefore keeps every
derived value consistent, with nothing to recompute or forget (the Gymnasium
CartPole stores them, which is why its task wrapper must refresh them)::

    class MyEnv(AbstractEnvironment):
        masspole: Float[Array, ""]
        length: Float[Array, ""]

        @property
        def polemass_length(self) -> Float[Array, ""]:   # derived: always consistent
            return self.masspole * self.length

**A task is an integer id into a** :class:`TaskTable`: a pytree of arrays with
a leading task axis, holding the values that some env fields take for each
task (``TaskTable(env, lambda e: (e.gravity, e.length), (gravities, lengths))``).
``table.apply(env, task_id)`` returns the env with those fields set. Inside a
vmapped rollout each env carries its own ``task_id`` and steps with
``table.apply(env, task_id)``, so every env in a batch plays its own task
while sharing all other fields (including ones a callback just changed).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree

__all__ = ["AbstractEnvironment", "TaskTable"]

EnvState = TypeVar("EnvState")
Env = TypeVar("Env", bound="AbstractEnvironment")


class AbstractEnvironment(eqx.Module, Generic[EnvState]):
    """Base of the JAX environments (see the module docstring for the protocol)."""

    @abc.abstractmethod
    def reset(self, key: PRNGKeyArray) -> tuple[EnvState, PyTree]:
        """A fresh episode: ``(state, observation)``."""

    @abc.abstractmethod
    def step(
        self, key: PRNGKeyArray, state: EnvState, action: ArrayLike
    ) -> tuple[EnvState, PyTree, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Array]]:
        """One step: ``(state, observation, reward, terminated, truncated, info)``."""

    @property
    @abc.abstractmethod
    def num_actions(self) -> int:
        """Number of discrete actions (``0 .. num_actions - 1``)."""


class TaskTable(eqx.Module):
    """Values of some environment fields for each of ``num_tasks`` tasks.

    Args:
        env: an environment the table applies to (used to check the fields).
        where: selects the fields a task sets, as for ``eqx.tree_at``, e.g.
            ``lambda env: env.level`` or ``lambda env: (env.gravity, env.length)``.
        values: the same structure as ``where(env)``, each leaf with a leading
            task axis: ``values[...][i]`` is the field's value in task ``i``.
            Cast to the fields' dtypes.

    Raises:
        ValueError: when the structure, shapes or task counts do not match.
    """

    where: Callable[[Any], Any] = eqx.field(static=True)
    values: PyTree
    num_tasks: int = eqx.field(static=True)

    def __init__(self, env: eqx.Module, where: Callable[[Any], Any], values: PyTree) -> None:
        if not callable(where):
            raise TypeError(f"where must be a function env -> fields, got {where!r}")
        try:
            fields = where(env)
        except Exception as error:  # noqa: BLE001 - report the selector's failure with context
            raise ValueError(f"where(env) failed on {type(env).__name__}: {error!r}") from error
        field_structure = jax.tree_util.tree_structure(fields)
        try:
            value_leaves = field_structure.flatten_up_to(values)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"values must have the structure of where(env) ({field_structure}), got {values!r}"
            ) from error
        field_leaves = field_structure.flatten_up_to(fields)
        counts = set()
        cast = []
        for index, (field, value) in enumerate(zip(field_leaves, value_leaves, strict=False)):
            if not eqx.is_array(field):
                raise ValueError(
                    f"field {index} selected by where is {field!r} ({type(field).__name__}); a task can only "
                    "set array fields"
                )
            value = jnp.asarray(value, dtype=field.dtype)
            if value.shape[1:] != field.shape or value.ndim != field.ndim + 1:
                raise ValueError(
                    f"values for field {index} must have shape (num_tasks, *{field.shape}), got {value.shape}"
                )
            counts.add(value.shape[0])
            cast.append(value)
        if len(counts) != 1 or 0 in counts:
            raise ValueError(f"every value array needs the same non-zero number of tasks, got {sorted(counts)}")
        self.where = where
        self.values = jax.tree_util.tree_unflatten(field_structure, cast)
        self.num_tasks = counts.pop()

    def task(self, task_id: Int[ArrayLike, ""]) -> PyTree:
        """The field values of task ``task_id``."""
        return jax.tree.map(lambda value: value[task_id], self.values)

    def apply(self, env: Env, task_id: Int[ArrayLike, ""]) -> Env:
        """``env`` with the fields of task ``task_id``; other fields, and derived properties, follow."""
        return eqx.tree_at(self.where, env, self.task(task_id))

    @staticmethod
    def grid(env: eqx.Module, where: Callable[[Any], tuple[Any, ...]], *axes: ArrayLike) -> TaskTable:
        """Every combination of the given per-field values (first field varies slowest).

        ``TaskTable.grid(env, lambda e: (e.gravity, e.length), [5., 9.8], [0.25, 0.5, 1.])`` has 6 tasks.
        """
        mesh = np.meshgrid(*[np.asarray(axis) for axis in axes], indexing="ij")
        return TaskTable(env, where, tuple(values.reshape(-1) for values in mesh))
