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
"""

from __future__ import annotations

import numpy as np

__all__ = ["QLearningAgent"]


class QLearningAgent:
    """Tabular epsilon-greedy Q-learning over ``Discrete`` states and actions.

    Args:
        num_states: number of states (observations are ints in ``[0, num_states)``).
        num_actions: number of actions.
        learning_rate: ``alpha`` in ``(0, 1]``.
        discount: ``gamma`` in ``[0, 1]``.
        epsilon: exploration probability in ``[0, 1]``.
        seed: seed of the agent's own ``numpy.random.Generator``.
    """

    def __init__(
        self,
        num_states: int,
        num_actions: int,
        *,
        learning_rate: float = 0.5,
        discount: float = 0.95,
        epsilon: float = 0.1,
        seed: int | None = None,
    ) -> None:
        for name, value in (("num_states", num_states), ("num_actions", num_actions)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 < learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate!r}")
        if not 0.0 <= discount <= 1.0:
            raise ValueError(f"discount must be in [0, 1], got {discount!r}")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.q_values = np.zeros((int(num_states), int(num_actions)), dtype=np.float64)
        self.learning_rate = float(learning_rate)
        self.discount = float(discount)
        self.epsilon = float(epsilon)
        self.rng = np.random.default_rng(seed)

    @property
    def num_actions(self) -> int:
        return self.q_values.shape[1]

    def act(self, state: int, *, greedy: bool = False) -> int:
        """An action for ``state``: epsilon-greedy, or greedy when ``greedy=True``.

        Greedy choices break ties uniformly at random with the agent's generator.
        """
        if not greedy and self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.num_actions))
        row = self.q_values[state]
        best = np.flatnonzero(row == row.max())
        if len(best) == 1:
            return int(best[0])
        return int(best[self.rng.integers(len(best))])

    def update(self, state: int, action: int, reward: float, next_state: int, terminated: bool) -> None:
        """One Q-learning step on the transition ``(state, action, reward, next_state)``.

        ``terminated`` means ``next_state`` is terminal (no bootstrap); a
        truncated episode still bootstraps from ``next_state``.
        """
        bootstrap = 0.0 if terminated else self.discount * self.q_values[next_state].max()
        error = reward + bootstrap - self.q_values[state, action]
        self.q_values[state, action] += self.learning_rate * error
