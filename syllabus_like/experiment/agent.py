"""What a learning task needs from an agent: academia's ``Agent``, adapted to Gymnasium."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Agent", "SavableAgent"]


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
    PPO) train on :meth:`LearningTask.training_env`, whose wrapper gathers the
    statistics, and ask :meth:`LearningTask.should_stop` themselves.
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
