"""What a learning task needs from an agent: academia's ``Agent``, adapted to Gymnasium."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Agent", "LoopOwningAgent", "SavableAgent"]


@runtime_checkable
class Agent(Protocol):
    """An agent a :class:`~syllabus_like.experiment.LearningTask` can train and evaluate.

    ``get_action(obs, legal_mask=None, greedy=False)`` picks an action;
    ``legal_mask`` is the env's ``info["action_mask"]`` when it provides one
    (academia asked the env for ``get_legal_mask()``; Gymnasium envs put the
    mask in infos). ``update(obs, action, reward, next_obs, terminated,
    truncated)`` learns from one transition; academia's single ``is_terminal``
    is Gymnasium's two flags, since only ``terminated`` stops bootstrapping.

    Optional, looked up with ``getattr``: ``reset_exploration(value)`` (for a
    task's ``exploration_reset_value``), ``save(path) -> str`` (returns the
    path written; for ``agent_save_path`` and experiment output) and
    ``load(path)`` (restores *in place*, which is how an interrupted experiment
    resumes; academia's ``load`` is a classmethod returning a new agent, but the
    caller of ``Experiment.run`` holds the agent object, so it is restored
    where it is).

    Agents that own their training loop (Stable-Baselines3 models, the JAX
    PPO) are :class:`LoopOwningAgent` instead: they need no ``update``.
    """

    def get_action(self, obs: Any, legal_mask: Any = None, greedy: bool = False) -> Any: ...

    def update(
        self, obs: Any, action: Any, reward: float, next_obs: Any, terminated: bool, truncated: bool
    ) -> None: ...


@runtime_checkable
class SavableAgent(Agent, Protocol):
    """An :class:`Agent` that can also be saved and restored (needed to resume an experiment)."""

    def save(self, path: str) -> str: ...

    def load(self, path: str) -> None: ...


@runtime_checkable
class LoopOwningAgent(Protocol):
    """An agent that runs its own training loop (a Stable-Baselines3 model, a JAX trainer).

    :meth:`LearningTask.run` evaluates it with ``get_action`` as it does an
    :class:`Agent` (the initial evaluation included) and, instead of stepping
    the env itself, calls ``learn_task(task, env, seed=..., verbose=...)``
    once. ``env`` is ``task.training_env()``: the task's env (in its
    :class:`~syllabus_like.wrappers.CurriculumWrapper` when the task has a
    curriculum) inside the wrapper that records every finished episode in
    ``task.stats``. ``seed`` seeds the env's first reset (None: unseeded). The
    agent trains on ``env`` and, after each finished training episode, calls
    ``task.evaluate_if_due(self, verbose)`` and stops once
    ``task.should_stop()`` is True; the runner raises ``RuntimeError`` if
    ``learn_task`` returns before that. ``reset_exploration``, ``save`` and
    ``load`` are optional, as for :class:`Agent`.

    The runner recognises such an agent by its callable ``learn_task``
    attribute.
    """

    def get_action(self, obs: Any, legal_mask: Any = None, greedy: bool = False) -> Any: ...

    def learn_task(self, task: Any, env: Any, *, seed: int | None = None, verbose: int = 0) -> None: ...
