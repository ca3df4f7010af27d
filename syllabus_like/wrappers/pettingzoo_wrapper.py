"""Tasks and curricula for PettingZoo parallel environments (needs the ``pettingzoo`` extra).

The same split as the Gymnasium side:

* :class:`PettingZooTaskWrapper` applies a task at ``reset(options={"task": t})``
  through :meth:`~PettingZooTaskWrapper.change_task`;
* :class:`PettingZooCurriculumWrapper` pulls a task from a curriculum (or a
  task-server client) at every reset and reports each finished episode.

What an episode is, for a parallel env
--------------------------------------
An episode starts at ``reset()`` and ends on the first ``step()`` after which
no agent is live. An agent is live from the first step (or the reset) in
whose observations or rewards it appears until the step on which it is
terminated or truncated; for an env following the PettingZoo API this is the
step after which ``env.agents`` is empty. The episode's *length* is the number
of ``step()`` calls.

What return is reported
-----------------------
Each agent's return is the sum of the rewards it received during the episode
(undiscounted). The *team return* reported to the curriculum as
``update_on_episode(team_return, length, task, progress)`` is, by default,
the sum of the agents' returns:

    team_return = sum over agents a of sum over steps t of r_t[a]

``team_return="mean"`` divides that by the number of agents that took part;
a callable receives the dict of per-agent returns and returns the number.
Per-agent returns are never lost: on the episode's last step every agent's
info gets ``info[agent]["episode"] = {"return", "team_return", "agent_returns",
"length", "task"}``, the wrapper keeps :attr:`~PettingZooCurriculumWrapper.last_episode`,
and ``on_episode`` (if given) is called with the same :class:`ParallelEpisode`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

try:
    from pettingzoo.utils.env import ParallelEnv
    from pettingzoo.utils.wrappers import BaseParallelWrapper
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "syllabus_like.wrappers.pettingzoo_wrapper needs PettingZoo: pip install 'syllabus-like[pettingzoo]'"
    ) from error

from syllabus_like.task_space import TaskSpace
from syllabus_like.wrappers.episode_scores import EpisodeScore, check_episode_score, checked_score_value
from syllabus_like.wrappers.task_application import AppliesTasks
from syllabus_like.wrappers.task_source import FollowsTaskSource

__all__ = ["ParallelEpisode", "PettingZooCurriculumWrapper", "PettingZooTaskWrapper"]

_TEAM_RETURNS = ("sum", "mean")


@dataclass(frozen=True)
class ParallelEpisode:
    """One finished episode of a parallel env, as reported to the curriculum."""

    task: Any
    #: Undiscounted return of each agent that took part.
    agent_returns: dict[Any, float]
    #: The number reported to the curriculum (see the module docstring).
    team_return: float
    #: Number of parallel ``step()`` calls.
    length: int
    #: ``info["task_completion"]`` on the last step, averaged over agents that gave it; else 0.
    progress: float
    #: The score reported with the episode (the wrapper's ``score=``), or None when it computes none.
    score: float | None = None


def _tag_infos(infos: dict, task: Any) -> None:
    for info in infos.values():
        if isinstance(info, dict):
            info["task"] = task


class PettingZooTaskWrapper(AppliesTasks, BaseParallelWrapper):
    """Applies tasks from ``task_space`` to a PettingZoo ``ParallelEnv`` at reset.

    ``reset(options={"task": task})`` checks ``task`` against ``task_space``
    (a :class:`TaskSpaceError` names both when it does not belong), hands it
    to :meth:`change_task` and resets the env; without a ``"task"`` option the
    current task is kept. Every agent's info on ``reset`` and ``step`` carries
    ``info[agent]["task"]``.

    Subclass and override :meth:`change_task` for envs that do not know about
    tasks; by default it calls ``env.unwrapped.change_task(task)``.
    """

    _subclass_hint = "PettingZooTaskWrapper"

    def __init__(self, env: ParallelEnv, task_space: TaskSpace) -> None:
        if not isinstance(env, ParallelEnv):
            raise TypeError(f"{type(self).__name__} wraps a pettingzoo ParallelEnv, got {env!r}")
        self._init_tasks(task_space)
        super().__init__(env)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        options = self._apply_task_option(options)
        observations, infos = self.env.reset(seed=seed, options=options)
        if self.tags_infos:
            _tag_infos(infos, self.task)
        return observations, infos

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        if self.tags_infos:
            _tag_infos(infos, self.task)
        return observations, rewards, terminations, truncations, infos


class PettingZooCurriculumWrapper(FollowsTaskSource, BaseParallelWrapper):
    """Picks the next task at every reset of a parallel env and reports every finished episode.

    ``source`` is a :class:`~syllabus_like.Curriculum` in this process, or a
    task-server client (anything with ``sample``, ``update_on_episode``,
    ``update_on_step`` and ``requires_step_updates``).

    The task is applied through a :class:`PettingZooTaskWrapper` inside ``env``
    when there is one (its ``apply_task``, which validates the task), otherwise through
    ``env.unwrapped.change_task(task)``. An explicit ``reset(options={"task": t})``
    wins over the curriculum. An episode abandoned by an early ``reset()`` is
    not reported.

    See the module docstring for when an episode ends and which return is
    reported (``team_return``: ``"sum"`` (default), ``"mean"``, or a callable
    on the dict of per-agent returns). ``progress`` is the mean of
    ``info[agent]["task_completion"]`` over the agents whose info has it on
    the step (0 when none does).

    While ``source.requires_step_updates`` is true, every step is reported as
    ``update_on_step(task, observations, team_reward, terminated, truncated,
    infos, progress)``: ``team_reward`` is the step's rewards summed over
    agents (or reduced like ``team_return``), and ``terminated`` / ``truncated``
    are False until the episode's last step, on which ``truncated`` is True if
    any agent finishing on that step was truncated and ``terminated`` is True
    otherwise.

    ``score`` gives each episode a score for the curricula that prioritise by
    one (PrioritizedLevelReplay): a name in
    :data:`~syllabus_like.wrappers.episode_scores.EPISODE_SCORES` or a callable
    ``(team_return, length, info) -> float``, where ``info`` holds
    ``"task_completion"`` (the episode's ``progress``) and ``"agent_infos"``
    (the last step's per-agent infos). As for
    :class:`~syllabus_like.wrappers.CurriculumWrapper`, ``"success"`` is the
    progress and ``"return"`` the team return.
    """

    def __init__(
        self,
        env: ParallelEnv,
        source: Any,
        *,
        team_return: Literal["sum", "mean"] | Callable[[Mapping[Any, float]], float] = "sum",
        on_episode: Callable[[ParallelEpisode], None] | None = None,
        env_id: int | None = None,
        score: str | EpisodeScore | None = None,
    ) -> None:
        if not isinstance(env, ParallelEnv):
            raise TypeError(f"{type(self).__name__} wraps a pettingzoo ParallelEnv, got {env!r}")
        self._score_fn = check_episode_score(score)
        self._init_source(env, source, PettingZooTaskWrapper, BaseParallelWrapper)
        if not callable(team_return) and team_return not in _TEAM_RETURNS:
            raise ValueError(
                f"team_return must be one of {_TEAM_RETURNS} or a callable on the per-agent returns, "
                f"got {team_return!r}"
            )
        if on_episode is not None and not callable(on_episode):
            raise TypeError(f"on_episode must be a callable taking a ParallelEpisode, got {on_episode!r}")
        super().__init__(env)
        self.team_return = team_return
        self.on_episode = on_episode
        self.env_id = env_id
        #: The ``score=`` this wrapper computes for each episode (a name, a callable, or None).
        self.score = score
        #: Returns so far of the agents in the current episode.
        self.agent_returns: dict[Any, float] = {}
        #: The last finished episode, or None before the first one.
        self.last_episode: ParallelEpisode | None = None
        self._length = 0
        self._live: set = set()
        self._finished: set = set()
        self._episode_open = False

    def _reduce(self, values: Mapping[Any, float]) -> float:
        if callable(self.team_return):
            return float(self.team_return(values))
        total = float(sum(values.values()))
        if self.team_return == "mean":
            return total / len(values) if values else 0.0
        return total

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        task, options = self._next_task(options)
        observations, infos = self.env.reset(seed=seed, options=options)
        self.task = task
        _tag_infos(infos, task)
        self.agent_returns = {}
        self._length = 0
        self._live = set(observations) | set(self.env.agents)
        self._finished = set()
        self._episode_open = True
        return observations, infos

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        if not self._episode_open:
            raise RuntimeError(
                f"{type(self).__name__}.step() called before reset() or after the episode ended; call reset()"
            )
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        _tag_infos(infos, self.task)
        self._length += 1
        for agent, reward in rewards.items():
            self.agent_returns[agent] = self.agent_returns.get(agent, 0.0) + float(reward)
        self._live |= (set(observations) | set(rewards)) - self._finished
        ending = {agent for agent in self._live if terminations.get(agent, False) or truncations.get(agent, False)}
        self._finished |= ending
        self._live -= ending
        episode_over = not self._live

        completions = [
            float(info["task_completion"])
            for info in infos.values()
            if isinstance(info, dict) and "task_completion" in info
        ]
        progress = sum(completions) / len(completions) if completions else 0.0

        if self.source.requires_step_updates:
            truncated = episode_over and any(truncations.get(agent, False) for agent in ending)
            terminated = episode_over and not truncated
            self.source.update_on_step(
                self.task,
                observations,
                self._reduce({agent: float(r) for agent, r in rewards.items()}),
                terminated,
                truncated,
                infos,
                progress,
                env_id=self.env_id,
            )
        if episode_over:
            self._finish_episode(infos, progress)
        return observations, rewards, terminations, truncations, infos

    def _finish_episode(self, infos: dict, progress: float) -> None:
        self._episode_open = False
        agent_returns = dict(self.agent_returns)
        team_return = self._reduce(agent_returns)
        score = None
        if self._score_fn is not None:
            info = {"task_completion": progress, "agent_infos": infos}
            score = checked_score_value(self._score_fn(team_return, self._length, info), self.score)
        episode = ParallelEpisode(
            task=self.task,
            agent_returns=agent_returns,
            team_return=team_return,
            length=self._length,
            progress=progress,
            score=score,
        )
        self.last_episode = episode
        for agent, info in infos.items():
            if isinstance(info, dict):
                info["episode"] = {
                    "return": agent_returns.get(agent, 0.0),
                    "team_return": episode.team_return,
                    "agent_returns": agent_returns,
                    "length": episode.length,
                    "task": episode.task,
                }
        extras = {} if score is None else {"score": score}  # sources that take no score never see the keyword
        self.source.update_on_episode(
            episode.team_return, episode.length, episode.task, episode.progress, env_id=self.env_id, **extras
        )
        if self.on_episode is not None:
            self.on_episode(episode)
