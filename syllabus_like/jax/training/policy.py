"""Actor-critic policies for discrete actions, as equinox Modules.

:class:`AbstractActorCritic` is what :class:`~syllabus_like.jax.training.ppo.PPO`
needs from a policy, for *one* observation (the algorithm vmaps):

* ``action_and_value(observation, key)``: sample an action and return it with
  its log-probability and the critic's value;
* ``evaluate(observation, action)``: log-probability, entropy and value of a
  given action under the current parameters (the PPO loss);
* ``value(observation)``: the critic alone (bootstrapping at truncation).

:class:`MLPActorCritic` is the usual choice: separate actor and critic MLPs
with tanh hidden layers and orthogonal initialisation, the actor's output
scaled by 0.01 and the critic's by 1 (the initialisation studied by
Andrychowicz et al., 2021, "What matters in on-policy reinforcement
learning?", and Huang et al., 2022, "The 37 implementation details of PPO").
Integer observations (a gridworld cell) are one-hot encoded when
``num_observations`` is given.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Key

from syllabus_like.validation import check_positive_int

__all__ = ["AbstractActorCritic", "MLPActorCritic"]


class AbstractActorCritic(eqx.Module):
    """A stochastic policy over discrete actions with a value head (one observation at a time)."""

    @abc.abstractmethod
    def action_and_value(
        self, observation: Array, key: Key[Array, ""]
    ) -> tuple[Int[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Sample an action; return ``(action, log_prob, value)``."""

    @abc.abstractmethod
    def evaluate(
        self, observation: Array, action: Int[Array, ""]
    ) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Return ``(log_prob(action), entropy, value)`` for ``observation``."""

    @abc.abstractmethod
    def value(self, observation: Array) -> Float[Array, ""]:
        """The critic's estimate of the return from ``observation``."""


@functools.partial(jax.jit, static_argnames=("shapes", "gains"))
def _orthogonal_weights(
    key: Key[Array, ""], shapes: tuple[tuple[int, int], ...], gains: tuple[float, ...]
) -> list[Float[Array, "out in"]]:
    """Orthogonal weight matrices, one per ``(out, in)`` shape, scaled by ``gains`` (one compiled call)."""
    keys = jax.random.split(key, len(shapes))
    return [jax.nn.initializers.orthogonal(gain)(k, shape) for k, shape, gain in zip(keys, shapes, gains, strict=False)]


def _mlp_skeleton(in_size: int, out_size: int, hidden: Sequence[int]) -> eqx.nn.MLP:
    """The structure of a tanh ``eqx.nn.MLP`` with shape-only leaves (no eager initialisation, which
    would compile op by op)."""
    width = hidden[0] if hidden else out_size
    if any(size != width for size in hidden):
        raise ValueError(f"hidden layers must all have the same width (eqx.nn.MLP), got {tuple(hidden)}")
    return eqx.filter_eval_shape(
        eqx.nn.MLP,
        in_size,
        out_size,
        width_size=width,
        depth=len(hidden),
        activation=jnp.tanh,
        key=jax.random.key(0),
    )


def _orthogonal_mlps(
    skeletons: Sequence[eqx.nn.MLP], output_scales: Sequence[float], key: Key[Array, ""]
) -> list[eqx.nn.MLP]:
    """Fill MLP skeletons with orthogonal weights (gain sqrt 2; ``output_scale`` on the last layer) and zero biases."""
    shapes: list[tuple[int, int]] = []
    gains: list[float] = []
    for skeleton, scale in zip(skeletons, output_scales, strict=False):
        layer_shapes = [tuple(layer.weight.shape) for layer in skeleton.layers]
        shapes += layer_shapes
        gains += [math.sqrt(2.0)] * (len(layer_shapes) - 1) + [float(scale)]
    weights = iter(_orthogonal_weights(key, tuple(shapes), tuple(gains)))
    filled = []
    for skeleton in skeletons:
        leaves = []
        for layer in skeleton.layers:
            leaves += [next(weights), jnp.zeros(layer.bias.shape, jnp.float32)]
        filled.append(
            eqx.tree_at(lambda m: [leaf for layer in m.layers for leaf in (layer.weight, layer.bias)], skeleton, leaves)
        )
    return filled


class MLPActorCritic(AbstractActorCritic):
    """Separate actor and critic MLPs over a flat observation.

    Args:
        observation_size: length of the flattened float observation; ignored
            (may be None) when ``num_observations`` is given.
        num_actions: number of discrete actions.
        key: initialisation key.
        hidden: widths of the hidden layers (all equal), default ``(64, 64)``.
        num_observations: for integer observations in ``[0, num_observations)``:
            one-hot encode them (the network's input size is then ``num_observations``).
    """

    actor: eqx.nn.MLP
    critic: eqx.nn.MLP
    num_actions: int = eqx.field(static=True)
    num_observations: int | None = eqx.field(static=True)

    def __init__(
        self,
        observation_size: int | None,
        num_actions: int,
        *,
        key: Key[Array, ""],
        hidden: Sequence[int] = (64, 64),
        num_observations: int | None = None,
    ) -> None:
        check_positive_int("num_actions", num_actions)
        if num_observations is not None:
            if isinstance(num_observations, bool) or not isinstance(num_observations, int) or num_observations < 1:
                raise ValueError(f"num_observations must be a positive int or None, got {num_observations!r}")
            in_size = num_observations
        else:
            if isinstance(observation_size, bool) or not isinstance(observation_size, int) or observation_size < 1:
                raise ValueError(
                    "observation_size must be a positive int (or give num_observations for integer "
                    f"observations), got {observation_size!r}"
                )
            in_size = observation_size
        hidden = tuple(hidden)
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be positive ints, got {hidden!r}")
        self.actor, self.critic = _orthogonal_mlps(
            [_mlp_skeleton(in_size, num_actions, hidden), _mlp_skeleton(in_size, 1, hidden)], [0.01, 1.0], key
        )
        self.num_actions = num_actions
        self.num_observations = num_observations

    def _features(self, observation: Array) -> Float[Array, " in_size"]:
        if self.num_observations is not None:
            return jax.nn.one_hot(observation, self.num_observations).reshape(-1)
        return jnp.ravel(observation).astype(jnp.float32)

    def logits(self, observation: Array) -> Float[Array, " num_actions"]:
        """Unnormalised log-probabilities of the actions."""
        return self.actor(self._features(observation))

    def value(self, observation: Array) -> Float[Array, ""]:
        return self.critic(self._features(observation))[0]

    def action_and_value(
        self, observation: Array, key: Key[Array, ""]
    ) -> tuple[Int[Array, ""], Float[Array, ""], Float[Array, ""]]:
        features = self._features(observation)
        log_probs = jax.nn.log_softmax(self.actor(features))
        action = jax.random.categorical(key, log_probs)
        return action, log_probs[action], self.critic(features)[0]

    def evaluate(
        self, observation: Array, action: Int[Array, ""]
    ) -> tuple[Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        features = self._features(observation)
        log_probs = jax.nn.log_softmax(self.actor(features))
        entropy = -jnp.sum(jnp.exp(log_probs) * log_probs)
        return log_probs[action], entropy, self.critic(features)[0]
