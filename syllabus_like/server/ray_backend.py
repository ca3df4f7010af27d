"""The ``"ray"`` backend: the curriculum in a Ray actor, environments anywhere on the cluster.

The curriculum is copied into a Ray actor (``num_cpus=0`` by default, so it
does not take a CPU from the workers). Clients hold the actor's handle, so they
work from Ray tasks and actors on any node of the cluster that ``ray.init``
(or ``ray.init(address=...)``) connected to. Reports are fire-and-forget actor
calls, batched with task requests as described in
:mod:`syllabus_like.server.client`; Ray runs one caller's calls to an actor in
the order they were made, so each client's reports are applied in order.
Each actor call costs far more than a socket message (around a millisecond of
CPU in all), so clients default to ``prefetch="auto"``: one request carries
enough tasks for about 0.1 s of the worker's resets, which is one task for
environments slower than that and up to 256 for very fast ones.

``server.curriculum`` is a proxy: ``server.curriculum.metrics()`` runs
``metrics()`` in the actor and returns its result; reading a plain attribute
returns its current value. When the curriculum raised while serving workers,
the next call through the proxy (or ``server.flush()``) raises that exception
(as Ray's ``RayTaskError``, which is an instance of the original exception
class), and workers get a :class:`TaskServerError` on their next request.

``server.flush()`` waits for every report the actor has received. A report
is sure to have been received once the client that sent it returned from
``flush()`` or ``close()`` (which ``CurriculumWrapper.close()`` calls), since
Ray does not order calls made by different processes.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from typing import Any

from syllabus_like.server.client import BufferedClient
from syllabus_like.server.host import CurriculumHost
from syllabus_like.server.options import ClientOptions
from syllabus_like.server.protocol import BadRequest, TaskServerError

__all__ = ["CurriculumActor", "RayBackend", "RayClient", "RayCurriculumProxy"]

logger = logging.getLogger(__name__)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError("TaskServer(backend='ray') needs Ray: pip install 'syllabus-like[ray]'") from error
    return ray


class CurriculumActor:
    """What runs inside the Ray actor: a :class:`CurriculumHost` and the calls clients and the proxy make."""

    def __init__(self, curriculum: Any) -> None:
        self.host = CurriculumHost(curriculum)

    def serve(self, reports: list[tuple], num_tasks: int, wants_reply: bool) -> tuple[bool, Any, bool]:
        """Apply a client's request (see :mod:`syllabus_like.server.protocol`) and return its reply."""
        host = self.host
        if host.failure is not None:
            return False, host.failure_message(), False
        try:
            tasks, requires_step_updates = host.serve(reports, num_tasks)
        except BadRequest as error:  # refused to this client alone; the server keeps serving
            logger.warning("task server: refused a request: %s", error)
            message = f"the task server refused a request of this client: {error}"
            return False, message, host.requires_step_updates()
        except Exception:
            logger.exception("task server: the curriculum raised while serving a client")
            return False, host.failure_message(), False
        return True, tasks, requires_step_updates

    def requires_step_updates(self) -> bool:
        return self.host.requires_step_updates()

    def attribute_kind(self, name: str) -> str | None:
        """``"method"``, ``"value"`` or None (no such attribute) for the proxy."""
        value = getattr(self.host.curriculum, name, _MISSING)
        if value is _MISSING:
            return None
        return "method" if callable(value) and not isinstance(value, type) else "value"

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        """Call method ``name`` of the curriculum, or read attribute ``name`` when ``args`` is None."""
        self.host.raise_failure()
        value = getattr(self.host.curriculum, name)
        return value if args is None else value(*args, **kwargs)

    def set_attribute(self, name: str, value: Any) -> None:
        self.host.raise_failure()
        setattr(self.host.curriculum, name, value)

    def raise_failure(self, only_unraised: bool = False) -> None:
        self.host.raise_failure(only_unraised)

    def unraised_failure(self) -> BaseException | None:
        """The recorded failure if it was never raised in the training process (marking it raised)."""
        if self.host.failure is None:
            return None
        try:
            self.host.raise_failure(only_unraised=True)
        except BaseException as error:
            return error
        return None

    def flush(self) -> None:
        """Runs after everything this actor received before it; raises nothing."""


_MISSING = object()


class RayCurriculumProxy:
    """``server.curriculum`` for the Ray backend: forwards attribute reads and method calls to the actor."""

    def __init__(self, actor: Any) -> None:
        object.__setattr__(self, "_actor", actor)
        object.__setattr__(self, "_kinds", {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        ray = _import_ray()
        actor = object.__getattribute__(self, "_actor")
        kinds: dict = object.__getattribute__(self, "_kinds")
        kind = kinds.get(name)
        if kind is None:
            kind = ray.get(actor.attribute_kind.remote(name))
            if kind is None:
                raise AttributeError(f"the served curriculum has no attribute {name!r}")
            if kind == "method":  # methods stay methods; values are read afresh every time
                kinds[name] = kind
        if kind == "method":
            return functools.partial(self._call, name)
        return ray.get(actor.call.remote(name, None, None))

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        actor = object.__getattribute__(self, "_actor")
        return _import_ray().get(actor.call.remote(name, args, kwargs))

    def __setattr__(self, name: str, value: Any) -> None:
        actor = object.__getattribute__(self, "_actor")
        _import_ray().get(actor.set_attribute.remote(name, value))

    def __repr__(self) -> str:
        return f"RayCurriculumProxy({object.__getattribute__(self, '_actor')!r})"


class RayClient(BufferedClient):
    """A handle on a ``"ray"`` task server, usable from any Ray task or actor (see :class:`BufferedClient`)."""

    def __init__(
        self,
        actor: Any,
        *,
        prefetch: int | str = "auto",
        batch_size: int = 256,
        timeout: float | None = 120.0,
        requires_step_updates: bool = False,
    ) -> None:
        self._actor = actor
        super().__init__(
            prefetch=prefetch, batch_size=batch_size, timeout=timeout, requires_step_updates=requires_step_updates
        )

    def _reset_state(self) -> None:
        super()._reset_state()
        self._reply_refs: deque = deque()

    def _send(self, reports: list[tuple], num_tasks: int, wants_reply: bool) -> None:
        reference = self._actor.serve.remote(reports, num_tasks, wants_reply)
        if wants_reply:
            self._reply_refs.append(reference)

    def _receive_reply(self) -> tuple[bool, Any, bool]:
        ray = _import_ray()
        reference = self._reply_refs.popleft()
        try:
            return ray.get(reference, timeout=self.timeout)
        except ray.exceptions.GetTimeoutError as error:
            raise TaskServerError(f"no reply from the task server's Ray actor within {self.timeout} s") from error
        except ray.exceptions.RayActorError as error:
            raise TaskServerError(f"the task server's Ray actor is gone (server closed or crashed): {error}") from error

    def _config(self) -> dict[str, Any]:
        return {"actor": self._actor, **super()._config()}

    def __repr__(self) -> str:
        return f"RayClient({self._actor!r}, prefetch={self.prefetch})"


class RayBackend:
    """Hosts the curriculum in a Ray actor; see the module docstring."""

    name = "ray"
    #: An actor call costs far more than a socket message: size requests to the env's pace.
    default_prefetch = "auto"

    def __init__(self, curriculum: Any, options: ClientOptions, *, actor_options: dict[str, Any] | None = None) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            raise RuntimeError(
                "TaskServer(backend='ray') needs a running Ray: call ray.init() (or ray.init(address=...) "
                "to join a cluster) first"
            )
        self.options = options
        self._actor = ray.remote(CurriculumActor).options(**{"num_cpus": 0, **(actor_options or {})}).remote(curriculum)
        self.curriculum = RayCurriculumProxy(self._actor)
        ray.get(self._actor.flush.remote())  # the actor is up, and the curriculum arrived intact
        self._closed = False
        self._final_failure: BaseException | None = None

    def client(self, prefetch: int | str | None = None, batch_size: int | None = None) -> RayClient:
        ray = _import_ray()
        options = self.options.overridden(prefetch=prefetch, batch_size=batch_size)
        return RayClient(
            self._actor,
            prefetch=options.prefetch,
            batch_size=options.batch_size,
            timeout=options.timeout,
            requires_step_updates=ray.get(self._actor.requires_step_updates.remote()),
        )

    def raise_failure(self, only_unraised: bool = False) -> None:
        if self._closed:
            failure, self._final_failure = self._final_failure, None
            if failure is not None:
                raise failure
            return
        _import_ray().get(self._actor.raise_failure.remote(only_unraised))

    def flush(self, timeout: float | None = None) -> None:
        ray = _import_ray()
        try:
            ray.get(self._actor.flush.remote(), timeout=timeout)
        except ray.exceptions.GetTimeoutError as error:
            raise TimeoutError(f"task server flush did not finish within {timeout} s") from error

    def close(self) -> None:
        if self._closed:
            return
        ray = _import_ray()
        try:
            self._final_failure = ray.get(self._actor.unraised_failure.remote())
        except ray.exceptions.RayActorError as error:
            logger.error("task server: the Ray actor was already gone at close: %s", error)
        finally:
            self._closed = True
            ray.kill(self._actor, no_restart=True)
