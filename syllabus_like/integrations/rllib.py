"""RLlib integration (new API stack): env runners' envs fed by a task server, curriculum metrics in results.

Needs the ``rllib`` extra (``pip install "syllabus-like[rllib]"``). With the
curriculum in a ``"ray"`` :class:`~syllabus_like.server.TaskServer` (its Ray
actor), :func:`connect_curriculum` sets up an :class:`AlgorithmConfig` so that

* every env of every env runner is the user's env inside a
  :class:`~syllabus_like.wrappers.CurriculumWrapper` whose source is a client
  of the server (it travels in ``env_config``): each reset draws the next
  task from the curriculum, and each finished episode is reported from the
  runner that played it;
* :class:`CurriculumCallback` puts the curriculum's metrics into every
  training result (``result["curriculum"]``), and switches the envs of
  evaluation env runners to evaluation mode, so evaluation episodes never
  feed the curriculum.

```python
ray.init(num_cpus=4)
server = TaskServer(curriculum, backend="ray")
config = connect_curriculum(PPOConfig().env_runners(num_env_runners=2), server, GridCrossingEnv)
algorithm = config.build_algo()
print(algorithm.train()["curriculum"]["stage"])
```
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from typing import Any

try:
    from ray.rllib.callbacks.callbacks import RLlibCallback
    from ray.tune.registry import register_env
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError('syllabus_like.integrations.rllib needs RLlib: pip install "syllabus-like[rllib]"') from error

import gymnasium as gym

from syllabus_like.server import TaskServer
from syllabus_like.wrappers import CurriculumWrapper
from syllabus_like.wrappers.episode_scores import EPISODE_SCORES, EpisodeScore, check_episode_score

__all__ = ["CLIENT_KEY", "CurriculumCallback", "CurriculumEnvCreator", "connect_curriculum"]

#: The ``env_config`` key holding the task-server client the envs' CurriculumWrappers use.
CLIENT_KEY = "syllabus_like_client"

#: Env ids are ``worker_index * ENV_ID_STRIDE + vector_index``, unique across runners.
ENV_ID_STRIDE = 10_000

_registered_names = itertools.count()


class CurriculumEnvCreator:
    """An RLlib env creator: the user's env in a CurriculumWrapper on ``env_config[CLIENT_KEY]``.

    ``env`` is a Gymnasium env id or a factory called with ``env_kwargs``.
    The wrapper's ``env_id`` is ``worker_index * 10_000 + vector_index``.
    ``score`` is the wrapper's per-episode score (a name in
    :data:`~syllabus_like.wrappers.episode_scores.EPISODE_SCORES` or a
    callable; see :class:`~syllabus_like.wrappers.CurriculumWrapper`): under
    RLlib the env is where a score-based curriculum such as
    PrioritizedLevelReplay gets one. Picklable, so RLlib ships it to every env runner.
    """

    def __init__(
        self,
        env: str | Callable[..., gym.Env],
        env_kwargs: Mapping[str, Any] | None = None,
        *,
        score: str | EpisodeScore | None = None,
    ) -> None:
        if not (isinstance(env, str) or callable(env)):
            raise TypeError(f"env must be a Gymnasium env id or a callable returning an env, got {env!r}")
        if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
            raise TypeError(f"env_kwargs must be a mapping of keyword arguments, got {env_kwargs!r}")
        check_episode_score(score)
        self.env = env
        self.env_kwargs = dict(env_kwargs or {})
        self.score = score

    def __call__(self, env_config: Mapping[str, Any]) -> gym.Env:
        if CLIENT_KEY not in env_config:
            raise KeyError(
                f"env_config has no {CLIENT_KEY!r} (a task-server client); set the config up with "
                "connect_curriculum(config, server, env)"
            )
        if isinstance(self.env, str):
            import syllabus_like.envs  # noqa: F401  (registers the library's env ids in this process)

            env = gym.make(self.env, **self.env_kwargs)
        else:
            env = self.env(**self.env_kwargs)
        env_id = int(getattr(env_config, "worker_index", 0)) * ENV_ID_STRIDE + int(
            getattr(env_config, "vector_index", 0)
        )
        return CurriculumWrapper(env, env_config[CLIENT_KEY], env_id=env_id, score=self.score)


class CurriculumCallback(RLlibCallback):
    """Puts the curriculum's metrics into training results; keeps evaluation out of the curriculum.

    ``curriculum`` is a ``"ray"`` server's ``server.curriculum`` (given by
    :func:`connect_curriculum`; a proxy of the actor, so it works wherever the
    algorithm runs, also inside a Tune trial). Results get ``result["curriculum"]``, a dict of
    the curriculum's :meth:`~syllabus_like.Curriculum.metrics`. In env runners
    made for evaluation (``config.in_evaluation``), each env's
    CurriculumWrapper is put in evaluation mode when the env is created.
    """

    def __init__(self, curriculum: Any = None) -> None:
        super().__init__()
        self._curriculum = curriculum

    def on_environment_created(self, *, env_runner: Any, env: gym.Env, env_context: Any, **kwargs: Any) -> None:
        if getattr(env_runner.config, "in_evaluation", False):
            env.call("set_evaluation", True)

    def on_train_result(self, *, algorithm: Any, result: dict, **kwargs: Any) -> None:
        if self._curriculum is not None:
            result["curriculum"] = {name: float(value) for name, value in self._curriculum.metrics().items()}


def connect_curriculum(
    config: Any,
    server: TaskServer,
    env: str | Callable[..., gym.Env],
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    prefetch: int | str = 1,
    score: str | EpisodeScore | None = None,
) -> Any:
    """Set ``config`` (an RLlib ``AlgorithmConfig``) to play ``env`` with tasks from ``server``; return it.

    Registers a :class:`CurriculumEnvCreator` for ``env`` under a fresh name,
    sets it as the config's env with a new ``server.client()`` in
    ``env_config``, and adds a :class:`CurriculumCallback` to the config's
    callbacks (after those already there). ``server`` uses ``backend="ray"``.

    ``prefetch`` is the client's (see :meth:`TaskServer.client`). It defaults
    to 1 here, not to the Ray backend's ``"auto"``: then each reset asks the
    actor for its task and carries the finished episode's report, so the
    curriculum's metrics are current and a stage switch reaches every env at
    its next episode. An actor call costs about a millisecond, small next to
    what RLlib spends per episode; ``"auto"`` batches more (for very fast
    envs) at the price of stale tasks after a switch.

    ``score`` is each env's per-episode score (see :class:`CurriculumEnvCreator`);
    a curriculum that needs scores (``requires_scores``, e.g.
    PrioritizedLevelReplay) without one is refused here, before any env runs.
    """
    if not isinstance(server, TaskServer):
        raise TypeError(f"connect_curriculum needs a TaskServer (backend='ray'), got {server!r}")
    if server.backend != "ray":
        raise ValueError(
            f"connect_curriculum needs a TaskServer with backend='ray' (its clients work in env runners on "
            f"any node), got backend={server.backend!r}"
        )
    creator = CurriculumEnvCreator(env, env_kwargs, score=score)
    if score is None and server.curriculum.requires_scores:
        raise ValueError(
            "the server's curriculum needs a score for every episode (requires_scores) and RLlib's "
            "envs supply none by default: pass score= to connect_curriculum, a name in "
            f"{sorted(EPISODE_SCORES)} or a callable (episode_return, episode_length, info) -> float"
        )
    name = f"syllabus_like_curriculum_env_{next(_registered_names)}"
    register_env(name, creator)
    env_config = {**dict(config.env_config or {}), CLIENT_KEY: server.client(prefetch=prefetch)}
    config.environment(env=name, env_config=env_config)
    existing = config.callbacks_class
    existing = (
        [] if existing is RLlibCallback else list(existing if isinstance(existing, (list, tuple)) else [existing])
    )
    config.callbacks(callbacks_class=[*existing, functools.partial(CurriculumCallback, server.curriculum)])
    return config
