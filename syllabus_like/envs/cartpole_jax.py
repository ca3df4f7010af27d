"""CartPole in JAX, with every physical parameter a field (same dynamics as Gymnasium's CartPole-v1).

Tasks set ``gravity`` and ``length`` (half the pole's length, as in
Gymnasium and gymnax), like :class:`syllabus_like.envs.CartPoleTaskWrapper`.
``total_mass`` and ``polemass_length`` are *derived* properties, computed from
the fields whenever they are read, so changing ``length`` (or ``masspole``)
with ``eqx.tree_at`` can never leave them stale. See
:mod:`syllabus_like.jax.environment` for the protocol.

Equations of motion (Barto, Sutton & Anderson, 1983; Florian, 2007), explicit Euler
with step ``tau``::

    temp      = (F + m_p l w^2 sin(th)) / (m_c + m_p)
    th_acc    = (g sin(th) - cos(th) temp) / (l (4/3 - m_p cos(th)^2 / (m_c + m_p)))
    x_acc     = temp - m_p l th_acc cos(th) / (m_c + m_p)

Needs the ``jax`` extra.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from syllabus_like.envs.cartpole import CARTPOLE_DEFAULT_TASK
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable

__all__ = ["CartPoleJax", "CartPoleState", "cartpole_task_table"]


def _scalar(value: float | ArrayLike, dtype=jnp.float32) -> Array:
    return jnp.asarray(value, dtype)


class CartPoleState(eqx.Module):
    """``[x, x_dot, theta, theta_dot]`` and the steps taken in the episode."""

    physics: Float[Array, 4]
    steps: Int[Array, ""]


class CartPoleJax(AbstractEnvironment[CartPoleState]):
    """CartPole-v1: push the cart left (0) or right (1); reward 1.0 per step.

    Terminated when the cart leaves ``[-x_threshold, x_threshold]`` or the pole
    tilts beyond ``theta_threshold`` radians (the terminating step still earns
    1.0, as in Gymnasium); truncated after ``max_steps`` steps (Gymnasium's
    ``TimeLimit(500)``). The observation is the float32 physics state.
    ``info["task_completion"]`` is the fraction of ``max_steps`` survived (the
    Gymnasium env reports none).
    """

    gravity: Float[Array, ""] = eqx.field(converter=_scalar, default=CARTPOLE_DEFAULT_TASK["gravity"])
    length: Float[Array, ""] = eqx.field(converter=_scalar, default=CARTPOLE_DEFAULT_TASK["length"])
    masscart: Float[Array, ""] = eqx.field(converter=_scalar, default=1.0)
    masspole: Float[Array, ""] = eqx.field(converter=_scalar, default=0.1)
    force_mag: Float[Array, ""] = eqx.field(converter=_scalar, default=10.0)
    tau: Float[Array, ""] = eqx.field(converter=_scalar, default=0.02)
    x_threshold: Float[Array, ""] = eqx.field(converter=_scalar, default=2.4)
    theta_threshold: Float[Array, ""] = eqx.field(converter=_scalar, default=12 * 2 * math.pi / 360)
    max_steps: Int[Array, ""] = eqx.field(converter=lambda v: _scalar(v, jnp.int32), default=500)

    def __check_init__(self) -> None:
        for name in ("gravity", "length", "masscart", "masspole", "force_mag", "tau", "max_steps"):
            value = getattr(self, name)
            if not isinstance(value, jax.core.Tracer) and not float(value) > 0:
                raise ValueError(f"CartPoleJax {name} must be positive, got {float(value)}")

    # ------------------------------------------------------- derived parameters
    @property
    def total_mass(self) -> Float[Array, ""]:
        return self.masscart + self.masspole

    @property
    def polemass_length(self) -> Float[Array, ""]:
        return self.masspole * self.length

    @property
    def num_actions(self) -> int:
        return 2

    # ------------------------------------------------------------------ protocol
    def reset(self, key: PRNGKeyArray) -> tuple[CartPoleState, Float[Array, 4]]:
        physics = jax.random.uniform(key, (4,), jnp.float32, -0.05, 0.05)
        return CartPoleState(physics, jnp.zeros((), jnp.int32)), physics

    def step(
        self, key: PRNGKeyArray, state: CartPoleState, action: Int[ArrayLike, ""]
    ) -> tuple[CartPoleState, Float[Array, 4], Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict[str, Array]]:
        x, x_dot, theta, theta_dot = state.physics
        force = jnp.where(action == 1, self.force_mag, -self.force_mag)
        cos_theta, sin_theta = jnp.cos(theta), jnp.sin(theta)
        temp = (force + self.polemass_length * theta_dot**2 * sin_theta) / self.total_mass
        theta_acc = (self.gravity * sin_theta - cos_theta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos_theta**2 / self.total_mass)
        )
        x_acc = temp - self.polemass_length * theta_acc * cos_theta / self.total_mass
        physics = jnp.stack(
            [
                x + self.tau * x_dot,
                x_dot + self.tau * x_acc,
                theta + self.tau * theta_dot,
                theta_dot + self.tau * theta_acc,
            ]
        )
        steps = state.steps + 1
        new_x, new_theta = physics[0], physics[2]
        terminated = (jnp.abs(new_x) > self.x_threshold) | (jnp.abs(new_theta) > self.theta_threshold)
        truncated = steps >= self.max_steps
        info = {"task_completion": jnp.minimum(steps / self.max_steps, 1.0).astype(jnp.float32)}
        reward = jnp.ones((), jnp.float32)
        return CartPoleState(physics, steps), physics, reward, terminated, truncated, info


def cartpole_task_table(env: CartPoleJax, gravity: ArrayLike, length: ArrayLike) -> TaskTable:
    """Every ``(gravity, length)`` combination as a task (gravity varies slowest).

    ``cartpole_task_table(env, np.linspace(5, 15, 64), np.linspace(0.25, 1.0, 64))`` has 4096 tasks.
    """
    gravity, length = np.asarray(gravity, np.float64).reshape(-1), np.asarray(length, np.float64).reshape(-1)
    if (gravity <= 0).any() or (length <= 0).any():
        raise ValueError("cartpole_task_table: gravity and length values must be positive")
    return TaskTable.grid(env, lambda e: (e.gravity, e.length), gravity, length)
