"""Shared pieces for the task-server tests (no tests here).

They live in a module of their own so that worker processes started with
spawn or forkserver can import them by name (pytest puts ``tests/support`` on
``sys.path``; Ray workers get :data:`SUPPORT_DIR` on their ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from syllabus_like import DiscreteTaskSpace, DomainRandomization
from syllabus_like.wrappers import CurriculumWrapper, TaskWrapper

#: This folder: Ray workers import this module by name, so a test that starts Ray puts it on PYTHONPATH.
SUPPORT_DIR = os.path.dirname(os.path.abspath(__file__))

SPACE = DiscreteTaskSpace([1, 2, 3, 4])


class CountdownTaskEnv(gym.Env):
    """Episodes of task ``t`` last ``t`` plus 0 to 2 steps (drawn at reset) and pay ``t`` per step.

    So an episode's return is ``task * length``; the last step reports ``task_completion=1``.
    """

    observation_space = gym.spaces.Box(0.0, 10.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.task = 1
        self.length = 1
        self.t = 0

    def change_task(self, task: int) -> None:
        self.task = task

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.length = self.task + int(self.np_random.integers(0, 3))
        return np.array([self.task, 0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        info = {"task_completion": 1.0} if done else {}
        return np.array([self.task, self.t], np.float32), float(self.task), done, False, info


def make_env(source, env_id=None) -> gym.Env:
    return CurriculumWrapper(TaskWrapper(CountdownTaskEnv(), SPACE), source, env_id=env_id, task_info="reset")


class RecordingCurriculum(DomainRandomization):
    """DomainRandomization that records what it is told and can be told to fail.

    ``fail_on_episode=n`` raises ``CurriculumBoom`` on the n-th episode report;
    ``fail_on_sample=n`` on the n-th call to sample. ``guard=True`` detects
    overlapping calls (two threads inside the curriculum at once), widening
    the window with a short sleep inside each call.
    """

    def __init__(self, *, step_updates=False, fail_on_episode=None, fail_on_sample=None, guard=False, seed=0):
        super().__init__(SPACE, seed=seed)
        self.requires_step_updates = step_updates
        self.episodes: list[tuple] = []
        self.steps: list[tuple] = []
        self.progress: list[tuple] = []
        self.sampled: list = []
        self.fail_on_episode = fail_on_episode
        self.fail_on_sample = fail_on_sample
        self.guard = guard
        self.overlaps = 0
        self._inside = False
        self.block: threading.Event | None = None

    def _enter(self):
        if self.guard:
            if self._inside:
                self.overlaps += 1
            self._inside = True
            time.sleep(0.0002)

    def _leave(self):
        if self.guard:
            self._inside = False

    def sample(self, k=1):
        self._enter()
        try:
            if self.fail_on_sample is not None:
                self.fail_on_sample -= 1
                if self.fail_on_sample <= 0:
                    raise CurriculumBoom("sample exploded")
            tasks = super().sample(k)
            self.sampled.extend(tasks)
            return tasks
        finally:
            self._leave()

    def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None):
        self._enter()
        try:
            if self.block is not None:
                self.block.wait()
            self.episodes.append((episode_return, length, task, progress, env_id))
            if self.fail_on_episode is not None and len(self.episodes) >= self.fail_on_episode:
                raise CurriculumBoom(f"update exploded at episode {len(self.episodes)}")
        finally:
            self._leave()

    def update_on_step(self, task, obs, reward, terminated, truncated, info, progress=0.0, env_id=None):
        self.steps.append((task, tuple(np.asarray(obs).tolist()), reward, terminated, truncated, progress, env_id))

    def update_task_progress(self, task, progress, env_id=None):
        self.progress.append((task, progress, env_id))

    def metrics(self):
        self._enter()
        try:
            return {"episodes": float(len(self.episodes))}
        finally:
            self._leave()

    def episode_triples(self) -> Counter:
        """The reported episodes as a multiset of ``(return, length, task)``."""
        return Counter((float(r), int(n), t) for r, n, t, *_ in self.episodes)

    @staticmethod
    def episode_triples_of(played) -> Counter:
        """Episodes as played (see :func:`play_episodes`), as a multiset like :meth:`episode_triples`."""
        return Counter((float(r), int(n), t) for r, n, t in played)


class CurriculumBoom(RuntimeError):
    """The error RecordingCurriculum raises on purpose."""


def play_episodes(client, num_episodes: int, env_id: int, results=None, seed: int = 0) -> list[tuple]:
    """Play ``num_episodes`` episodes in a wrapped CountdownTaskEnv; return what really happened.

    Closes the env (which closes the client, sending its buffered reports).
    When ``results`` (a queue) is given, also puts ``(env_id, episodes)`` there.
    """
    env = make_env(client, env_id)
    played = []
    _, info = env.reset(seed=seed + env_id)
    total, length = 0.0, 0
    while len(played) < num_episodes:
        _, reward, terminated, truncated, _ = env.step(0)
        total += reward
        length += 1
        if terminated or truncated:
            played.append((total, length, info["task"]))  # the task is in the episode's reset info
            total, length = 0.0, 0
            if len(played) < num_episodes:
                _, info = env.reset()
    env.close()
    if results is not None:
        results.put((env_id, played))
    return played


def play_until_killed(client, flushed_episodes: int, ready) -> None:
    """Play and flush ``flushed_episodes`` episodes, signal ``ready``, then keep playing forever."""
    env = make_env(client, env_id=99)
    env.reset(seed=0)
    done = 0
    while True:
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            done += 1
            if done == flushed_episodes:
                client.flush()
                ready.set()
            env.reset()


def expect_server_error(client, results) -> None:
    """Play until the client raises; put ``(error type name, message, seconds waited)`` in ``results``."""
    env = make_env(client)
    start = time.monotonic()
    try:
        env.reset(seed=0)
        for _ in range(100_000):
            _, _, terminated, truncated, _ = env.step(0)
            if terminated or truncated:
                env.reset()
        results.put(("none", "no error", time.monotonic() - start))
    except Exception as error:  # the test checks which
        results.put((type(error).__name__, str(error), time.monotonic() - start))


def tally_vector_episodes(envs, mode: AutoresetMode, num_steps: int, seed: int = 0) -> Counter:
    """Step ``envs`` with zeros for ``num_steps``; return the finished episodes as the trainer sees them.

    Each episode is ``(return, length, task)``, read from rewards, terminations
    and the task each sub-env's last reset put in ``infos["task"]`` (marked by
    ``infos["_task"]``), honouring the autoreset mode: under NEXT_STEP the step
    after an episode's end is the reset, under SAME_STEP the reset happens in
    the episode's last step, under DISABLED the loop resets finished envs itself.
    """
    n = envs.num_envs
    _, infos = envs.reset(seed=seed)
    tasks = list(infos["task"])
    returns = np.zeros(n)
    lengths = np.zeros(n, dtype=np.int64)
    resetting = np.zeros(n, dtype=bool)
    episodes: Counter = Counter()
    actions = np.zeros(n, dtype=np.int64)
    for _ in range(num_steps):
        _, rewards, terminated, truncated, infos = envs.step(actions)
        done = terminated | truncated
        reset_here = infos.get("_task", np.zeros(n, dtype=bool))
        for i in range(n):
            if mode == AutoresetMode.NEXT_STEP and resetting[i]:
                assert reset_here[i]
                tasks[i] = infos["task"][i]  # this step was the reset to a new task
                continue
            returns[i] += rewards[i]
            lengths[i] += 1
            if done[i]:
                episodes[(float(returns[i]), int(lengths[i]), tasks[i])] += 1
                returns[i], lengths[i] = 0.0, 0
                if mode == AutoresetMode.SAME_STEP:
                    assert reset_here[i]
                    tasks[i] = infos["task"][i]
            else:
                assert not reset_here[i]
        resetting = done.copy()
        if mode == AutoresetMode.DISABLED and done.any():
            _, reset_infos = envs.reset(options={"reset_mask": done})
            for i in np.flatnonzero(done):
                tasks[i] = reset_infos["task"][i]
            resetting[:] = False
    return episodes


def check_episodes_consistent(episodes: Counter) -> None:
    """Every CountdownTaskEnv episode pays its task per step and lasts task + 0..2 steps."""
    for (episode_return, length, task), _ in episodes.items():
        assert task in SPACE.tasks
        assert task <= length <= task + 2, (episode_return, length, task)
        assert episode_return == task * length, (episode_return, length, task)
