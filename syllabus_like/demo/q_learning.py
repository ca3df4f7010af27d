"""Where :class:`QLearningAgent` used to live; it is now public as :class:`syllabus_like.agents.QLearningAgent`."""

from syllabus_like.agents.q_learning import QLearningAgent

__all__ = ["QLearningAgent"]
