"""Task-parameterised environments (``syllabus_like.envs``).

* :class:`GridCrossingEnv`: a sparse-reward gridworld whose tasks are
  difficulty levels on one map (see :mod:`syllabus_like.envs.gridworld`).
  Registered with Gymnasium as ``"syllabus_like/GridCrossing-v0"``.
* :class:`CartPoleTaskWrapper`: Gymnasium's CartPole with gravity and pole
  length as tasks (see :mod:`syllabus_like.envs.cartpole`).
"""

import gymnasium as gym

from syllabus_like.envs.cartpole import (
    CARTPOLE_DEFAULT_TASK,
    CARTPOLE_IMAGE_SHAPE,
    CartPoleTaskWrapper,
    cartpole_task_space,
)
from syllabus_like.envs.gridworld import CROSSING_MAP, LEVEL_FIELDS, LEVELS, NUM_LEVELS, GridCrossingEnv

GRID_CROSSING_ID = "syllabus_like/GridCrossing-v0"
if GRID_CROSSING_ID not in gym.registry:
    gym.register(id=GRID_CROSSING_ID, entry_point="syllabus_like.envs.gridworld:GridCrossingEnv")

__all__ = [
    "GRID_CROSSING_ID",
    "CARTPOLE_DEFAULT_TASK",
    "CARTPOLE_IMAGE_SHAPE",
    "CROSSING_MAP",
    "LEVELS",
    "LEVEL_FIELDS",
    "NUM_LEVELS",
    "CartPoleTaskWrapper",
    "GridCrossingEnv",
    "cartpole_task_space",
]
