"""Small deterministic envs and agents for the experiment-layer tests (imported as ``experiment_helpers``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from syllabus_like import DiscreteTaskSpace


class ScriptedEnv(gym.Env):
    """Episodes of ``length`` steps; episode ``k`` (counted per instance) returns ``returns[k % len(returns)]``,
    paid on its last step. ``task`` (0..2, via ``change_task``) adds ``10 * task`` to that return."""

    def __init__(self, returns=(1.0,), length=2, action_mask=False):
        self.returns = [float(r) for r in returns]
        self.length = int(length)
        self.observation_space = spaces.Discrete(self.length + 1)
        self.action_space = spaces.Discrete(2)
        self.task_space = DiscreteTaskSpace(3)
        self.task = 0
        self.episodes_started = 0
        self.with_mask = action_mask
        self._t = 0
        self._episode_return = 0.0

    def change_task(self, task):
        self.task = int(task)

    def _info(self):
        return {"action_mask": np.array([True, False])} if self.with_mask else {}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._episode_return = self.returns[self.episodes_started % len(self.returns)] + 10 * self.task
        self.episodes_started += 1
        self._t = 0
        return 0, self._info()

    def step(self, action):
        self._t += 1
        done = self._t >= self.length
        return self._t, (self._episode_return if done else 0.0), done, False, self._info()


class RecordingAgent:
    """Takes action 0; records every call (greedy flags, masks, updates, exploration resets, saves)."""

    def __init__(self, num_states=None, num_actions=None, seed=None):
        self.greedy_flags = []
        self.masks = []
        self.updates = 0
        self.exploration = None
        self.saved = []
        self.loaded = []
        self.seed = seed

    def get_action(self, obs, legal_mask=None, greedy=False):
        self.greedy_flags.append(greedy)
        self.masks.append(legal_mask)
        return 0

    def update(self, obs, action, reward, next_obs, terminated, truncated):
        self.updates += 1

    def reset_exploration(self, value):
        self.exploration = value

    def save(self, path):
        with open(path + ".txt", "w") as file:
            file.write(str(self.updates))
        self.saved.append(path + ".txt")
        return path + ".txt"

    def load(self, path):
        with open(path) as file:
            self.updates = int(file.read())
        self.loaded.append(path)


def scripted_env_factory(returns=(1.0,), length=2):
    """A plain function that builds a ScriptedEnv: ``env_type`` may be any callable."""
    return ScriptedEnv(returns=returns, length=length)
