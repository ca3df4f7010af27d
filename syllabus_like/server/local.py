"""The ``"local"`` backend: environments in the training process itself.

Clients call the curriculum directly under the host's lock, so any number of
threads may share it; there is no background thread and nothing to batch.
An exception from the curriculum reaches whoever made the call (the training
loop, for a SyncVectorEnv).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from syllabus_like.server.host import CurriculumHost, LockedCurriculum
from syllabus_like.server.protocol import TaskServerError, episode_extras

__all__ = ["LocalBackend", "LocalClient"]


class LocalClient:
    """A thread-safe handle on a curriculum in this process.

    It cannot be pickled: a copy in another process would hold a copy of the
    curriculum, silently diverging from the real one. Use ``backend="process"``
    (or ``"ray"``) for environments in other processes.
    """

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend
        self._lock = backend.host.lock
        self._curriculum = backend.host.curriculum

    def _check_open(self) -> None:
        if self._backend.closed:
            raise TaskServerError("this client's task server (backend='local') was closed")

    @property
    def requires_step_updates(self) -> bool:
        return self._curriculum.requires_step_updates

    def sample(self, k: int = 1) -> list:
        if self._backend.closed:  # _check_open, inlined on the two calls of every episode
            self._check_open()
        with self._lock:
            return self._curriculum.sample(k)

    def update_on_episode(
        self,
        episode_return: float,
        length: int,
        task: Any,
        progress: float = 0.0,
        env_id: int | None = None,
        score: float | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        if self._backend.closed:
            self._check_open()
        if score is None and metrics is None:  # the usual case; curricula predating the keywords keep working
            with self._lock:
                self._curriculum.update_on_episode(episode_return, length, task, progress, env_id=env_id)
            return
        if metrics is None and type(score) is float:  # a scored report (e.g. a wrapper's): nothing to convert
            with self._lock:
                self._curriculum.update_on_episode(episode_return, length, task, progress, env_id=env_id, score=score)
            return
        extras = episode_extras(score, metrics)
        with self._lock:
            self._curriculum.update_on_episode(episode_return, length, task, progress, env_id=env_id, **extras)

    def update_on_step(
        self,
        task: Any,
        obs: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict,
        progress: float = 0.0,
        env_id: int | None = None,
    ) -> None:
        self._check_open()
        with self._lock:
            self._curriculum.update_on_step(task, obs, reward, terminated, truncated, info, progress, env_id=env_id)

    def update_on_step_batch(self, step_results: Iterable[Sequence[Any]], env_id: int | None = None) -> None:
        self._check_open()
        with self._lock:
            self._curriculum.update_on_step_batch(step_results, env_id=env_id)

    def update_task_progress(self, task: Any, progress: float, env_id: int | None = None) -> None:
        self._check_open()
        with self._lock:
            self._curriculum.update_task_progress(task, progress, env_id=env_id)

    def flush(self) -> None:
        """Nothing is buffered: every call was applied when it returned."""
        self._check_open()

    def close(self) -> None:
        """Nothing to release (the server owns the curriculum)."""

    def __reduce__(self) -> Any:
        raise TypeError(
            "a backend='local' task-server client only works in the process that created it "
            "(e.g. with SyncVectorEnv); use TaskServer(curriculum, backend='process') for "
            "AsyncVectorEnv or multiprocessing workers, or backend='ray' for Ray"
        )

    def __repr__(self) -> str:
        return f"LocalClient({self._curriculum!r})"


class LocalBackend:
    """Hosts the curriculum for clients in this process; see the module docstring."""

    name = "local"
    default_prefetch = 1  # unused: local clients call the curriculum directly

    def __init__(self, curriculum: Any) -> None:
        self.host = CurriculumHost(curriculum)
        self.curriculum = LockedCurriculum(self.host)
        self.closed = False

    def client(self, prefetch: int | str | None = None, batch_size: int | None = None) -> LocalClient:
        """A client calling the curriculum directly: there is nothing to prefetch or batch.

        ``TaskServer.client`` checked the options already (so a mistake shows
        before the backend is switched to a remote one).
        """
        return LocalClient(self)

    def raise_failure(self, only_unraised: bool = False) -> None:
        self.host.raise_failure(only_unraised)

    def flush(self, timeout: float | None = None) -> None:
        """Nothing to wait for: local reports are applied synchronously."""

    def close(self) -> None:
        self.closed = True
