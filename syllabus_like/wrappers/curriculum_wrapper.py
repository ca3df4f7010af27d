"""Feed an environment tasks from a curriculum (or a task-server client) and report back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from syllabus_like.validation import check_progress
from syllabus_like.wrappers.episode_scores import (
    TRAINER_EPISODE_KEY,
    EpisodeScore,
    FinishedEpisode,
    check_episode_score,
    checked_score_value,
)
from syllabus_like.wrappers.task_source import FollowsTaskSource
from syllabus_like.wrappers.task_wrapper import TaskWrapper

__all__ = ["EPISODE_METRICS_KEY", "CurriculumWrapper"]

#: The info key whose value, on an episode's last step, is reported with the episode as its
#: user metrics (a mapping of names to numbers; see ``SequentialCurriculum(custom_metrics=...)``).
EPISODE_METRICS_KEY = "curriculum_metrics"

_TASK_INFO_MODES = ("every_step", "reset", "none")


class CurriculumWrapper(FollowsTaskSource, gym.Wrapper):
    """Picks the next task at every reset and reports every finished episode.

    ``source`` is a :class:`~syllabus_like.Curriculum` in this process, or a
    task-server client: a :class:`~syllabus_like.wrappers.task_source.TaskSource`.

    The task is applied through a :class:`TaskWrapper` inside ``env`` when
    there is one (its ``apply_task``, which validates the task), otherwise through
    ``env.unwrapped.change_task(task)``. An explicit ``reset(options={"task": t})``
    wins over the curriculum. Each finished episode (terminated or truncated)
    is reported with its return, length, task and progress, taken from
    ``info["task_completion"]`` when the env provides it, and with the user
    metrics in ``info["curriculum_metrics"]`` (:data:`EPISODE_METRICS_KEY`) on
    its last step when the env (or a wrapper inside) puts them there. Step updates are sent
    in episodes that start while ``source.requires_step_updates`` is true (it
    is read at every reset, not at every step). An episode abandoned by
    an early ``reset()`` is not reported. Works under Gymnasium vector envs'
    autoreset, since every sub-env has its own wrapper. ``close()`` also closes
    a source that has a ``close()`` method: a task-server client then delivers
    the reports it still buffers (and reconnects if it is used again).

    ``task_info`` says where the task appears in the infos this wrapper
    returns: ``"none"`` (the default) in no info, so the wrapper adds nothing
    (read the task from ``env.task``, or ``envs.get_attr("task")`` in a vector
    env); ``"reset"`` puts ``info["task"]`` in every reset info, where
    Gymnasium puts what describes a new episode; ``"every_step"`` in every
    reset and step info. In a Gymnasium vector env a sub-env's reset info
    arrives with the step on which it autoresets, so with ``"reset"``
    ``infos["task"]`` (masked by ``infos["_task"]``) tells a training loop each
    new task. The choice is about speed: a vector env aggregates every info
    key of every sub-env on every step, which for an env as fast as CartPole
    costs about 10 % of the throughput for a key in every step and about 2 %
    for a key at every reset, whether the loop reads it or not (see
    ``docs/benchmarks.md``); so the task enters infos only when asked for.

    Wrappers compose: the env inside is stepped and reset through its own
    ``step`` / ``reset``, and an inner :class:`TaskWrapper` keeps its settings.
    One that writes ``info["task"]`` itself (its ``tags_infos``, on by
    default) has the key taken out where ``task_info`` leaves it out; build it
    with ``tags_infos=False`` to spare both the write and the removal.

    Evaluation: inside ``with env.evaluation():`` (or between
    ``env.set_evaluation(True)`` and ``env.set_evaluation(False)``) tasks are
    still drawn from the source, but no episode is reported to it: not the
    episode in progress when evaluation starts, nor any episode that starts
    during evaluation, even if it ends after evaluation stopped. For vector
    envs, call ``set_evaluation`` on every sub-env (``envs.call("set_evaluation",
    True)``), or use the helpers in :mod:`syllabus_like.integrations`.

    Scores (for the curricula that prioritise by a per-episode score, such as
    :class:`~syllabus_like.PrioritizedLevelReplay`) come from one of two places:

    * the episode alone: ``score=`` is a name in :data:`EPISODE_SCORES`
      (``"return"``, ``"negative_return"``, ``"success"``, ``"failure"``) or a
      callable ``(episode_return, episode_length, info) -> float``, ``info``
      being the last step's (so an env that computes its own score puts it
      there: ``score=lambda r, n, info: info["my_score"]``). Each report
      carries it, through every task-server backend.
    * the trainer, from the values and advantages it computed (positive value
      loss, MaxMC): while :meth:`set_trainer_scoring` is on, which the trainer
      integrations (:mod:`syllabus_like.integrations`) switch on themselves,
      the wrapper reports no episode; it puts each finished training episode,
      as a :class:`FinishedEpisode`, into its last step's info under
      :data:`TRAINER_EPISODE_KEY`, and the trainer reports it once, with its
      score, after the rollout that ended it.

    The two exclude each other: a wrapper with ``score=`` refuses trainer scoring.
    """

    def __init__(
        self,
        env: gym.Env,
        source: Any,
        *,
        env_id: int | None = None,
        task_info: str = "none",
        score: str | EpisodeScore | None = None,
    ) -> None:
        if task_info not in _TASK_INFO_MODES:
            raise ValueError(f"task_info must be one of {_TASK_INFO_MODES}, got {task_info!r}")
        self._score_fn = check_episode_score(score)
        self._init_source(env, source, TaskWrapper, gym.Wrapper)
        super().__init__(env)
        self.env_id = env_id
        self._score = score
        self._trainer_scoring = False
        self._task_info = task_info
        self._task_in_step_info = task_info == "every_step"
        # An inner task wrapper's tags_infos is fixed at its construction: where its key is removed, once.
        inner_tags = self._task_wrapper is not None and bool(self._task_wrapper.tags_infos)
        self._strip_step_task = inner_tags and not self._task_in_step_info
        self._strip_reset_task = inner_tags and task_info == "none"
        self._episode_return = 0.0
        self._episode_length = 0
        self._evaluating = False
        self._prepare_episode()

    def _prepare_episode(self) -> None:
        """Settle, once per episode, what every step of it does.

        Step updates are sent in this episode if the source asks for them now
        (and the episode is a training one); the step also has work when the
        task goes into its info, or an inner task wrapper's key comes out.
        """
        self._env_step = self.env.step  # the inner env's own step, looked up once per episode (hot path)
        self._reports_episode = not self._evaluating
        self._step_updates = self._reports_episode and bool(self.source.requires_step_updates)
        self._per_step_work = self._task_in_step_info or self._step_updates or self._strip_step_task

    @property
    def task_info(self) -> str:
        """Where the task appears in infos: ``"every_step"``, ``"reset"`` or ``"none"`` (fixed at construction)."""
        return self._task_info

    @property
    def score(self) -> str | EpisodeScore | None:
        """The ``score=`` this wrapper computes for each episode (a name, a callable, or None)."""
        return self._score

    @property
    def trainer_scoring(self) -> bool:
        """Whether finished training episodes go to the trainer (in their last info) instead of the source."""
        return self._trainer_scoring

    def set_trainer_scoring(self, enabled: bool) -> None:
        """Hand (True) each training episode that ends from now on to the trainer, or report it here (False).

        While on, an episode that ends is not reported to the source: its
        :class:`FinishedEpisode` goes into the last step's info under
        :data:`TRAINER_EPISODE_KEY`, and the trainer reports it with the score
        it computed. The trainer integrations call this; a loop that turns it
        on must report every episode it is handed. Evaluation episodes are
        never handed over (nor reported).
        """
        if not isinstance(enabled, (bool, np.bool_)):
            raise TypeError(f"set_trainer_scoring takes a bool, got {enabled!r}")
        if enabled and self._score is not None:
            raise ValueError(
                f"this CurriculumWrapper already scores each episode itself (score={self._score!r}); a trainer "
                "scoring the same episodes would score them twice: build the wrapper with score=None to let "
                "the trainer score, or do not ask the trainer for scores"
            )
        self._trainer_scoring = bool(enabled)

    @property
    def evaluating(self) -> bool:
        """Whether episodes started now are evaluation episodes, never reported to the source."""
        return self._evaluating

    def set_evaluation(self, evaluating: bool) -> None:
        """Start (True) or stop (False) evaluation; see the class docstring for which episodes it covers."""
        if not isinstance(evaluating, (bool, np.bool_)):
            raise TypeError(f"set_evaluation takes a bool, got {evaluating!r}")
        self._evaluating = bool(evaluating)
        if self._evaluating:  # the episode in progress is no longer a training episode
            self._prepare_episode()

    @contextmanager
    def evaluation(self) -> Iterator[CurriculumWrapper]:
        """``with env.evaluation(): ...`` plays episodes that are never reported to the source."""
        previous = self._evaluating
        self.set_evaluation(True)
        try:
            yield self
        finally:
            self.set_evaluation(previous)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if options and "task" in options and self._task_wrapper is None:
            self._check_explicit_task(options["task"])
        task, options = self._next_task(options)
        obs, info = self.env.reset(seed=seed, options=options)
        self.task = task
        self._episode_return = 0.0
        self._episode_length = 0
        self._prepare_episode()
        if self._task_info != "none":
            info["task"] = task
        elif self._strip_reset_task:
            info.pop("task", None)
        return obs, info

    def _check_explicit_task(self, task: Any) -> None:
        """Without a TaskWrapper to validate it, check an explicit task against the source's space (if it has one).

        Raises :class:`~syllabus_like.TaskSpaceError` here, at the reset, rather
        than when the episode's report reaches the curriculum.
        """
        task_space = getattr(self.source, "task_space", None)
        if task_space is not None:
            task_space.encode(task)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        result = self._env_step(action)  # (obs, reward, terminated, truncated, info)
        self._episode_return += float(result[1])
        self._episode_length += 1
        if self._per_step_work:
            self._step_extras(result)
        if (result[2] or result[3]) and self._reports_episode:
            self._report_episode(result[4])
        return result

    def _report_episode(self, info: dict) -> None:
        """Report the finished episode, with the env's ``info["curriculum_metrics"]`` when it has them,
        and its score when this wrapper computes one; or hand it to the trainer (trainer scoring)."""
        progress = info.get("task_completion", 0.0)
        if type(progress) is not float or not 0.0 <= progress <= 1.0:  # check_progress's own first test, inlined
            progress = check_progress(progress)
        metrics = info.get(EPISODE_METRICS_KEY)
        if self._trainer_scoring:
            info[TRAINER_EPISODE_KEY] = FinishedEpisode(
                self._episode_return, self._episode_length, self.task, progress, metrics, self.env_id
            )
        elif self._score_fn is not None:
            score = checked_score_value(self._score_fn(self._episode_return, self._episode_length, info), self._score)
            if metrics is None:
                self.source.update_on_episode(
                    self._episode_return, self._episode_length, self.task, progress, env_id=self.env_id, score=score
                )
            else:
                self.source.update_on_episode(
                    self._episode_return,
                    self._episode_length,
                    self.task,
                    progress,
                    env_id=self.env_id,
                    score=score,
                    metrics=metrics,
                )
        elif metrics is None:
            self.source.update_on_episode(
                self._episode_return, self._episode_length, self.task, progress, env_id=self.env_id
            )
        else:
            self.source.update_on_episode(
                self._episode_return, self._episode_length, self.task, progress, env_id=self.env_id, metrics=metrics
            )

    def _step_extras(self, result: tuple[Any, SupportsFloat, bool, bool, dict]) -> None:
        """The task into the step's info, and the step to the source, where asked for."""
        obs, reward, terminated, truncated, info = result
        if self._task_in_step_info:
            info["task"] = self.task
        elif self._strip_step_task:
            info.pop("task", None)
        if self._step_updates:
            progress = check_progress(info.get("task_completion", 0.0))
            self.source.update_on_step(
                self.task, obs, reward, terminated, truncated, info, progress, env_id=self.env_id
            )

    def close(self) -> None:
        """Close the source if it has a ``close()`` (a task-server client delivers the
        reports it still buffers, so none is lost), then the env."""
        try:
            close_source = getattr(self.source, "close", None)
            if callable(close_source):
                close_source()
        finally:
            super().close()
