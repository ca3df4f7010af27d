"""Level scores for Prioritized Level Replay, computed from a ``[T, B]`` rollout.

Jiang et al. (2021) score a level by how wrong the value function still is
there, averaged over an episode's ``L`` steps:

* positive value loss (their best score)::

      S = 1/L * sum_t max(A_t, 0),   A_t = sum_k (gamma lambda)^k delta_{t+k},
      delta_t = r_t + gamma V(s_{t+1}) - V(s_t)                     (GAE)

* MaxMC (Jiang et al., "Replay-Guided Adversarial Environment Design", 2021)::

      S = 1/L * sum_t (R_max - V(s_t)) = R_max - mean_t V(s_t)

  with ``R_max`` the best return ever reached on the level.

Typical use inside a jitted training step::

    per_step = positive_value_loss(rewards, values, dones, last_value, gamma=0.99, gae_lambda=0.95)
    scores, accumulator = episode_means(per_step, dones, accumulator)
    batch = EpisodeBatch(task_ids, returns, lengths, done=dones, score=scores)
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int

__all__ = ["EpisodeAccumulator", "episode_means", "max_mc_scores", "positive_value_loss"]


def positive_value_loss(
    rewards: Float[Array, "T B"],
    values: Float[Array, "T B"],
    dones: Bool[Array, "T B"],
    last_value: Float[Array, " B"],
    *,
    gamma: float | Float[ArrayLike, ""],
    gae_lambda: float | Float[ArrayLike, ""],
) -> Float[Array, "T B"]:
    """``max(A_t, 0)`` per step, with ``A_t`` the GAE advantage (no bootstrap across ``dones``).

    ``values[t]`` is ``V(s_t)`` and ``last_value`` is ``V`` of the state after
    the last step; ``dones[t]`` marks a step that ended its episode.
    """
    not_done = 1.0 - jnp.asarray(dones, jnp.float32)
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    deltas = rewards + gamma * next_values * not_done - values

    def backward(advantage: Array, step: tuple[Array, Array]) -> tuple[Array, Array]:
        delta, keep = step
        advantage = delta + gamma * gae_lambda * keep * advantage
        return advantage, advantage

    _, advantages = lax.scan(backward, jnp.zeros_like(last_value), (deltas, not_done), reverse=True)
    return jnp.maximum(advantages, 0.0)


class EpisodeAccumulator(eqx.Module):
    """Running per-env sums for episodes that continue past the end of a rollout."""

    total: Float[Array, " B"]
    count: Int[Array, " B"]

    @staticmethod
    def zeros(num_envs: int) -> EpisodeAccumulator:
        return EpisodeAccumulator(jnp.zeros((num_envs,), jnp.float32), jnp.zeros((num_envs,), jnp.int32))


def episode_means(
    per_step: Float[Array, "T B"],
    dones: Bool[Array, "T B"],
    accumulator: EpisodeAccumulator | None = None,
) -> tuple[Float[Array, "T B"], EpisodeAccumulator]:
    """The mean of ``per_step`` over each episode, reported at the episode's last step.

    Entry ``[t, b]`` is meaningful where ``dones[t, b]`` (0 elsewhere).
    Episodes still running at the end carry over in the returned
    accumulator; pass it to the next call.
    """
    if accumulator is None:
        accumulator = EpisodeAccumulator.zeros(per_step.shape[1])

    def forward(carry: EpisodeAccumulator, step: tuple[Array, Array]) -> tuple[EpisodeAccumulator, Array]:
        value, done = step
        total = carry.total + value
        count = carry.count + 1
        mean = jnp.where(done, total / count, 0.0)
        carry = EpisodeAccumulator(jnp.where(done, 0.0, total), jnp.where(done, 0, count))
        return carry, mean

    accumulator, means = lax.scan(forward, accumulator, (per_step.astype(jnp.float32), jnp.asarray(dones, bool)))
    return means, accumulator


def max_mc_scores(
    max_returns: Float[Array, " num_tasks"],
    task_id: Int[Array, "*s"],
    episode_return: Float[Array, "*s"],
    mean_value: Float[Array, "*s"],
) -> Float[Array, "*s"]:
    """MaxMC score ``max(R_max, G) - mean_t V(s_t)`` per episode.

    ``max_returns`` is the best return per task so far (e.g.
    :meth:`PrioritizedLevelReplay.max_returns`, ``-inf`` when unknown), ``G``
    the episode's own return, ``mean_value`` its mean value estimate (from
    :func:`episode_means` over the values).
    """
    best = jnp.maximum(max_returns[task_id], episode_return)
    return best - mean_value
