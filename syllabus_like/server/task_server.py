"""TaskServer: one curriculum, environments anywhere.

The curriculum lives in one place; environments (in this process, in worker
processes, on a Ray cluster) pull tasks from it and report back through small
clients::

    with TaskServer(curriculum, backend="process") as server:
        client = server.client()            # picklable: give it to every worker
        envs = AsyncVectorEnv([lambda: CurriculumWrapper(TaskWrapper(make_env(), space), client)] * 8)
        ...                                 # the training loop, maybe calling server.curriculum.metrics()
        envs.close()                        # delivers what the workers still buffered
        server.flush()                      # every report sent so far is applied

See :mod:`syllabus_like.server.local`, :mod:`~syllabus_like.server.process`
and :mod:`~syllabus_like.server.ray_backend` for what each backend does, and
:mod:`syllabus_like.server.client` for how remote clients batch reports and
prefetch tasks.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from syllabus_like.curricula import Curriculum
from syllabus_like.server.backend import Backend
from syllabus_like.server.options import ClientOptions
from syllabus_like.server.protocol import TaskServerError

__all__ = ["BACKENDS", "TaskServer"]

logger = logging.getLogger(__name__)

#: The backend names TaskServer accepts.
BACKENDS = ("local", "process", "ray")


def _backend_class(backend: str) -> Any:
    """The class of backend ``backend``, imported on demand (the Ray backend imports ray when constructed)."""
    if backend == "local":
        from syllabus_like.server.local import LocalBackend

        return LocalBackend
    if backend == "process":
        from syllabus_like.server.process import ProcessBackend

        return ProcessBackend
    from syllabus_like.server.ray_backend import RayBackend

    return RayBackend


class TaskServer:
    """Serve ``curriculum`` to environments through the chosen ``backend``.

    Args:
        curriculum: the :class:`~syllabus_like.Curriculum` to serve. With the
            ``"ray"`` backend it is copied into a Ray actor, so keep using
            ``server.curriculum``, not the original object.
        backend: ``"local"`` (environments in this process, e.g. a
            SyncVectorEnv), ``"process"`` (environments in other processes on
            this machine, e.g. an AsyncVectorEnv) or ``"ray"`` (Ray tasks and
            actors, on any node of the cluster ``ray.init`` connected to).
        prefetch: tasks each remote client asks for at a time and keeps
            ready: a non-negative int, or ``"auto"`` to size it to the
            environment's speed (see :mod:`syllabus_like.server.client`).
            Default: 1 for ``"process"``, ``"auto"`` for ``"ray"`` (an actor
            call costs far more than a socket message).
            ``server.client(prefetch=...)`` overrides it per client.
        batch_size: reports a remote client buffers at most before sending them
            on their own (they usually travel with the next task request).
        timeout: seconds a remote client waits for a reply before raising
            :class:`TaskServerError` (None: forever).
        ray_actor_options: options for the Ray actor holding the curriculum
            (default ``{"num_cpus": 0}``), e.g. to pin it to a node.

    ``server.curriculum`` is, for ``"local"`` and ``"process"``, a view of the
    curriculum whose calls hold the server's lock (so the training loop never
    races with workers' reports) and, for ``"ray"``, a proxy forwarding calls
    to the actor. If the curriculum raises while serving workers, the training
    process gets that exception on its next server call (``server.curriculum``,
    :meth:`flush`, :meth:`client`, or :meth:`close` if none came before).
    """

    def __init__(
        self,
        curriculum: Curriculum,
        backend: str = "local",
        *,
        prefetch: int | str | None = None,
        batch_size: int = 256,
        timeout: float | None = 120.0,
        ray_actor_options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(curriculum, Curriculum):
            raise TypeError(f"TaskServer needs a Curriculum (e.g. DomainRandomization(task_space)), got {curriculum!r}")
        if backend not in BACKENDS:
            raise ValueError(
                f"unknown task-server backend {backend!r}; expected one of {', '.join(map(repr, BACKENDS))}"
            )
        if ray_actor_options is not None:
            if backend != "ray":
                raise ValueError(f"ray_actor_options only applies to backend='ray', not {backend!r}")
            if not isinstance(ray_actor_options, dict):
                raise TypeError(f"ray_actor_options must be a dict of Ray actor options, got {ray_actor_options!r}")

        backend_class = _backend_class(backend)
        # Checked here, once, for every backend (each remote backend owns its default prefetch).
        self._options = ClientOptions(
            prefetch=backend_class.default_prefetch if prefetch is None else prefetch,
            batch_size=batch_size,
            timeout=timeout,
        )
        self._closed = False
        if backend == "local":
            self._backend: Backend = backend_class(curriculum)
        elif backend == "process":
            self._backend = backend_class(curriculum, self._options)
        else:
            self._backend = backend_class(curriculum, self._options, actor_options=ray_actor_options)

    # ------------------------------------------------------------------ API
    @property
    def backend(self) -> str:
        """The backend's name: ``"local"``, ``"process"`` or ``"ray"``."""
        return self._backend.name

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def curriculum(self) -> Any:
        """The served curriculum: a lock-guarded view (local, process) or an actor proxy (ray)."""
        return self._backend.curriculum

    def client(self, *, prefetch: int | str | None = None, batch_size: int | None = None) -> Any:
        """A new client for :class:`~syllabus_like.wrappers.CurriculumWrapper` (picklable except for ``"local"``).

        ``prefetch`` and ``batch_size`` override the server's defaults for this client.
        """
        self._check_usable()
        options = self._options.overridden(prefetch=prefetch, batch_size=batch_size)  # checked here for every backend
        return self._backend.client(prefetch=options.prefetch, batch_size=options.batch_size)

    def flush(self, timeout: float | None = None) -> None:
        """Return once every report already sent by any client has been applied.

        Reports still buffered inside clients are not sent by this; they go
        with the clients' next requests, their ``flush()`` or ``close()``
        (which ``CurriculumWrapper.close()`` calls). Raises ``TimeoutError``
        after ``timeout`` seconds, and the curriculum's exception if it failed.
        """
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
            raise ValueError(f"timeout must be a non-negative number of seconds or None, got {timeout!r}")
        self._check_usable()
        self._backend.flush(timeout)
        self._backend.raise_failure()  # a report applied during the flush may have failed

    def close(self) -> None:
        """Apply what clients already sent, stop serving and release every resource. Idempotent.

        Raises the curriculum's exception if it failed and the training process
        was not told yet.
        """
        if self._closed:
            return
        self._closed = True
        self._backend.close()
        self._backend.raise_failure(only_unraised=True)

    # -------------------------------------------------------------- helpers
    def _check_usable(self) -> None:
        if self._closed:
            raise TaskServerError(f"this TaskServer (backend={self.backend!r}) is closed")
        self._backend.raise_failure()

    def __enter__(self) -> TaskServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
            return
        try:  # do not hide the exception that ended the with-block
            self.close()
        except BaseException as close_error:
            logger.error("TaskServer.close() failed while handling another exception: %r", close_error)

    def __reduce__(self) -> Any:
        raise TypeError("a TaskServer cannot be pickled; give environments and workers server.client() instead")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"TaskServer(backend={self.backend!r}, {state})"
