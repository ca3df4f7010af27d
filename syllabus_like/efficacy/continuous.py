"""The continuous family: a parameterised reaching task with an infeasible region, Python curricula.

A task is ``(x, h)`` in the box ``[0, 1]^2``: reach the target ``a*(x) = 0.8 sin(2 pi x)``
with one continuous action, within a tolerance that shrinks with the
difficulty ``h``::

    success  iff  |a - a*(x)| < tol(h),   tol(h) = 0.45 (1 - h / 0.8)^2 + 0.02   for h <= 0.8

and never for ``h > 0.8``: a fifth of the space is infeasible (TeachMyAgent's
setting in miniature). The reward is the success (sparse). The learner is a
Gaussian policy ``N(w . phi(x), sigma^2)`` over 16 radial features of ``x``
with a learned ``sigma``, trained by REINFORCE on batches of 50 one-step
episodes (a batch-mean baseline): precise actions on hard tasks need a small
``sigma``, which only successes on tight tolerances teach. Each arm trains
for the same number of episodes and is scored by the expected success rate
of the stochastic policy on 64 held-out target tasks ``(x, 0.6)`` (``x``
drawn once, not on the grid below).

Arms: ``target`` (``h = 0.6``, ``x`` uniform), ``domain_randomization``
(uniform over the box), ``sequential`` (hand-made: ``h`` in [0, 0.2], then
[0.2, 0.4], [0.4, 0.6], then 0.6, a quarter of the budget each), ``plr``,
``learning_progress``, ``learnability`` (over a 10 x 10 grid of tasks; PLR's
score is ``|r - b|`` with ``b`` the task's running mean reward, a value
baseline), ``alp_gmm`` (over the box).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from syllabus_like.curricula import (
    ALPGMM,
    Curriculum,
    DomainRandomization,
    Learnability,
    LearningProgress,
    PrioritizedLevelReplay,
    SequentialCurriculum,
)
from syllabus_like.task_space import BoxTaskSpace, DiscreteTaskSpace

__all__ = ["ARMS", "tolerance", "train_and_evaluate"]

ARMS = ("target", "domain_randomization", "sequential", "plr", "learning_progress", "learnability", "alp_gmm")
TARGET_DIFFICULTY = 0.6
INFEASIBLE_ABOVE = 0.8
BATCH = 50
_CENTERS = np.linspace(0.0, 1.0, 16)
_EVALUATION_X = np.random.default_rng(12345).random(64)


def tolerance(difficulty: np.ndarray) -> np.ndarray:
    """How close an action must be to succeed; -1 (never) in the infeasible region."""
    feasible = difficulty <= INFEASIBLE_ABOVE
    return np.where(feasible, 0.45 * (1.0 - difficulty / INFEASIBLE_ABOVE) ** 2 + 0.02, -1.0)


def target_action(x: np.ndarray) -> np.ndarray:
    return 0.8 * np.sin(2.0 * np.pi * x)


def features(x: np.ndarray) -> np.ndarray:
    activations = np.exp(-(((x[:, None] - _CENTERS[None, :]) / 0.07) ** 2))
    return activations / activations.sum(axis=1, keepdims=True)


def make_curriculum(arm: str, seed: int) -> Curriculum:
    box = BoxTaskSpace([0.0, 0.0], [1.0, 1.0])
    grid = DiscreteTaskSpace([((i + 0.5) / 10, (j + 0.5) / 10) for i in range(10) for j in range(10)])
    if arm == "target":
        return DomainRandomization(BoxTaskSpace([0.0, TARGET_DIFFICULTY], [1.0, TARGET_DIFFICULTY]), seed=seed)
    if arm == "domain_randomization":
        return DomainRandomization(box, seed=seed)
    if arm == "plr":
        return PrioritizedLevelReplay(grid, seed=seed)
    if arm == "learning_progress":
        return LearningProgress(grid, seed=seed)
    if arm == "learnability":
        return Learnability(grid, top_k=10, seed=seed)
    if arm == "alp_gmm":
        return ALPGMM(box, fit_rate=250, max_components=6, outcome="return", outcome_range=(0.0, 1.0), seed=seed)
    raise ValueError(f"unknown continuous arm {arm!r}; choose from {ARMS}")


def make_sequential(seed: int, episodes: int) -> SequentialCurriculum:
    bands = [(0.0, 0.2), (0.2, 0.4), (0.4, TARGET_DIFFICULTY), (TARGET_DIFFICULTY, TARGET_DIFFICULTY)]
    stages = [
        DomainRandomization(BoxTaskSpace([0.0, low], [1.0, high]), seed=seed + i) for i, (low, high) in enumerate(bands)
    ]
    condition = f"episodes>={max(episodes // 4, 1)}"
    return SequentialCurriculum(stages, [condition] * 3, BoxTaskSpace([0.0, 0.0], [1.0, 1.0]), seed=seed)


def expected_success(weights: np.ndarray, log_sigma: float, x: np.ndarray, difficulty: float) -> float:
    """Mean over ``x`` of the probability that the stochastic policy succeeds at ``(x, difficulty)``."""
    sigma = math.exp(log_sigma)
    error = features(x) @ weights - target_action(x)
    tol = float(tolerance(np.array(difficulty)))
    if tol <= 0:
        return 0.0
    upper = (tol - error) / (sigma * math.sqrt(2.0))
    lower = (-tol - error) / (sigma * math.sqrt(2.0))
    return float(np.mean([0.5 * (math.erf(u) - math.erf(v)) for u, v in zip(upper, lower, strict=False)]))


def train_and_evaluate(arm: str, seed: int, episodes: int) -> float:
    """Train one arm with one seed for ``episodes`` one-step episodes; return its target success rate."""
    rng = np.random.default_rng(seed)
    curriculum = make_sequential(seed, episodes) if arm == "sequential" else make_curriculum(arm, seed)
    weights = np.zeros(len(_CENTERS))
    log_sigma = math.log(0.5)
    baselines: dict[Any, float] = {}  # per-task running mean reward (PLR's value baseline)
    for _ in range(max(episodes // BATCH, 1)):
        tasks = curriculum.sample(BATCH)
        points = np.array([np.asarray(task, np.float64).ravel() for task in tasks])
        x, difficulty = points[:, 0], points[:, 1]
        phi = features(x)
        mean = phi @ weights
        sigma = math.exp(log_sigma)
        actions = mean + sigma * rng.standard_normal(BATCH)
        rewards = (np.abs(actions - target_action(x)) < tolerance(difficulty)).astype(np.float64)
        advantages = rewards - rewards.mean()
        weights += 0.5 * (advantages * (actions - mean)) @ phi / BATCH
        log_sigma += 0.05 * float(np.mean(advantages * (((actions - mean) / sigma) ** 2 - 1.0)))
        log_sigma = max(log_sigma, math.log(0.005))
        for task, reward in zip(tasks, rewards.tolist(), strict=False):
            key = tuple(np.asarray(task, np.float64).ravel().tolist())
            baseline = baselines.get(key, 0.0)
            baselines[key] = baseline + 0.1 * (reward - baseline)
            curriculum.update_on_episode(reward, 1, task, reward, score=abs(reward - baseline))
    return expected_success(weights, log_sigma, _EVALUATION_X, TARGET_DIFFICULTY)
