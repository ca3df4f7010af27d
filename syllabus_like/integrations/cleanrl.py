"""Helpers for hand-written (CleanRL-style) training loops over Gymnasium vector envs.

A CleanRL loop builds its envs from thunks, steps them in a ``for`` loop and
logs from ``infos``. These helpers fit that shape without hiding it:

* :func:`curriculum_env_fns`: the thunks, each env wrapped in a
  :class:`~syllabus_like.wrappers.CurriculumWrapper` (and Gymnasium's
  ``RecordEpisodeStatistics``), for ``SyncVectorEnv`` (a curriculum in this
  process) or ``AsyncVectorEnv`` (a :class:`~syllabus_like.server.TaskServer`'s
  clients);
* :class:`TaskTracker`: each sub-env's current task as an array, kept up to
  date from the infos the loop already receives (no extra round trip to the
  workers); :func:`current_tasks` asks the sub-envs instead;
* :func:`step_batch`: one vector step as the list
  ``Curriculum.update_on_step_batch`` takes, for curricula that learn from
  steps in the trainer;
* :func:`finished_episodes`: ``(env index, return, length)`` of the episodes a
  step finished, from ``RecordEpisodeStatistics``;
* :func:`evaluation`: a block whose episodes are never reported to the curriculum;
* :class:`EpisodeScorer`: per-episode scores (positive value loss, MaxMC)
  from the loop's values and advantages, reported with each episode, for
  curricula that need them (``PrioritizedLevelReplay``).

Only Gymnasium and numpy are needed (no trainer package); see
``examples/cleanrl_ppo_curriculum.py`` for a torch PPO using them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np

from syllabus_like.curricula import Curriculum
from syllabus_like.integrations.scores import RolloutScorer, ScoredEpisode, check_trainer_score, report_scored
from syllabus_like.server import TaskServer
from syllabus_like.task_space import TaskSpace
from syllabus_like.wrappers import CurriculumWrapper
from syllabus_like.wrappers.episode_scores import EpisodeScore, check_episode_score

__all__ = [
    "EpisodeScorer",
    "TaskTracker",
    "current_tasks",
    "curriculum_env_fns",
    "evaluation",
    "finished_episodes",
    "step_batch",
]


def curriculum_env_fns(
    env: str | Callable[..., gym.Env],
    source: Curriculum | TaskServer,
    num_envs: int,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    task_info: str = "reset",
    record_episode_statistics: bool = True,
    score: str | EpisodeScore | None = None,
) -> list[Callable[[], gym.Env]]:
    """``num_envs`` thunks building ``env`` fed by ``source``, for a Gymnasium vector env.

    ``source`` is a :class:`~syllabus_like.Curriculum` (for ``SyncVectorEnv``:
    the envs report to it directly) or a :class:`~syllabus_like.server.TaskServer`
    (each thunk gets its own ``server.client()``; use ``backend="process"``
    with ``AsyncVectorEnv``). ``env`` is an env id or a factory called with
    ``env_kwargs``. Env ``i`` is ``CurriculumWrapper(env, source, env_id=i,
    task_info=task_info)`` inside ``RecordEpisodeStatistics`` (unless
    ``record_episode_statistics=False``). ``task_info="reset"`` (the default
    here) lets a :class:`TaskTracker` follow each sub-env's task from infos.
    ``score`` is each wrapper's per-episode score from the episode alone
    (``CurriculumWrapper(score=...)``); leave it None when an
    :class:`EpisodeScorer` computes scores in the loop.
    """
    if not (isinstance(env, str) or callable(env)):
        raise TypeError(f"env must be a Gymnasium env id or a callable returning an env, got {env!r}")
    if not isinstance(source, (Curriculum, TaskServer)):
        raise TypeError(f"source must be a Curriculum or a TaskServer, got {source!r}")
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        raise TypeError(f"env_kwargs must be a mapping of keyword arguments, got {env_kwargs!r}")
    check_episode_score(score)
    return [
        _EnvThunk(
            env,
            dict(env_kwargs or {}),
            source.client() if isinstance(source, TaskServer) else source,
            index,
            task_info,
            record_episode_statistics,
            score,
        )
        for index in range(num_envs)
    ]


class _EnvThunk:
    """Builds one sub-env (a module-level class, so it pickles into AsyncVectorEnv workers)."""

    def __init__(
        self,
        env: Any,
        env_kwargs: dict[str, Any],
        source: Any,
        index: int,
        task_info: str,
        record: bool,
        score: Any = None,
    ) -> None:
        self.env, self.env_kwargs, self.source = env, env_kwargs, source
        self.index, self.task_info, self.record, self.score = index, task_info, record, score

    def __call__(self) -> gym.Env:
        if isinstance(self.env, str):
            import syllabus_like.envs  # noqa: F401  (registers the library's env ids in this process)

            env = gym.make(self.env, **self.env_kwargs)
        else:
            env = self.env(**self.env_kwargs)
        env = CurriculumWrapper(env, self.source, env_id=self.index, task_info=self.task_info, score=self.score)
        return gym.wrappers.RecordEpisodeStatistics(env) if self.record else env


def current_tasks(envs: gym.vector.VectorEnv, task_space: TaskSpace | None = None) -> np.ndarray:
    """Each sub-env's current task, asked from the sub-envs (one round trip for an AsyncVectorEnv).

    With ``task_space``, the tasks' encodings (ints for finite spaces) as an
    int array; without, the tasks themselves (an object array unless they are numbers).
    """
    tasks = envs.get_attr("task")
    if task_space is not None:
        return np.array([task_space.encode(task) for task in tasks])
    return _as_array(list(tasks))


class TaskTracker:
    """Follows each sub-env's current task from the infos of a vector env built with ``task_info="reset"``.

    Call :meth:`update` with the infos of ``envs.reset()`` and of every
    ``envs.step()``; :attr:`tasks` is then each sub-env's current task (the
    one whose episode its last observation belongs to), and
    :attr:`encoded` its encoding when a ``task_space`` is given. A sub-env's
    reset info arrives with the step that autoresets it, so no extra call to
    the workers is needed.
    """

    def __init__(self, num_envs: int, task_space: TaskSpace | None = None) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        self.task_space = task_space
        self._tasks: list[Any] = [None] * num_envs

    @property
    def tasks(self) -> np.ndarray:
        return _as_array(self._tasks)

    @property
    def encoded(self) -> np.ndarray:
        if self.task_space is None:
            raise ValueError("TaskTracker(num_envs, task_space) needs the task space to encode tasks")
        if any(task is None for task in self._tasks):
            raise ValueError("TaskTracker has not seen every sub-env's task yet: call update(infos) after reset()")
        return np.array([self.task_space.encode(task) for task in self._tasks])

    def update(self, infos: Mapping[str, Any]) -> np.ndarray:
        """Take the new tasks announced in ``infos``; return :attr:`tasks`."""
        if "task" not in infos:
            if all(task is None for task in self._tasks):
                raise KeyError(
                    "no 'task' in the vector env's infos: build the envs with task_info='reset' "
                    "(curriculum_env_fns does by default)"
                )
            return self.tasks
        mask = np.asarray(infos["_task"], dtype=bool)
        for index in np.flatnonzero(mask):
            self._tasks[index] = _item(infos["task"], int(index))
        return self.tasks


def _item(batched: Any, index: int) -> Any:
    """Sub-env ``index``'s entry of a Gymnasium-aggregated info value (dicts are aggregated per key,
    each with its ``_key`` mask beside it)."""
    if isinstance(batched, Mapping):
        return {key: _item(value, index) for key, value in batched.items() if not key.startswith("_")}
    value = batched[index]
    return value.item() if isinstance(value, np.generic) else value


def _as_array(tasks: Sequence[Any]) -> np.ndarray:
    if all(isinstance(task, (int, float, np.number)) and not isinstance(task, bool) for task in tasks):
        return np.asarray(tasks)
    array = np.empty(len(tasks), dtype=object)
    array[:] = list(tasks)
    return array


def step_batch(
    tasks: Sequence[Any],
    observations: Any,
    rewards: np.ndarray,
    terminations: np.ndarray,
    truncations: np.ndarray,
    infos: Mapping[str, Any],
) -> list[tuple]:
    """One vector step as ``[(task, obs, reward, terminated, truncated, info), ...]`` (one tuple per sub-env).

    Pass it to ``curriculum.update_on_step_batch`` (or a server's
    ``server.curriculum.update_on_step_batch``) to report a whole step at
    once from the trainer. ``tasks`` are the tasks the sub-envs played on this
    step (a :class:`TaskTracker`'s ``tasks`` before its update with this
    step's infos). Each sub-env's info is rebuilt from the aggregated ``infos``
    (only the keys present for that sub-env).
    """
    num_envs = len(tasks)
    for name, values in (("rewards", rewards), ("terminations", terminations), ("truncations", truncations)):
        if len(values) != num_envs:
            raise ValueError(f"step_batch got {num_envs} tasks but {len(values)} {name}")
    return [
        (
            tasks[index],
            observations[index],
            float(rewards[index]),
            bool(terminations[index]),
            bool(truncations[index]),
            _sub_env_info(infos, index),
        )
        for index in range(num_envs)
    ]


def _sub_env_info(infos: Mapping[str, Any], index: int) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if mask is None or bool(np.asarray(mask)[index]):
            info[key] = _item(value, index)
    return info


def finished_episodes(infos: Mapping[str, Any]) -> list[tuple[int, float, int]]:
    """``(env index, return, length)`` of each episode that ended on this step (``RecordEpisodeStatistics`` infos)."""
    if "episode" not in infos:
        return []
    episode = infos["episode"]
    mask = np.asarray(infos["_episode"], dtype=bool)
    return [(int(index), float(episode["r"][index]), int(episode["l"][index])) for index in np.flatnonzero(mask)]


@contextmanager
def evaluation(envs: gym.vector.VectorEnv) -> Iterator[gym.vector.VectorEnv]:
    """Within the block, no episode of ``envs``' CurriculumWrappers is reported to the curriculum.

    The vector form of :meth:`CurriculumWrapper.evaluation
    <syllabus_like.wrappers.CurriculumWrapper.evaluation>`: episodes in
    progress when the block starts and episodes started inside it are never
    reported. After the block the sub-envs evaluate again only if all of
    them did before (a Gymnasium ``call`` reaches every sub-env alike).
    """
    previous = envs.get_attr("evaluating")
    envs.call("set_evaluation", True)
    try:
        yield envs
    finally:
        envs.call("set_evaluation", all(previous))


class EpisodeScorer:
    """Per-episode scores (positive value loss, MaxMC) computed in a CleanRL loop and reported with each episode.

    For curricula that need a score (``PrioritizedLevelReplay``). Built on a
    vector env from :func:`curriculum_env_fns`, it switches the
    sub-envs' :class:`~syllabus_like.wrappers.CurriculumWrapper` to hand each
    finished training episode over in its last step's info instead of
    reporting it (:meth:`~syllabus_like.wrappers.CurriculumWrapper.set_trainer_scoring`);
    the loop passes each step's infos to :meth:`record_step` and, once it
    has the advantages, the rollout's arrays to :meth:`end_rollout`, which
    reports every episode that ended in the rollout once, with its score, to
    ``curriculum`` (the :class:`~syllabus_like.Curriculum`, or
    ``server.curriculum`` for a task server), and returns them.
    Formulas and the handling of episodes that span rollouts:
    :mod:`syllabus_like.integrations.scores`. In a CleanRL PPO loop::

        scorer = EpisodeScorer(envs, curriculum)            # after building envs
        for step in range(num_steps):
            ...
            dones[step] = next_done                          # CleanRL's episode starts
            next_obs, reward, terminations, truncations, infos = envs.step(action)
            next_done = np.logical_or(terminations, truncations)
            scorer.record_step(step, infos)
        ...                                                  # advantages computed (GAE)
        scorer.end_rollout(advantages, values, dones, next_done)

    ``close()`` (or leaving a ``with`` block) hands the episodes back to the
    wrappers, which then report them without a score.

    Under Gymnasium's default ``AutoresetMode.NEXT_STEP`` the step after an
    episode's end only resets the sub-env; a loop that stores it (as CleanRL
    does) has it scored as the first step of the next episode. With
    ``autoreset_mode=SAME_STEP`` there is no such step (the last step's info,
    under ``infos["final_info"]``, is read all the same).
    """

    def __init__(self, envs: gym.vector.VectorEnv, curriculum: Any, *, score: str = "positive_value_loss") -> None:
        scorer = RolloutScorer(envs.num_envs, check_trainer_score(score))
        if not callable(getattr(curriculum, "update_on_episode", None)):
            raise TypeError(f"curriculum must be a Curriculum or a server's curriculum, got {curriculum!r}")
        self.envs = envs
        self.curriculum = curriculum
        self._scorer = scorer
        try:
            envs.call("set_trainer_scoring", True)
        except AttributeError as error:
            raise TypeError(
                f"EpisodeScorer needs sub-envs wrapped in a CurriculumWrapper (curriculum_env_fns builds them); "
                f"{envs!r} has none ({error})"
            ) from error

    @property
    def score(self) -> str:
        """The score computed: ``"positive_value_loss"`` or ``"max_mc"``."""
        return self._scorer.score

    def record_step(self, step: int, infos: Mapping[str, Any]) -> None:
        """Take the episodes handed over on rollout step ``step`` (its index in the rollout) from ``infos``."""
        self._scorer.record_step(step, infos)

    def end_rollout(self, advantages: Any, values: Any, dones: Any, next_done: Any) -> list[ScoredEpisode]:
        """Score and report every episode handed over in this rollout; return them, in the order they ended.

        ``advantages``, ``values`` and ``dones`` are the loop's
        ``(num_steps, num_envs)`` buffers (``dones[t]``: step ``t``'s observation
        began an episode, as CleanRL keeps it); ``next_done`` whether the last
        step ended one. Torch tensors on the CPU work as they are.
        """
        scored = self._scorer.end_rollout(advantages, values, dones, next_done)
        report_scored(self.curriculum, scored)
        return scored

    def close(self) -> None:
        """Stop scoring: the wrappers report their episodes themselves again."""
        self.envs.call("set_trainer_scoring", False)

    def __enter__(self) -> EpisodeScorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
