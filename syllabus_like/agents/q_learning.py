"""A small tabular Q-learning agent (numpy), enough to show what a curriculum buys.

Q-learning (Watkins & Dayan, 1992) keeps a table ``Q[state, action]`` and,
after each transition ``(s, a, r, s')``, moves ``Q[s, a]`` towards the
one-step target::

    Q[s, a] <- Q[s, a] + alpha * (r + gamma * max_a' Q[s', a'] * (1 - terminated) - Q[s, a])

It acts epsilon-greedily: with probability ``epsilon`` a uniformly random
action, otherwise an action of highest ``Q[s]`` with ties broken uniformly at
random (so an untrained agent performs a random walk, not a fixed march into
a wall). The table starts at zero; with a sparse reward nothing is learned
until the first success, which is what makes the hardest gridworld level hard.

It implements the experiment layer's :class:`~syllabus_like.experiment.Agent`
protocol (``get_action``, ``update``, ``reset_exploration``, ``save``,
``load``), so a :class:`~syllabus_like.experiment.LearningTask` can train it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["QLearningAgent"]


class QLearningAgent:
    """Tabular epsilon-greedy Q-learning over ``Discrete`` states and actions.

    Args:
        num_states: number of states (observations are ints in ``[0, num_states)``),
            or the env's ``Discrete`` observation space.
        num_actions: number of actions, or the env's ``Discrete`` action space.
        learning_rate: ``alpha`` in ``(0, 1]``.
        discount: ``gamma`` in ``[0, 1]``.
        epsilon: exploration probability in ``[0, 1]``.
        seed: seed of the agent's own ``numpy.random.Generator``.

    :meth:`from_spaces` builds one from an env's ``Discrete`` observation and
    action spaces (with the other settings as keywords), which is how the
    ``syllabus-like run`` command builds it when a YAML file names the agent
    without its sizes.
    """

    def __init__(
        self,
        num_states: int | spaces.Discrete,
        num_actions: int | spaces.Discrete,
        *,
        learning_rate: float = 0.5,
        discount: float = 0.95,
        epsilon: float = 0.1,
        seed: int | None = None,
    ) -> None:
        sizes = {"num_states": num_states, "num_actions": num_actions}
        for name, value in sizes.items():
            if isinstance(value, spaces.Space):
                if not isinstance(value, spaces.Discrete):
                    raise ValueError(f"QLearningAgent needs a Discrete space for {name}, got {value!r}")
                sizes[name] = value = int(value.n)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 < learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate!r}")
        if not 0.0 <= discount <= 1.0:
            raise ValueError(f"discount must be in [0, 1], got {discount!r}")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.q_values = np.zeros((int(sizes["num_states"]), int(sizes["num_actions"])), dtype=np.float64)
        self.learning_rate = float(learning_rate)
        self.discount = float(discount)
        self.epsilon = float(epsilon)
        self.rng = np.random.default_rng(seed)

    @classmethod
    def from_spaces(
        cls, observation_space: spaces.Space, action_space: spaces.Space, **settings: Any
    ) -> QLearningAgent:
        """An agent sized for ``Discrete`` observation and action spaces; ``settings`` as in the constructor."""
        for name, space in (("observation_space", observation_space), ("action_space", action_space)):
            if not isinstance(space, spaces.Discrete):
                raise ValueError(f"QLearningAgent needs a Discrete {name}, got {space!r}")
        return cls(observation_space, action_space, **settings)

    @property
    def num_states(self) -> int:
        return self.q_values.shape[0]

    @property
    def num_actions(self) -> int:
        return self.q_values.shape[1]

    def get_action(self, obs: int, legal_mask: np.ndarray | None = None, greedy: bool = False) -> int:
        """An action for ``obs``: epsilon-greedy, or greedy when ``greedy=True``.

        Greedy choices break ties uniformly at random with the agent's
        generator. ``legal_mask`` (a boolean or 0/1 array over actions, e.g.
        Gymnasium's ``info["action_mask"]``) restricts both the random and the
        greedy choice to the legal actions.
        """
        if legal_mask is not None:
            return self._masked_action(obs, np.asarray(legal_mask, dtype=bool), greedy)
        if not greedy and self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.num_actions))
        row = self.q_values[obs]
        best = np.flatnonzero(row == row.max())
        if len(best) == 1:
            return int(best[0])
        return int(best[self.rng.integers(len(best))])

    def _masked_action(self, obs: int, legal: np.ndarray, greedy: bool) -> int:
        if legal.shape != (self.num_actions,) or not legal.any():
            raise ValueError(
                f"legal_mask must mark at least one of {self.num_actions} actions, got {legal.astype(int).tolist()}"
            )
        allowed = np.flatnonzero(legal)
        if not greedy and self.rng.random() < self.epsilon:
            return int(allowed[self.rng.integers(len(allowed))])
        row = self.q_values[obs, allowed]
        best = allowed[row == row.max()]
        return int(best[self.rng.integers(len(best))]) if len(best) > 1 else int(best[0])

    def act(self, state: int, *, greedy: bool = False) -> int:
        """:meth:`get_action` under its earlier name (kept for the examples that call it)."""
        return self.get_action(state, None, greedy)

    def update(
        self, obs: int, action: int, reward: float, next_obs: int, terminated: bool, truncated: bool = False
    ) -> None:
        """One Q-learning step on the transition ``(obs, action, reward, next_obs)``.

        ``terminated`` means ``next_obs`` is terminal (no bootstrap); a
        truncated episode still bootstraps from ``next_obs``, so ``truncated``
        changes nothing here (it is part of the Agent protocol).
        """
        bootstrap = 0.0 if terminated else self.discount * self.q_values[next_obs].max()
        error = reward + bootstrap - self.q_values[obs, action]
        self.q_values[obs, action] += self.learning_rate * error

    def reset_exploration(self, value: float) -> None:
        """Set the exploration rate ``epsilon`` (a learning task's ``exploration_reset_value``)."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"exploration value (epsilon) must be in [0, 1], got {value!r}")
        self.epsilon = float(value)

    # ------------------------------------------------------------ persistence
    def save(self, path: str) -> str:
        """Write the Q-table, the settings and the generator's state to ``path`` (``.npz`` appended when missing).

        Returns the absolute path written.
        """
        if not path.endswith(".npz"):
            path += ".npz"
        settings = {
            "learning_rate": self.learning_rate,
            "discount": self.discount,
            "epsilon": self.epsilon,
            "rng_state": self.rng.bit_generator.state,
        }
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with open(path, "wb") as file:
            np.savez(file, q_values=self.q_values, settings=np.array(json.dumps(settings)))
        return os.path.abspath(path)

    def load(self, path: str) -> None:
        """Restore in place what :meth:`save` wrote (``.npz`` appended when missing); the table's shape must match."""
        if not path.endswith(".npz") and not os.path.exists(path):
            path += ".npz"
        with np.load(path) as data:
            q_values = data["q_values"]
            settings = json.loads(str(data["settings"]))
        if q_values.shape != self.q_values.shape:
            raise ValueError(f"{path} holds a Q-table of shape {q_values.shape}, this agent's is {self.q_values.shape}")
        self.q_values = q_values.astype(np.float64)
        self.learning_rate = float(settings["learning_rate"])
        self.discount = float(settings["discount"])
        self.epsilon = float(settings["epsilon"])
        self.rng.bit_generator.state = settings["rng_state"]
