"""One learning task: train an agent on an env until a stop condition holds (academia's ``LearningTask``)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from syllabus_like.curricula import Curriculum
from syllabus_like.experiment.curriculum_spec import build_curriculum
from syllabus_like.experiment.environment_spec import EnvironmentSpec
from syllabus_like.experiment.episode_statistics import EpisodeStatistics
from syllabus_like.experiment.stats import LearningStats
from syllabus_like.experiment.stop_conditions import DEFAULT_STOP_PREDICATES, StopPredicate, make_stop_check
from syllabus_like.experiment.verbosity import TASK_EVENTS, check_verbose, log_at
from syllabus_like.experiment.yaml_files import read_yaml, substitute_variables, with_suffix, write_yaml
from syllabus_like.validation import check_positive_int

__all__ = ["TASK_FIELDS", "LearningTask"]

logger = logging.getLogger(__name__)

#: The keys of a task's YAML / dict: the constructor's arguments.
TASK_FIELDS: tuple[str, ...] = (
    "env_type",
    "env_args",
    "stop_conditions",
    "evaluation_interval",
    "evaluation_count",
    "include_init_eval",
    "greedy_evaluation",
    "exploration_reset_value",
    "name",
    "agent_save_path",
    "stats_save_path",
    "curriculum",
    "seed",
)
_DEFAULTS: dict[str, Any] = {
    "evaluation_count": 25,
    "include_init_eval": True,
    "greedy_evaluation": True,
    "exploration_reset_value": None,
    "name": None,
    "agent_save_path": None,
    "stats_save_path": None,
    "curriculum": None,
    "seed": None,
}


def _split_seed(seed: int | None) -> tuple[int | None, int | None]:
    """Independent seeds for the training env and the evaluation env."""
    if seed is None:
        return None, None
    training, evaluation = np.random.SeedSequence(seed).spawn(2)
    return int(training.generate_state(1)[0]), int(evaluation.generate_state(1)[0])


def _owns_training_loop(agent: Any) -> bool:
    """Whether ``agent`` trains in its own loop (a :class:`~syllabus_like.experiment.LoopOwningAgent`)."""
    return callable(getattr(agent, "learn_task", None))


def _check_agent(agent: Any) -> None:
    needed = ("get_action",) if _owns_training_loop(agent) else ("get_action", "update")
    missing = [name for name in needed if not callable(getattr(agent, name, None))]
    if missing:
        raise TypeError(
            f"{agent!r} is not an Agent: it lacks {missing} (see syllabus_like.experiment.Agent); "
            "an agent that owns its training loop has learn_task(task, env, seed=..., verbose=...) and get_action "
            "(see syllabus_like.experiment.LoopOwningAgent)"
        )


class LearningTask:
    """Trains an agent on one env until a stop condition holds, evaluating it as it goes.

    Args:
        env_type: a Gymnasium env class, a callable returning an env, a
            registered Gymnasium id (``"CartPole-v1"``) or a
            ``"package.module:Name"`` / ``"package.module.Name"`` string.
        env_args: keyword arguments of ``env_type``.
        stop_conditions: a condition string over the metrics of
            :mod:`syllabus_like.experiment.stop_metrics`
            (``"episodes>=500 | avg_return>=0.8"``), or academia's dict
            (``{"max_episodes": 500, "min_avg_reward": 0.8}``, entries OR'ed;
            keys from :attr:`stop_predicates`).
        evaluation_interval: evaluate after every this many training episodes.
        evaluation_count: evaluation episodes per evaluation (their mean
            return is the score).
        include_init_eval: evaluate once before training.
        greedy_evaluation: evaluate with ``get_action(..., greedy=True)``.
        exploration_reset_value: when given, ``agent.reset_exploration(value)``
            once training finishes.
        name: shown in logs; names the task's files in an experiment.
        agent_save_path: where the agent is saved when training finishes or is interrupted.
        stats_save_path: where the stats are saved, at the same moments.
        curriculum: a :class:`~syllabus_like.Curriculum` over the env's task
            space, or a dict such as ``{"type": "SequentialCurriculum",
            "curriculum_list": [0, 1, 2], "stopping_conditions": [...]}``; the
            env is then wrapped in
            :class:`~syllabus_like.wrappers.CurriculumWrapper`, the curriculum
            picks each training episode's task and its stage switches land in
            the stats. Evaluation episodes never reach it.
        seed: seeds the training env's first reset, the evaluation env's, and a
            curriculum given as a dict without its own seed.

    Everything is checked here: a bad ``env_type``, an unknown stop-condition
    key or metric, no stop condition at all, are ValueErrors now.
    ``.env`` is the training env (built now); the evaluation env is a separate
    instance built at the first evaluation.
    """

    #: academia's registry of stop predicates, ``fn(value, stats) -> bool``; add your own here.
    stop_predicates: ClassVar[dict[str, StopPredicate]] = dict(DEFAULT_STOP_PREDICATES)

    def __init__(
        self,
        env_type: Any,
        env_args: Mapping[str, Any] | None = None,
        stop_conditions: Any = None,
        *,
        evaluation_interval: int = 100,
        evaluation_count: int = 25,
        include_init_eval: bool = True,
        greedy_evaluation: bool = True,
        exploration_reset_value: float | None = None,
        name: str | None = None,
        agent_save_path: str | None = None,
        stats_save_path: str | None = None,
        curriculum: Curriculum | Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        self._environment = EnvironmentSpec(env_type, env_args)
        self._stop_check = make_stop_check(stop_conditions, type(self).stop_predicates)
        self.stop_conditions = dict(stop_conditions) if isinstance(stop_conditions, Mapping) else stop_conditions
        self.evaluation_interval = check_positive_int("evaluation_interval", evaluation_interval)
        self.evaluation_count = check_positive_int("evaluation_count", evaluation_count)
        for flag_name, flag in (("include_init_eval", include_init_eval), ("greedy_evaluation", greedy_evaluation)):
            if not isinstance(flag, bool):
                raise ValueError(f"{flag_name} must be True or False, got {flag!r}")
        self.include_init_eval = include_init_eval
        self.greedy_evaluation = greedy_evaluation
        if exploration_reset_value is not None and (
            isinstance(exploration_reset_value, bool)
            or not isinstance(exploration_reset_value, (int, float))
            or math.isnan(exploration_reset_value)
        ):
            raise ValueError(f"exploration_reset_value must be a number or None, got {exploration_reset_value!r}")
        self.exploration_reset_value = exploration_reset_value
        for text_name, text in (
            ("name", name),
            ("agent_save_path", agent_save_path),
            ("stats_save_path", stats_save_path),
        ):
            if text is not None and not isinstance(text, (str, os.PathLike)):
                raise ValueError(f"{text_name} must be a string or None, got {text!r}")
        self.name = None if name is None else str(name)
        self.agent_save_path = None if agent_save_path is None else os.fspath(agent_save_path)
        self.stats_save_path = None if stats_save_path is None else os.fspath(stats_save_path)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)

        self._curriculum_config = dict(curriculum) if isinstance(curriculum, Mapping) else None
        self.curriculum: Any = None if isinstance(curriculum, Mapping) else curriculum
        self._build_training_env(self.seed)
        self._evaluation_env: Any = None
        self._evaluation_seed: int | None = None
        self.stats = LearningStats(self.evaluation_interval)

    def _build_training_env(self, seed: int | None) -> None:
        """``.env``: a new env, in a CurriculumWrapper when there is a curriculum.

        A curriculum given as a dict is built anew, seeded by ``seed`` unless
        the dict has its own; one given as an object is used as it is.
        """
        base_env = self._environment.make()
        if self._curriculum_config is not None:
            self.curriculum = build_curriculum(self._curriculum_config, base_env, seed)
        if self.curriculum is not None:
            from syllabus_like.wrappers import CurriculumWrapper

            self.env = CurriculumWrapper(base_env, self.curriculum)
        else:
            self.env = base_env

    # ---------------------------------------------------------------- config
    @property
    def env_type(self) -> Any:
        return self._environment.env_type

    @property
    def env_args(self) -> dict[str, Any]:
        return dict(self._environment.env_args)

    def to_dict(self) -> dict[str, Any]:
        """This task's configuration, as its YAML file holds it (defaults left out)."""
        if self.curriculum is not None and self._curriculum_config is None:
            raise ValueError(
                f"task {self.name!r} has a curriculum given as an object ({self.curriculum!r}), which cannot be "
                "written to YAML; give it as a dict like {'type': 'SequentialCurriculum', ...} to save the task"
            )
        stop_conditions = self.stop_conditions
        if not isinstance(stop_conditions, (str, dict)):
            stop_conditions = str(stop_conditions)  # a Condition: its canonical text
        data: dict[str, Any] = {
            "env_type": self._environment.reference(),
            "env_args": self.env_args,
            "stop_conditions": stop_conditions,
            "evaluation_interval": self.evaluation_interval,
        }
        values = {
            "evaluation_count": self.evaluation_count,
            "include_init_eval": self.include_init_eval,
            "greedy_evaluation": self.greedy_evaluation,
            "exploration_reset_value": self.exploration_reset_value,
            "name": self.name,
            "agent_save_path": self.agent_save_path,
            "stats_save_path": self.stats_save_path,
            "curriculum": self._curriculum_config,
            "seed": self.seed,
        }
        data.update({key: value for key, value in values.items() if value != _DEFAULTS[key]})
        return data

    @classmethod
    def from_dict(cls, task_data: Mapping[str, Any]) -> LearningTask:
        """A task from its configuration (:meth:`to_dict`'s output, or a ``*.task.yml`` file's contents)."""
        if not isinstance(task_data, Mapping):
            raise ValueError(f"a task configuration must be a mapping, got {task_data!r}")
        unknown = [key for key in task_data if key not in TASK_FIELDS]
        if unknown:
            raise ValueError(f"unknown task setting(s) {unknown}; valid ones are: {', '.join(TASK_FIELDS)}")
        if "env_type" not in task_data:
            raise ValueError(f"a task configuration needs env_type; got the keys {list(task_data)}")
        settings = dict(task_data)
        return cls(
            settings.pop("env_type"), settings.pop("env_args", None), settings.pop("stop_conditions", None), **settings
        )

    def save(self, path: str | os.PathLike) -> str:
        """Write the configuration as YAML (``.task.yml`` appended unless it ends in ``.yml``); return the absolute path."""
        return write_yaml(self.to_dict(), with_suffix(path, ".task.yml"))

    @classmethod
    def load(cls, path: str | os.PathLike, variables: Mapping[str, Any] | None = None) -> LearningTask:
        """A task from a YAML file (``.task.yml`` appended unless it ends in ``.yml``), ``$variables`` filled in."""
        data = read_yaml(with_suffix(path, ".task.yml"))
        return cls.from_dict(substitute_variables(data, variables or {}))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LearningTask):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LearningTask(name={self.name!r}, env_type={self.env_type!r}, stop_conditions={self.stop_conditions!r})"

    # -------------------------------------------------- pieces of a training run
    def should_stop(self) -> bool:
        """Whether a stop condition holds for the stats gathered so far (for loops this task does not own)."""
        return self._stop_check(self.stats)

    def training_env(
        self, verbose: int = 0, on_episode: Callable[[LearningStats], None] | None = None
    ) -> EpisodeStatistics:
        """``.env`` wrapped so that every finished episode lands in :attr:`stats`.

        An agent that owns its training loop trains on this env, and asks
        :meth:`should_stop` and :meth:`evaluate_if_due` after each episode.
        """
        return EpisodeStatistics(
            self.env, self.stats, curriculum=self.curriculum, verbose=verbose, on_episode=on_episode
        )

    def evaluate(self, agent: Any, verbose: int = 0) -> float:
        """Run ``evaluation_count`` episodes on the evaluation env (no learning), record and return the mean return.

        The evaluation env is a separate instance of the task's env without
        the curriculum, so evaluation reaches neither the curriculum nor the
        training arrays of the stats.
        """
        if self._evaluation_env is None:
            self._evaluation_env = self._environment.make()
        env = self._evaluation_env
        returns = []
        for number in range(1, self.evaluation_count + 1):
            seed, self._evaluation_seed = self._evaluation_seed, None
            obs, info = env.reset(seed=seed)
            episode_return = 0.0
            while True:
                action = agent.get_action(obs, info.get("action_mask"), self.greedy_evaluation)
                obs, reward, terminated, truncated, info = env.step(action)
                episode_return += float(reward)
                if terminated or truncated:
                    break
            self.stats.log_evaluation_episode(number, episode_return, verbose)
            returns.append(episode_return)
        score = float(np.mean(returns))
        self.stats.add_evaluation(score, verbose)
        return score

    def evaluate_if_due(self, agent: Any, verbose: int = 0) -> float | None:
        """Evaluate when the training episodes reached a multiple of ``evaluation_interval`` not yet evaluated."""
        stats = self.stats
        episodes = stats.episodes
        if episodes == 0 or episodes % self.evaluation_interval:
            return None
        done = stats.evaluation_episodes
        if len(done) and done[-1] == episodes:
            return None
        return self.evaluate(agent, verbose)

    # ------------------------------------------------------------------- run
    def run(
        self,
        agent: Any,
        verbose: int = 0,
        *,
        seed: int | None = None,
        on_episode: Callable[[LearningStats], None] | None = None,
    ) -> LearningStats:
        """Train ``agent`` until a stop condition holds; return the stats (also :attr:`stats`).

        ``seed`` overrides the task's own for this run (an experiment passes
        one derived from its seed). Every run starts with fresh stats and, for
        a curriculum given as a dict, a fresh curriculum seeded by the run's
        seed; a curriculum given as an object carries on from its state. ``on_episode(stats)`` is called after each
        training episode. An agent with ``learn_task`` (a
        :class:`~syllabus_like.experiment.LoopOwningAgent`) trains in its own
        loop on :meth:`training_env`. The agent and the stats are saved to
        ``agent_save_path`` / ``stats_save_path`` (when set) on completion and
        on interruption; a ``KeyboardInterrupt`` or an exception is re-raised
        after saving.
        """
        verbose = check_verbose(verbose)
        _check_agent(agent)
        run_seed = self.seed if seed is None else seed
        if self._curriculum_config is not None:
            self._build_training_env(run_seed)  # a fresh curriculum, seeded like the rest of this run
        training_seed, self._evaluation_seed = _split_seed(run_seed)
        self.stats = LearningStats(self.evaluation_interval)
        env = self.training_env(verbose, on_episode)
        label = self.name if self.name is not None else "task"
        try:
            self._train(agent, env, verbose, training_seed)
        except BaseException as error:
            log_at(
                logger,
                verbose,
                TASK_EVENTS,
                "%s interrupted after %d episodes (%s)",
                label,
                self.stats.episodes,
                type(error).__name__,
                warning=True,
            )
            self._save_outputs(agent, verbose)
            raise
        if self.exploration_reset_value is not None:
            reset_exploration = getattr(agent, "reset_exploration", None)
            if callable(reset_exploration):
                reset_exploration(self.exploration_reset_value)
            else:
                log_at(
                    logger,
                    verbose,
                    TASK_EVENTS,
                    "%s: the agent has no reset_exploration(); exploration_reset_value %r ignored",
                    label,
                    self.exploration_reset_value,
                    warning=True,
                )
        self._save_outputs(agent, verbose)
        log_at(
            logger,
            verbose,
            TASK_EVENTS,
            "%s finished after %d episodes, %d steps",
            label,
            self.stats.episodes,
            self.stats.total_steps,
        )
        return self.stats

    def _train(self, agent: Any, env: EpisodeStatistics, verbose: int, seed: int | None) -> None:
        if self.include_init_eval:
            self.evaluate(agent, verbose)
        if _owns_training_loop(agent):
            self._train_in_agent_loop(agent, env, verbose, seed)
            return
        # The loop steps the env inside the statistics wrapper and hands it each episode's
        # return and length at the end (EpisodeStatistics.record_episode): per step, exactly
        # the work of a hand-written loop that keeps its returns.
        get_action, update, step = agent.get_action, agent.update, env.env.step
        record_episode = env.record_episode
        should_stop, evaluate_if_due = self.should_stop, self.evaluate_if_due
        first_seed: int | None = seed
        while not should_stop():
            obs, info = env.reset(seed=first_seed)
            first_seed = None
            episode_return = 0.0
            length = 0
            if "action_mask" in info:
                mask = info["action_mask"]
                while True:
                    action = get_action(obs, mask)
                    next_obs, reward, terminated, truncated, info = step(action)
                    update(obs, action, reward, next_obs, terminated, truncated)
                    obs, mask = next_obs, info.get("action_mask")
                    episode_return += reward
                    length += 1
                    if terminated or truncated:
                        break
            else:
                while True:
                    action = get_action(obs)
                    next_obs, reward, terminated, truncated, _ = step(action)
                    update(obs, action, reward, next_obs, terminated, truncated)
                    obs = next_obs
                    episode_return += reward
                    length += 1
                    if terminated or truncated:
                        break
            record_episode(episode_return, length)
            evaluate_if_due(agent, verbose)

    def _train_in_agent_loop(self, agent: Any, env: EpisodeStatistics, verbose: int, seed: int | None) -> None:
        """Hand the loop to ``agent.learn_task``; it must return only once a stop condition holds."""
        if self.should_stop():
            return  # e.g. a condition on the initial evaluation already holds: no training at all
        agent.learn_task(self, env, seed=seed, verbose=verbose)
        if not self.should_stop():
            label = self.name if self.name is not None else "task"
            raise RuntimeError(
                f"{agent!r}.learn_task returned before a stop condition of {label} ({self.stop_conditions!r}) "
                f"held, after {self.stats.episodes} episodes and {self.stats.total_steps} steps; an agent that owns "
                "its training loop trains until LearningTask.should_stop() is True"
            )

    def _save_outputs(self, agent: Any, verbose: int) -> None:
        if self.stats_save_path is not None:
            self.stats.save(self.stats_save_path)
        if self.agent_save_path is not None:
            save = getattr(agent, "save", None)
            if callable(save):
                save(self.agent_save_path)
            else:
                log_at(
                    logger,
                    verbose,
                    TASK_EVENTS,
                    "agent %r has no save(); agent_save_path %r ignored",
                    agent,
                    self.agent_save_path,
                    warning=True,
                )
