"""Small reference agents implementing the experiment layer's :class:`~syllabus_like.experiment.Agent` protocol.

* :class:`QLearningAgent`: tabular epsilon-greedy Q-learning over ``Discrete``
  observations and actions (numpy only).
"""

from syllabus_like.agents.q_learning import QLearningAgent

__all__ = ["QLearningAgent"]
