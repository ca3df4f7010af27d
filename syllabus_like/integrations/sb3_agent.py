"""A Stable-Baselines3 model as an agent of the experiment layer (``LearningTask.run`` / ``Experiment.run``).

SB3 owns its training loop, so :class:`SB3Agent` is a
:class:`~syllabus_like.experiment.LoopOwningAgent`: the learning task hands it
its env inside the wrapper that records the statistics, and an SB3 callback
asks the task, after every finished episode, whether an evaluation is due and
whether a stop condition holds. Evaluation goes through
``model.predict(obs, deterministic=greedy)`` on the task's separate
evaluation env, which no curriculum sees.

Needs the ``sb3`` extra: ``pip install "syllabus-like[sb3]"``.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

try:
    import stable_baselines3
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'syllabus_like.integrations.sb3_agent needs Stable-Baselines3 and torch: pip install "syllabus-like[sb3]"'
    ) from error

import gymnasium as gym

__all__ = ["SB3_ALGORITHMS", "SB3Agent"]

logger = logging.getLogger(__name__)

#: The algorithms ``algorithm:`` may name by their bare name (others by ``"package.module:Name"``).
SB3_ALGORITHMS: tuple[str, ...] = ("A2C", "DDPG", "DQN", "PPO", "SAC", "TD3")

#: How many timesteps each ``model.learn`` call asks for, by default.
DEFAULT_LEARN_TIMESTEPS = 1_000_000


def _resolve_algorithm(algorithm: Any) -> type[BaseAlgorithm]:
    """``"PPO"`` (an SB3 algorithm), ``"package.module:Name"`` or the class itself -> the algorithm class."""
    if isinstance(algorithm, str):
        if algorithm in SB3_ALGORITHMS:
            algorithm_class = getattr(stable_baselines3, algorithm)
        elif ":" in algorithm or "." in algorithm:
            from syllabus_like.experiment.references import resolve_reference

            algorithm_class = resolve_reference(algorithm, "SB3 algorithm")
        else:
            raise ValueError(
                f"unknown SB3 algorithm {algorithm!r}; give one of {', '.join(SB3_ALGORITHMS)} or a "
                "'package.module:Name' reference (e.g. 'sb3_contrib:QRDQN')"
            )
    else:
        algorithm_class = algorithm
    if not (isinstance(algorithm_class, type) and issubclass(algorithm_class, BaseAlgorithm)):
        raise ValueError(f"algorithm must name a Stable-Baselines3 algorithm class, got {algorithm!r}")
    return algorithm_class


class _ConstantRate:
    """An SB3 schedule that stays at ``value`` (picklable, so the model still saves)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, progress_remaining: float) -> float:
        return self.value


class _SpacesOnlyEnv(gym.Env):
    """An env with the given spaces and nothing else: SB3 builds a model from an env, the YAML gives spaces.

    The model never steps it: :meth:`SB3Agent.learn_task` replaces it with the
    learning task's env before training.
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        raise RuntimeError("SB3Agent's placeholder env is not for playing: train through LearningTask.run")

    def step(self, action: Any) -> Any:
        raise RuntimeError("SB3Agent's placeholder env is not for playing: train through LearningTask.run")


class _LearningTaskCallback(BaseCallback):
    """After each finished training episode: the task's evaluation when due, then its stop check.

    The statistics wrapper inside the env has already recorded the episode
    when SB3 calls ``_on_step``, so the task decides on the same numbers, at
    the same episode boundaries, as in its own loop. Returning False makes
    ``model.learn`` return (on-policy algorithms drop the partial rollout).
    """

    def __init__(self, task: Any, agent: SB3Agent, verbose_level: int) -> None:
        super().__init__(0)
        self.task = task
        self.agent = agent
        self.verbose_level = verbose_level
        self.seen_episodes = task.stats.episodes
        self.stopped = False

    def _on_step(self) -> bool:
        episodes = self.task.stats.episodes
        if episodes == self.seen_episodes:
            return True
        self.seen_episodes = episodes
        self.task.evaluate_if_due(self.agent, self.verbose_level)
        self.stopped = self.task.should_stop()
        return not self.stopped


class SB3Agent:
    """A Stable-Baselines3 model (PPO, A2C, DQN, SAC, ...) that learning tasks and experiments can run.

    Args:
        model: the SB3 model, built on one env with the task's spaces (e.g.
            ``PPO("MlpPolicy", task.env)``), or see :meth:`from_spaces`.
        learn_timesteps: ``model.learn`` is called with this many timesteps,
            again until the task's stop condition holds (usually it holds
            first). SB3's schedules (learning rate, DQN's exploration) run over
            this horizon, so set it near the steps a task is expected to take.
        callback: SB3 callback(s) run by every ``model.learn`` call as well
            (e.g. :class:`~syllabus_like.integrations.sb3.CurriculumCallback`
            to log the task's curriculum, a checkpoint callback).
        learn_kwargs: more keyword arguments of ``model.learn``
            (``log_interval``, ``tb_log_name``, ``progress_bar``).

    In :meth:`learn_task` the model trains on the learning task's env (in a
    one-env ``DummyVecEnv`` with SB3's ``Monitor``, so SB3 logs episode
    returns; with the task's curriculum when it has one) until the task's
    stop condition holds, evaluating when due. Timesteps count on from task
    to task (``reset_num_timesteps=False``). :meth:`get_action` is
    ``model.predict(obs, deterministic=greedy)``; an env's action mask goes to
    models whose ``predict`` takes ``action_masks`` (sb3-contrib's
    ``MaskablePPO``) and is ignored by the others.
    """

    def __init__(
        self,
        model: BaseAlgorithm,
        *,
        learn_timesteps: int = DEFAULT_LEARN_TIMESTEPS,
        callback: BaseCallback | Sequence[BaseCallback] | None = None,
        learn_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, BaseAlgorithm):
            raise TypeError(f"SB3Agent needs a Stable-Baselines3 model (PPO, DQN, ...), got {model!r}")
        if model.n_envs != 1:
            raise ValueError(
                f"SB3Agent trains on the learning task's one env, but this {type(model).__name__} was built on "
                f"{model.n_envs} envs; build it on one (e.g. {type(model).__name__}(policy, task.env))"
            )
        if isinstance(learn_timesteps, bool) or not isinstance(learn_timesteps, int) or learn_timesteps < 1:
            raise ValueError(f"learn_timesteps must be a positive int, got {learn_timesteps!r}")
        callbacks = [] if callback is None else [callback] if isinstance(callback, BaseCallback) else list(callback)
        for item in callbacks:
            if not isinstance(item, BaseCallback):
                raise TypeError(f"callback must be an SB3 BaseCallback or a list of them, got {item!r}")
        learn_kwargs = dict(learn_kwargs or {})
        reserved = sorted({"total_timesteps", "callback", "reset_num_timesteps"} & set(learn_kwargs))
        if reserved:
            raise ValueError(f"learn_kwargs may not set {reserved}: SB3Agent sets them (see learn_timesteps, callback)")
        self.model = model
        self.learn_timesteps = learn_timesteps
        self.callbacks = callbacks
        self.learn_kwargs = learn_kwargs
        self._masks_checked_for: BaseAlgorithm | None = None
        self._predict_masks = False

    @classmethod
    def from_spaces(
        cls,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        algorithm: Any = "PPO",
        policy: Any = "MlpPolicy",
        learn_timesteps: int = DEFAULT_LEARN_TIMESTEPS,
        callback: BaseCallback | Sequence[BaseCallback] | None = None,
        learn_kwargs: Mapping[str, Any] | None = None,
        **algorithm_kwargs: Any,
    ) -> SB3Agent:
        """A new model of ``algorithm`` with ``policy`` for these spaces: what an experiment YAML builds.

        ``algorithm`` is one of :data:`SB3_ALGORITHMS` by name, a
        ``"package.module:Name"`` reference or a class; ``policy`` what SB3
        takes (``"MlpPolicy"``, ``"CnnPolicy"``, a class);
        ``learn_timesteps``, ``callback`` and ``learn_kwargs`` are
        :class:`SB3Agent`'s. Every other keyword goes to the algorithm
        (``learning_rate``, ``n_steps``, ``seed``, ``device``,
        ``policy_kwargs``, ...). In YAML::

            agent:
              type: syllabus_like.integrations.sb3:SB3Agent
              args: {algorithm: PPO, policy: MlpPolicy, n_steps: 256, learn_timesteps: 50000}

        ``syllabus-like run`` passes the run's seed as ``seed`` unless the
        block gives one; like any SB3 seed, it also seeds Python's, numpy's
        and torch's global generators (SB3's ``set_random_seed``).
        """
        algorithm_class = _resolve_algorithm(algorithm)
        try:
            model = algorithm_class(policy, _SpacesOnlyEnv(observation_space, action_space), **algorithm_kwargs)
        except TypeError as error:
            raise ValueError(
                f"{algorithm_class.__name__} rejects the arguments {algorithm_kwargs!r} with policy {policy!r}: {error}"
            ) from error
        return cls(model, learn_timesteps=learn_timesteps, callback=callback, learn_kwargs=learn_kwargs)

    # ------------------------------------------------------------ the agent
    def get_action(self, obs: Any, legal_mask: Any = None, greedy: bool = False) -> Any:
        """``model.predict(obs, deterministic=greedy)``'s action (an int for ``Discrete`` action spaces)."""
        if legal_mask is not None and self._predict_takes_masks():
            action, _ = self.model.predict(obs, deterministic=greedy, action_masks=legal_mask)
        else:
            action, _ = self.model.predict(obs, deterministic=greedy)
        if isinstance(self.model.action_space, gym.spaces.Discrete):
            return int(action)
        return action

    def _predict_takes_masks(self) -> bool:
        """Whether the model's ``predict`` takes ``action_masks`` (checked once per model; evaluation asks per step)."""
        model = self.model
        if self._masks_checked_for is not model:
            self._predict_masks = "action_masks" in inspect.signature(model.predict).parameters
            self._masks_checked_for = model
        return self._predict_masks

    def learn_task(self, task: Any, env: gym.Env, *, seed: int | None = None, verbose: int = 0) -> None:
        """Train the model on ``env`` (the task's :meth:`~LearningTask.training_env`) until ``task.should_stop()``.

        ``seed`` seeds the env's first reset. Raises ``RuntimeError`` when a
        ``model.learn`` call ends early without the stop condition holding
        (another callback returned False), rather than looping.
        """
        vec_env = DummyVecEnv([lambda: Monitor(env)])
        curriculum = getattr(task, "curriculum", None)
        if curriculum is not None:
            from syllabus_like.integrations.sb3 import CurriculumVecEnv

            vec_env = CurriculumVecEnv(vec_env, curriculum, None, None)  # CurriculumCallback() finds it here
        if seed is not None:
            vec_env.seed(seed)
        try:
            self.model.set_env(vec_env, force_reset=True)
        except (AssertionError, ValueError) as error:
            raise ValueError(f"{self!r} cannot train on {task!r}'s env: {error}") from error
        stop_check = _LearningTaskCallback(task, self, verbose)
        callback = CallbackList([stop_check, *self.callbacks])
        while not task.should_stop():
            target = self.model.num_timesteps + self.learn_timesteps
            self.model.learn(self.learn_timesteps, callback=callback, reset_num_timesteps=False, **self.learn_kwargs)
            if not stop_check.stopped and self.model.num_timesteps < target:
                raise RuntimeError(
                    f"model.learn stopped at {self.model.num_timesteps} timesteps, before {task!r}'s stop condition "
                    "held: one of SB3Agent's callbacks returned False"
                )

    def reset_exploration(self, value: float) -> None:
        """For models with an exploration rate (DQN): keep it at ``value`` from now on; others: logged, no effect."""
        if not hasattr(self.model, "exploration_schedule"):
            logger.warning(
                "%s has no exploration rate; reset_exploration(%r) has no effect", type(self.model).__name__, value
            )
            return
        self.model.exploration_schedule = _ConstantRate(float(value))
        self.model.exploration_rate = float(value)

    # ------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike) -> str:
        """``model.save`` to ``path`` (``.zip`` appended unless it ends so); return the absolute path written."""
        path = os.fspath(path)
        target = path if path.endswith(".zip") else path + ".zip"
        self.model.save(target)
        return os.path.abspath(target)

    def load(self, path: str | os.PathLike) -> None:
        """Replace :attr:`model` by the one saved at ``path`` (or ``path + ".zip"``), same algorithm and device.

        The loaded model has no env until the next :meth:`learn_task`; it can
        act (:meth:`get_action`) at once.
        """
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".zip"):
            path += ".zip"
        if not os.path.exists(path):
            raise FileNotFoundError(f"no saved SB3 model at {path!r} (nor {path + '.zip'!r})")
        self.model = type(self.model).load(path, device=self.model.device)

    def __repr__(self) -> str:
        return f"SB3Agent({type(self.model).__name__})"
