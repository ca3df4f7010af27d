"""Stable-Baselines3 integration: a vec env fed by a curriculum, and a callback that logs it.

Needs the ``sb3`` extra (``pip install "syllabus-like[sb3]"``: stable-baselines3
and torch). PPO on the gridworld family with a SequentialCurriculum over 8
subprocesses::

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import SubprocVecEnv
    from syllabus_like import DiscreteTaskSpace, DomainRandomization, SequentialCurriculum
    from syllabus_like.integrations.sb3 import CurriculumCallback, make_curriculum_vec_env

    space = DiscreteTaskSpace(5)
    curriculum = SequentialCurriculum([0, 1, 2, DomainRandomization(space)],
                                      ["episode_return>0.8"] * 3, space)
    envs = make_curriculum_vec_env("syllabus_like/GridCrossing-v0", curriculum, 8, vec_env_cls=SubprocVecEnv)
    model = PPO("MlpPolicy", envs).learn(200_000, callback=CurriculumCallback())
    envs.close()

Evaluation episodes never feed the curriculum: ``with envs.evaluation():
evaluate_policy(model, envs)``. For a curriculum that needs per-episode
scores (``PrioritizedLevelReplay``), the callback computes them from PPO's
or A2C's rollout buffer (positive value loss by default, or MaxMC) and
reports each episode once, with its score, after the rollout that ended it;
or the wrappers score episodes alone: ``make_curriculum_vec_env(..., score="failure")``. The callback can also stop ``model.learn``
when a condition over the curriculum's metrics holds, so a caller can train in
chunks (``learn(..., reset_num_timesteps=False)``) until it does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

try:
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecEnvWrapper
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'syllabus_like.integrations.sb3 needs Stable-Baselines3 and torch: pip install "syllabus-like[sb3]"'
    ) from error

import gymnasium as gym

from syllabus_like.conditions import Condition, parse_condition
from syllabus_like.curricula import Curriculum
from syllabus_like.integrations.sb3_agent import SB3Agent
from syllabus_like.integrations.scores import RolloutScorer, check_trainer_score, report_scored
from syllabus_like.integrations.worker_errors import PIPE_ERRORS, RecordsWorkerErrors, WorkerErrorDrop
from syllabus_like.server import TaskServer
from syllabus_like.wrappers import CurriculumWrapper
from syllabus_like.wrappers.episode_scores import EpisodeScore, check_episode_score

__all__ = [
    "CurriculumCallback",
    "CurriculumVecEnv",
    "SB3Agent",
    "curriculum_evaluation",
    "find_curriculum",
    "make_curriculum_vec_env",
]

EnvSpec = str | Callable[..., gym.Env]


def make_curriculum_vec_env(
    env: EnvSpec,
    curriculum: Curriculum,
    n_envs: int = 1,
    *,
    vec_env_cls: type[VecEnv] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    seed: int | None = None,
    vec_env_kwargs: Mapping[str, Any] | None = None,
    score: str | EpisodeScore | None = None,
) -> CurriculumVecEnv:
    """``n_envs`` copies of ``env`` playing tasks from ``curriculum``, as an SB3 vec env.

    Args:
        env: a Gymnasium env id (``"syllabus_like/GridCrossing-v0"``) or a
            factory returning a new env. Tasks reach it as
            :class:`~syllabus_like.wrappers.CurriculumWrapper` applies them: the
            env has a ``change_task(task)`` method or a TaskWrapper inside.
        curriculum: the :class:`~syllabus_like.Curriculum` choosing the tasks.
        n_envs: how many envs (a positive int).
        vec_env_cls: ``DummyVecEnv`` (the default: envs in this process,
            reporting to the curriculum directly) or ``SubprocVecEnv`` (one
            process per env, served by a ``"process"``
            :class:`~syllabus_like.server.TaskServer`), or a subclass of either.
        env_kwargs: keyword arguments for ``gym.make`` or the factory.
        seed: seeds env ``i`` with ``seed + i`` at the first reset (and its
            action space), as SB3's ``make_vec_env`` does.
        vec_env_kwargs: keyword arguments for ``vec_env_cls`` (e.g. ``start_method``).
        score: each wrapper's per-episode score from the episode alone
            (``CurriculumWrapper(score=...)``: ``"return"``, ``"negative_return"``,
            ``"success"``, ``"failure"`` or a callable ``(episode_return,
            episode_length, info) -> float``). Leave None to let
            :class:`CurriculumCallback` compute scores from the rollouts.

    Each env is wrapped in ``CurriculumWrapper(env, source, env_id=i)`` and
    SB3's ``Monitor`` (so SB3 logs episode returns). The result's
    ``.curriculum`` is the live curriculum (for ``SubprocVecEnv``, the
    server's lock-guarded view), and ``close()`` closes the envs, then the
    server. An env that raises inside a ``SubprocVecEnv`` worker surfaces as
    its own exception in this process, with the worker's traceback as cause.
    """
    if not isinstance(curriculum, Curriculum):
        raise TypeError(f"make_curriculum_vec_env needs a Curriculum as curriculum, got {curriculum!r}")
    if not (isinstance(env, str) or callable(env)):
        raise TypeError(f"env must be a Gymnasium env id or a callable returning an env, got {env!r}")
    if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
        raise ValueError(f"n_envs must be a positive int, got {n_envs!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        raise TypeError(f"env_kwargs must be a mapping of keyword arguments, got {env_kwargs!r}")
    check_episode_score(score)  # here, not in every worker
    vec_env_cls = DummyVecEnv if vec_env_cls is None else vec_env_cls
    if not (isinstance(vec_env_cls, type) and issubclass(vec_env_cls, (DummyVecEnv, SubprocVecEnv))):
        raise TypeError(f"vec_env_cls must be DummyVecEnv, SubprocVecEnv or a subclass of one, got {vec_env_cls!r}")
    in_process = issubclass(vec_env_cls, DummyVecEnv)

    server = None if in_process else TaskServer(curriculum, backend="process")
    drop = None if in_process else WorkerErrorDrop()
    try:
        factories = [
            _CurriculumEnvFactory(
                env,
                dict(env_kwargs or {}),
                curriculum if server is None else server.client(),
                rank,
                None if seed is None else seed + rank,
                drop,
                score,
            )
            for rank in range(n_envs)
        ]
        try:
            venv = vec_env_cls(factories, **dict(vec_env_kwargs or {}))
        except PIPE_ERRORS as pipe_error:
            if drop is not None:
                drop.raise_recorded(pipe_error)
            raise
    except BaseException:
        if server is not None:
            server.close()
        if drop is not None:
            drop.remove()
        raise
    if seed is not None:
        venv.seed(seed)
    return CurriculumVecEnv(venv, curriculum if server is None else server.curriculum, server, drop)


class _CurriculumEnvFactory:
    """Builds env ``rank``: the user's env, a CurriculumWrapper on ``source``, SB3's Monitor.

    A module-level class so it pickles for worker processes (``source`` is then
    a task-server client). With a ``drop``, exceptions at construction, reset
    and step are recorded for the trainer before they end the worker.
    """

    def __init__(
        self,
        env: EnvSpec,
        env_kwargs: dict[str, Any],
        source: Any,
        rank: int,
        seed: int | None,
        drop: WorkerErrorDrop | None,
        score: str | EpisodeScore | None = None,
    ) -> None:
        self.env, self.env_kwargs, self.source = env, env_kwargs, source
        self.rank, self.seed, self.drop, self.score = rank, seed, drop, score

    def __call__(self) -> gym.Env:
        try:
            return self._build()
        except Exception as error:
            if self.drop is not None:
                self.drop.record(self.rank, error)
            raise

    def _build(self) -> gym.Env:
        if isinstance(self.env, str):
            import syllabus_like.envs  # noqa: F401  (registers the library's env ids in this process)

            env = gym.make(self.env, **self.env_kwargs)
        else:
            env = self.env(**self.env_kwargs)
            if not isinstance(env, gym.Env):
                raise TypeError(f"the env factory {self.env!r} returned {env!r}, not a gymnasium.Env")
        env = Monitor(CurriculumWrapper(env, self.source, env_id=self.rank, score=self.score))
        if self.seed is not None:
            env.action_space.seed(self.seed)
        if self.drop is not None:
            env = RecordsWorkerErrors(env, self.drop, self.rank)
        return env


class CurriculumVecEnv(VecEnvWrapper):
    """An SB3 vec env whose envs play a curriculum's tasks (what :func:`make_curriculum_vec_env` returns).

    ``curriculum`` is the live curriculum; ``server`` the task server behind
    worker processes (None for envs in this process). :meth:`evaluation`
    plays episodes that are never reported. ``close()`` closes the envs (their
    clients deliver what they still buffer), then the server.
    """

    def __init__(self, venv: VecEnv, curriculum: Any, server: TaskServer | None, drop: WorkerErrorDrop | None) -> None:
        super().__init__(venv)
        self.curriculum = curriculum
        self.server = server
        self._drop = drop
        self._closed = False

    def reset(self) -> Any:
        return self._surfacing_worker_errors(self.venv.reset)

    def step_async(self, actions: Any) -> None:
        self._surfacing_worker_errors(self.venv.step_async, actions)

    def step_wait(self) -> Any:
        return self._surfacing_worker_errors(self.venv.step_wait)

    def evaluation(self) -> Any:
        """``with envs.evaluation(): ...``: episodes played inside are never reported to the curriculum."""
        return curriculum_evaluation(self)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            try:
                self.venv.close()
            except PIPE_ERRORS:  # a worker already died: its exception was raised before
                for process in getattr(self.venv, "processes", []):
                    process.terminate()
                    process.join()
        finally:
            try:
                if self.server is not None:
                    self.server.close()
            finally:
                if self._drop is not None:
                    self._drop.remove()

    def _surfacing_worker_errors(self, call: Callable[..., Any], *args: Any) -> Any:
        if self._drop is None:
            return call(*args)
        try:
            return call(*args)
        except PIPE_ERRORS as pipe_error:
            self._drop.raise_recorded(pipe_error)
            raise


@contextmanager
def curriculum_evaluation(vec_env: VecEnv) -> Iterator[VecEnv]:
    """Within the block, no episode of ``vec_env``'s CurriculumWrappers is reported to the curriculum.

    Works on any SB3 vec env whose sub-envs have a
    :class:`~syllabus_like.wrappers.CurriculumWrapper` (through ``env_method``,
    so also across processes). As with ``CurriculumWrapper.evaluation()``, the
    episodes in progress when the block starts, and those that start inside
    it, are never reported; each env's previous setting is restored after.
    """
    previous = vec_env.get_attr("evaluating")
    vec_env.env_method("set_evaluation", True)
    try:
        yield vec_env
    finally:
        for index, was_evaluating in enumerate(previous):
            vec_env.env_method("set_evaluation", bool(was_evaluating), indices=[index])


def find_curriculum(vec_env: VecEnv) -> Any:
    """The ``curriculum`` of ``vec_env`` or of a vec env it wraps; None if there is none."""
    while vec_env is not None:
        if isinstance(vec_env, CurriculumVecEnv):
            return vec_env.curriculum
        vec_env = getattr(vec_env, "venv", None)
    return None


class CurriculumCallback(BaseCallback):
    """Logs the curriculum through SB3's logger after every rollout; feeds it scores; optionally stops training.

    Args:
        curriculum: the curriculum (or ``server.curriculum``) to log; by
            default the one of the model's env, when that came from
            :func:`make_curriculum_vec_env` (wrapping it, e.g. in
            ``VecNormalize``, is fine).
        log_n_tasks: how many task probabilities to log as well (finite task
            spaces; ``-1`` for all, ``0`` for none).
        stop_condition: a condition (text or :class:`~syllabus_like.Condition`)
            over the curriculum's metrics and ``timesteps`` (the model's
            ``num_timesteps``), e.g. ``"stage>=3"``. Checked after each
            rollout; once it holds, ``model.learn`` returns before its next
            update and :attr:`stopped` is True. Call ``learn`` again (with
            ``reset_num_timesteps=False``) to train in chunks.
        score: per-episode scores computed from the rollout buffer of an
            on-policy model (PPO, A2C): ``"positive_value_loss"`` (the mean of
            ``max(A_t, 0)`` over the episode's steps, GAE advantages),
            ``"max_mc"`` (the best return seen on the task minus the mean value
            prediction over the episode), None (never), or ``"auto"`` (the
            default): positive value loss when the curriculum says
            ``requires_scores`` (``PrioritizedLevelReplay``) and the env's
            wrappers compute no score themselves, else none.

    Scores: while training, the CurriculumWrappers of the env
    hand each finished episode to this callback instead of reporting it
    (:meth:`~syllabus_like.wrappers.CurriculumWrapper.set_trainer_scoring`),
    and after each rollout the callback reports every episode that ended in
    it, with its score, to the curriculum: each training episode once,
    delayed by at most one rollout. An episode that spans rollouts is scored
    over all its steps (see :mod:`syllabus_like.integrations.scores`). MaxMC
    compares the wrapper's (raw) return with SB3's value predictions: with
    ``VecNormalize(norm_reward=True)`` prefer the positive value loss.

    Values go under ``curriculum/<metric>`` and
    ``curriculum/task_probability/<task>``, wherever the user configured SB3's
    logger to write (stdout, CSV, TensorBoard).
    """

    def __init__(
        self,
        curriculum: Any = None,
        *,
        log_n_tasks: int = 0,
        stop_condition: str | Condition | None = None,
        score: str | None = "auto",
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        check_trainer_score(score, allowed_extra=("auto", None))
        if isinstance(log_n_tasks, bool) or not isinstance(log_n_tasks, int) or log_n_tasks < -1:
            raise ValueError(f"log_n_tasks must be an int >= -1 (-1: every task), got {log_n_tasks!r}")
        if isinstance(stop_condition, str):
            stop_condition = parse_condition(stop_condition)
        elif stop_condition is not None and not isinstance(stop_condition, Condition):
            raise TypeError(f"stop_condition must be condition text, a Condition or None, got {stop_condition!r}")
        self.curriculum = curriculum
        self.log_n_tasks = log_n_tasks
        self.stop_condition = stop_condition
        self.score = score
        self.stopped = False
        self.last_metrics: dict[str, float] = {}
        self._scorer: RolloutScorer | None = None
        #: The score the callback computes in the current training run (None when it computes none).
        self.active_score: str | None = None

    def _init_callback(self) -> None:
        if self.curriculum is None:
            self.curriculum = find_curriculum(self.training_env)
        if self.curriculum is None:
            raise ValueError(
                f"CurriculumCallback() found no curriculum on the model's env {self.training_env!r}: build it "
                "with make_curriculum_vec_env, or pass the curriculum: CurriculumCallback(curriculum)"
            )
        self.stopped = False
        self.active_score = self._resolve_score()
        if self.active_score is None:
            self._scorer = None
            return
        num_envs = self.training_env.num_envs
        fresh_start = self.model.num_timesteps == 0  # SB3 has just reset the envs: no episode is in progress
        scorer = self._scorer
        if fresh_start or scorer is None or scorer.num_envs != num_envs or scorer.score != self.active_score:
            self._scorer = RolloutScorer(num_envs, self.active_score)
        self.training_env.env_method("set_trainer_scoring", True)

    def _resolve_score(self) -> str | None:
        """The score this run computes: ``score``, or for ``"auto"`` what the curriculum and wrappers call for."""
        if self.score is None:
            return None
        try:
            self.training_env.get_attr("trainer_scoring")  # only a CurriculumWrapper has it
            wrapper_scores = self.training_env.get_attr("score")
        except AttributeError:
            wrapper_scores = None  # no CurriculumWrapper in the env
        if self.score == "auto":
            if not getattr(self.curriculum, "requires_scores", False) or wrapper_scores is None:
                return None
            if any(score is not None for score in wrapper_scores):
                return None  # the wrappers score episodes themselves
            if not isinstance(self.model, OnPolicyAlgorithm):
                raise ValueError(
                    f"the curriculum needs per-episode scores, and CurriculumCallback computes them from an "
                    f"on-policy rollout buffer (PPO, A2C), which {type(self.model).__name__} has not: let the "
                    "wrappers score episodes (make_curriculum_vec_env(..., score='failure'), or a callable)"
                )
            return "positive_value_loss"
        if wrapper_scores is None:
            raise ValueError(
                f"CurriculumCallback(score={self.score!r}) needs envs wrapped in CurriculumWrapper (e.g. from "
                f"make_curriculum_vec_env) to hand it their episodes; {self.training_env!r} has none"
            )
        if not isinstance(self.model, OnPolicyAlgorithm):
            raise ValueError(
                f"CurriculumCallback(score={self.score!r}) computes scores from an on-policy rollout buffer "
                f"(PPO, A2C); {type(self.model).__name__} has none: let the wrappers score episodes instead "
                "(make_curriculum_vec_env(..., score='failure'), or a callable)"
            )
        return self.score  # set_trainer_scoring refuses wrappers that score episodes themselves

    def _on_step(self) -> bool:
        if self._scorer is not None:
            dones = self.locals["dones"]
            if dones.any():
                self._scorer.record_step(self.locals["n_steps"], self.locals["infos"], np.flatnonzero(dones))
        return not self.stopped

    def _on_training_end(self) -> None:
        if self._scorer is None:
            return
        try:  # episodes handed over in a rollout that was cut short are still reported
            report_scored(self.curriculum, self._scorer.end_without_rollout())
        finally:
            self.training_env.env_method("set_trainer_scoring", False)

    def _on_rollout_end(self) -> None:
        if self._scorer is not None:
            buffer = self.model.rollout_buffer
            scored = self._scorer.end_rollout(
                buffer.advantages, buffer.values, buffer.episode_starts, self.locals["dones"]
            )
            report_scored(self.curriculum, scored)
        metrics = {name: float(value) for name, value in self.curriculum.metrics().items()}
        for name, value in metrics.items():
            self.logger.record(f"curriculum/{name}", value)
        if self.log_n_tasks != 0:
            self._log_probabilities()
        self.last_metrics = metrics
        if self.stop_condition is not None:
            self.stopped = bool(self.stop_condition({**metrics, "timesteps": float(self.num_timesteps)}))

    def _log_probabilities(self) -> None:
        probabilities = self.curriculum.probabilities()
        if probabilities is None:
            return
        count = len(probabilities) if self.log_n_tasks == -1 else min(self.log_n_tasks, len(probabilities))
        task_space = self.curriculum.task_space
        for index in range(count):
            self.logger.record(f"curriculum/task_probability/{task_space.decode(index)}", float(probabilities[index]))
