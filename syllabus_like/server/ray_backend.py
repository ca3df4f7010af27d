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

**Stage switches reach the workers at once.** Prefetched tasks would keep a
worker on a finished stage for up to ~0.1 s of episodes, so the actor numbers
the curriculum's distributions: the number goes up when the curriculum raises
its :attr:`~syllabus_like.Curriculum.distribution_version` (a
:class:`~syllabus_like.SequentialCurriculum`'s stage switch), when the trainer
sets an attribute or calls ``load_state_dict`` through ``server.curriculum``.
Every reply carries the number its tasks were sampled under, and clients
learn of a new number the moment it exists, without a round trip: on the
actor's node the actor keeps it in a file in shared memory (``/dev/shm``),
which clients map and read at each use (a few hundred nanoseconds); on other
nodes a small second actor (:class:`VersionBoard`) answers the one call each
client keeps pending there, and the client checks at each use whether it
returned. A client then drops the tasks it prefetched, ignores tasks still in
flight from before, and asks for fresh ones: a switch costs each worker one
wait for new tasks, and at most the episodes it started while the news
travelled.

``server.curriculum.log_metrics(writer)`` collects the scalars in the actor
and writes them here, with the trainer's writer (which stays in the trainer).

**Where clients work.** In Ray tasks and actors a client uses the worker's
connection. In any other process (e.g. a spawned ``AsyncVectorEnv`` worker)
an unpickled client connects that process to the server's cluster (its
address and namespace travel with the client); a process *forked* from one
that runs Ray cannot use Ray at all, and a client used there says so (start
such workers with ``context="spawn"`` or ``"forkserver"``).

**Curricula from the user's own modules.** When the actor cannot be built
because the workers cannot import a module of the curriculum's code (e.g. one
found through a ``sys.path`` entry added by the script), the backend pickles
that module by value (``cloudpickle.register_pickle_by_value``) and tries
again, unless it lives among installed packages; then the error is a
:class:`TaskServerError` that says to ship the code with Ray's ``runtime_env``.
Every failure of the actors themselves (a crash, ``ray.kill``, a node lost)
reaches the trainer as :class:`TaskServerError` with Ray's error as its cause;
exceptions raised by the curriculum keep their own class, as above.

``server.flush()`` waits for every report the actor has received. A report
is sure to have been received once the client that sent it returned from
``flush()`` or ``close()`` (which ``CurriculumWrapper.close()`` calls), since
Ray does not order calls made by different processes.
"""

from __future__ import annotations

import functools
import logging
import mmap
import os
import pickle
import re
import sys
import uuid
from collections import deque
from typing import Any

from syllabus_like.curricula.metric_writer import write_scalars
from syllabus_like.server.client import BufferedClient
from syllabus_like.server.host import CurriculumHost
from syllabus_like.server.options import ClientOptions
from syllabus_like.server.protocol import BadRequest, TaskServerError

__all__ = ["CurriculumActor", "RayBackend", "RayClient", "RayCurriculumProxy", "VersionBoard"]

logger = logging.getLogger(__name__)

#: How many modules the backend pickles by value, at most, before giving up on building the actor.
_MAX_BY_VALUE_MODULES = 8
_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError("TaskServer(backend='ray') needs Ray: pip install 'syllabus-like[ray]'") from error
    return ray


# A process forked from one that runs Ray inherits Ray's state but not a working
# connection: Ray says it is initialized there, and calls hang. Mark such children.
_forked_from_ray = False


def _after_fork_in_child() -> None:
    global _forked_from_ray
    ray = sys.modules.get("ray")
    if ray is not None and (_forked_from_ray or ray.is_initialized()):
        _forked_from_ray = True


os.register_at_fork(after_in_child=_after_fork_in_child)


#: Where the actor keeps the distribution's number for clients on its own node (none where this does not exist).
_SHARED_DIR = "/dev/shm"


def _map_version_file(path: str | None, writable: bool = False) -> Any:
    """A one-int64 view of the actor's version file, or None if this process cannot see it (another node)."""
    if path is None:
        return None
    try:
        with open(path, "r+b" if writable else "rb") as file:
            mapped = mmap.mmap(file.fileno(), 8, access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    return memoryview(mapped).cast("q")


def _ray_get(ray: Any, reference: Any, timeout: float | None = None) -> Any:
    """``ray.get``, with the actors' own failures turned into TaskServerError (the curriculum's pass)."""
    try:
        return ray.get(reference, timeout=timeout)
    except ray.exceptions.RayTaskError:
        raise  # the curriculum's exception, as an instance of its class
    except ray.exceptions.GetTimeoutError:
        raise
    except ray.exceptions.RayError as error:
        raise TaskServerError(
            f"the task server's Ray actor failed or is gone: {type(error).__name__}: {error}"
        ) from error


def _ensure_ray(address: str | None, namespace: str | None) -> Any:
    """Ray, connected: as it is in a Ray worker or driver; otherwise joined to the server's cluster."""
    ray = _import_ray()
    if _forked_from_ray:
        raise TaskServerError(
            "a Ray task-server client cannot be used in a process forked from a process running Ray (Ray does "
            "not survive a fork): start the worker processes with 'spawn' or 'forkserver' (e.g. "
            "AsyncVectorEnv(..., context='spawn')), where the client joins the cluster itself, or run the "
            "environments as Ray tasks or actors"
        )
    if ray.is_initialized():
        return ray
    if address is None:
        raise TaskServerError(
            "this process is not connected to Ray and the client does not know the cluster's address: "
            "call ray.init(address=...) in this process before using the client"
        )
    try:
        ray.init(address=address, namespace=namespace, log_to_driver=False)
    except Exception as error:
        raise TaskServerError(
            f"this process is not a Ray worker, and joining the task server's Ray cluster at {address} failed "
            f"({type(error).__name__}: {error}); call ray.init(address=...) in this process first, or run the "
            "environments as Ray tasks or actors"
        ) from error
    return ray


#: What a request gets from an actor whose server is closing.
_CLOSED_MESSAGE = "the task server was closed: its Ray actor serves no more requests"


class CurriculumActor:
    """What runs inside the Ray actor: a :class:`CurriculumHost` and the calls clients and the proxy make."""

    def __init__(self, curriculum: Any, board: Any = None) -> None:
        self.host = CurriculumHost(curriculum)
        self._board = board
        self._closed = False  # set by shut_down
        #: The number of the distribution tasks are sampled from now (see the module docstring).
        self.version = 0
        self._signalled = getattr(curriculum, "distribution_version", 0)
        # The same number in a file in shared memory, which clients on this node read at every use.
        self.version_path: str | None = None
        self._shared: Any = None
        if os.path.isdir(_SHARED_DIR):
            path = os.path.join(_SHARED_DIR, f"syllabus_like_version_{uuid.uuid4().hex}")
            try:
                with open(path, "wb") as file:
                    file.write(bytes(8))
            except OSError:
                logger.warning("task server: cannot create %s; clients learn of changes from the board alone", path)
            else:
                self.version_path = path
                self._shared = _map_version_file(path, writable=True)

    def _note_version(self, changed: bool = False) -> int:
        """Raise :attr:`version` if the distribution changed (or ``changed``), telling the board; return it."""
        signalled = getattr(self.host.curriculum, "distribution_version", 0)
        if changed or signalled != self._signalled:
            self._signalled = signalled
            self.version += 1
            if self._shared is not None:
                self._shared[0] = self.version
            if self._board is not None:
                self._board.publish.remote(self.version)
        return self.version

    def serve(self, reports: list[tuple], num_tasks: int, wants_reply: bool) -> tuple[bool, Any, bool, int]:
        """Apply a client's request (see :mod:`syllabus_like.server.protocol`) and return its reply.

        The reply has a fourth field: the number of the distribution its tasks come from.
        """
        host = self.host
        if self._closed:
            return False, _CLOSED_MESSAGE, False, self.version
        if host.failure is not None:
            return False, host.failure_message(), False, self.version
        try:
            tasks, requires_step_updates = host.serve(reports, num_tasks)
        except BadRequest as error:  # refused to this client alone; the server keeps serving
            logger.warning("task server: refused a request: %s", error)
            message = f"the task server refused a request of this client: {error}"
            return False, message, host.requires_step_updates(), self.version
        except Exception:
            logger.exception("task server: the curriculum raised while serving a client")
            return False, host.failure_message(), False, self.version
        return True, tasks, requires_step_updates, self._note_version()

    def requires_step_updates(self) -> bool:
        return self.host.requires_step_updates()

    def client_settings(self) -> tuple[bool, int, str | None]:
        """What a new client starts from: ``requires_step_updates``, the distribution's number, its file."""
        return self.host.requires_step_updates(), self.version, self.version_path

    def shut_down(self) -> None:
        """Refuse every later request and delete the shared version file (at close).

        The actor is killed next, but a kill takes effect a moment later, and
        until then a client's request would still be served. Clients that
        mapped the file keep their view of it.
        """
        self._closed = True
        if self.version_path is not None:
            try:
                os.unlink(self.version_path)
            except OSError:
                pass

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
        if args is None:
            return value
        try:
            return value(*args, **kwargs)
        finally:  # e.g. an update that switched the stage; a loaded state may be any distribution
            self._note_version(changed=name == "load_state_dict")

    def set_attribute(self, name: str, value: Any) -> None:
        self.host.raise_failure()
        try:
            setattr(self.host.curriculum, name, value)
        finally:  # the trainer may have set anything the distribution depends on
            self._note_version(changed=True)

    def log_metrics(self, logs: Any, step: Any, log_n_tasks: Any) -> tuple[list, Any]:
        """The curriculum's ``log_metrics`` into a collector: the writes to replay, and its result."""
        self.host.raise_failure()
        collector = _ScalarCollector()
        with self.host.lock:
            items = self.host.curriculum.log_metrics(collector, logs, step, log_n_tasks)
        return collector.writes, items

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


class _ScalarCollector:
    """A TensorBoard-style writer that keeps what is written: ``[(scalars, step), ...]`` in order."""

    def __init__(self) -> None:
        self.writes: list[tuple[dict[str, float], Any]] = []

    def add_scalar(self, tag: str, value: float, step: Any = None) -> None:
        writes = self.writes
        if writes and writes[-1][1] == step and tag not in writes[-1][0]:
            writes[-1][0][tag] = value
        else:
            writes.append(({tag: value}, step))


class VersionBoard:
    """A second, asynchronous actor that tells clients the moment the distribution's number goes up.

    Each client keeps one :meth:`newer_than` call pending; the curriculum's
    actor calls :meth:`publish` (fire-and-forget) on every change, which
    returns all the pending calls at once.
    """

    def __init__(self) -> None:
        self.version = 0
        self._changed: Any = None  # an asyncio.Event, made inside the actor's event loop

    async def publish(self, version: int) -> None:
        if version > self.version:
            self.version = version
            changed, self._changed = self._changed, None
            if changed is not None:
                changed.set()

    async def newer_than(self, known: int) -> int:
        """Return the current number once it is above ``known``."""
        import asyncio

        while self.version <= known:
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()
        return self.version


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
            kind = _ray_get(ray, actor.attribute_kind.remote(name))
            if kind is None:
                raise AttributeError(f"the served curriculum has no attribute {name!r}")
            if kind == "method":  # methods stay methods; values are read afresh every time
                kinds[name] = kind
        if kind == "method":
            return functools.partial(self._call, name)
        return _ray_get(ray, actor.call.remote(name, None, None))

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        actor = object.__getattribute__(self, "_actor")
        return _ray_get(_import_ray(), actor.call.remote(name, args, kwargs))

    def log_metrics(
        self,
        writer: Any,
        logs: list[tuple[str, float]] | None = None,
        step: int | None = None,
        log_n_tasks: int = 1,
    ) -> list[tuple[str, float]]:
        """:meth:`Curriculum.log_metrics <syllabus_like.Curriculum.log_metrics>` with ``writer`` in this process.

        The curriculum writes into a collector in the actor; its scalars come
        back and are written here, in the same order and steps, so a
        TensorBoard ``SummaryWriter``, a wandb run or a callable never leaves
        the trainer. Returns what the curriculum's ``log_metrics`` returned.
        """
        actor = object.__getattribute__(self, "_actor")
        writes, items = _ray_get(_import_ray(), actor.log_metrics.remote(logs, step, log_n_tasks))
        for scalars, write_step in writes:
            write_scalars(writer, scalars, write_step)
        if not writes:  # nothing to write, but a writer of the wrong kind is still an error, as in-process
            write_scalars(writer, {}, step)
        return items

    def __setattr__(self, name: str, value: Any) -> None:
        actor = object.__getattribute__(self, "_actor")
        _ray_get(_import_ray(), actor.set_attribute.remote(name, value))

    def __repr__(self) -> str:
        return f"RayCurriculumProxy({object.__getattribute__(self, '_actor')!r})"


class RayClient(BufferedClient):
    """A handle on a ``"ray"`` task server, usable from any Ray task or actor (see :class:`BufferedClient`).

    Also usable from a process that is not a Ray worker: unpickled there, it
    joins the server's cluster (``address``, ``namespace``), or raises
    :class:`TaskServerError` saying what to do. It drops prefetched tasks as
    soon as the curriculum's distribution changes (see the module docstring).
    """

    def __init__(
        self,
        actor: Any,
        *,
        prefetch: int | str = "auto",
        batch_size: int = 256,
        timeout: float | None = 120.0,
        requires_step_updates: bool = False,
        board: Any = None,
        version: int = 0,
        version_path: str | None = None,
        address: str | None = None,
        namespace: str | None = None,
    ) -> None:
        self._version_path = version_path
        self._shared: Any = _UNMAPPED
        self._address = address
        self._namespace = namespace
        if isinstance(actor, bytes) or isinstance(board, bytes):  # unpickled: connect this process first
            _ensure_ray(address, namespace)
            actor = pickle.loads(actor) if isinstance(actor, bytes) else actor
            board = pickle.loads(board) if isinstance(board, bytes) else board
        self._actor = actor
        self._board = board
        #: The number of the distribution the queued tasks were sampled from.
        self._version = int(version)
        super().__init__(
            prefetch=prefetch, batch_size=batch_size, timeout=timeout, requires_step_updates=requires_step_updates
        )

    def _reset_state(self) -> None:
        super()._reset_state()
        self._reply_refs: deque = deque()
        self._watch: Any = None  # a concurrent Future of the pending VersionBoard.newer_than call

    def _before_use(self) -> None:
        if _forked_from_ray:
            _ensure_ray(self._address, self._namespace)  # raises, saying what to do
        shared = self._shared
        if shared is _UNMAPPED:
            shared = self._shared = _map_version_file(self._version_path)
        if shared is not None:  # on the actor's node: read the number where it is kept
            version = shared[0]
            if version > self._version:
                self._adopt(version)
            return
        watch = self._watch
        if watch is None:
            if self._board is not None:
                self._watch = self._board.newer_than.remote(self._version).future()
        elif watch.done():
            self._watch = None
            try:
                version = watch.result()
            except Exception:  # the board is gone (server closed): the actor's replies tell the rest
                self._board = None
                return
            if version > self._version:
                self._adopt(version)
            self._watch = self._board.newer_than.remote(self._version).future()

    def _adopt(self, version: int) -> None:
        """Move to distribution ``version``: drop the queued tasks, and those in flight when they arrive."""
        logger.debug("task-server client: the distribution changed (%d -> %d)", self._version, version)
        self._version = version
        self._tasks.clear()
        self._tasks_in_flight = 0
        self._pending_replies = deque(0 for _ in self._pending_replies)

    def _send(self, reports: list[tuple], num_tasks: int, wants_reply: bool) -> None:
        reference = self._actor.serve.remote(reports, num_tasks, wants_reply)
        if wants_reply:
            self._reply_refs.append(reference)

    def _receive_reply(self) -> tuple[bool, Any, bool]:
        ray = _import_ray()
        reference = self._reply_refs.popleft()
        try:
            ok, payload, requires_step_updates, version = ray.get(reference, timeout=self.timeout)
        except ray.exceptions.GetTimeoutError as error:
            raise TaskServerError(f"no reply from the task server's Ray actor within {self.timeout} s") from error
        except ray.exceptions.RayActorError as error:
            raise TaskServerError(f"the task server's Ray actor is gone (server closed or crashed): {error}") from error
        if version > self._version:
            self._adopt(version)
        elif version < self._version and ok:
            payload = []  # sampled before a change this client already knows of
        return ok, payload, requires_step_updates

    def _config(self) -> dict[str, Any]:
        return {
            "actor": self._actor,
            "board": self._board,
            "version": self._version,
            "version_path": self._version_path,
            "address": self._address,
            "namespace": self._namespace,
            **super()._config(),
        }

    def __getstate__(self) -> dict[str, Any]:
        # The handles travel as bytes, loaded once Ray is connected in the receiving process.
        state = self._config()
        state["actor"] = pickle.dumps(self._actor)
        state["board"] = None if self._board is None else pickle.dumps(self._board)
        return state

    def __repr__(self) -> str:
        return f"RayClient({self._actor!r}, prefetch={self.prefetch})"


_UNMAPPED = object()


def _by_value_candidate(module_name: str) -> Any:
    """The top-level module of ``module_name`` if it is user code loaded here (not an installed package), else None."""
    module = sys.modules.get(module_name.split(".")[0])
    path = getattr(module, "__file__", None)
    if module is None or path is None:
        return None
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return None
    return module


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
        context = ray.get_runtime_context()
        self._address: str | None = getattr(context, "gcs_address", None)
        self._namespace: str | None = getattr(context, "namespace", None)
        self._board = ray.remote(VersionBoard).options(num_cpus=0, max_concurrency=10_000).remote()
        self._actor = self._start_actor(ray, curriculum, {"num_cpus": 0, **(actor_options or {})})
        self.curriculum = RayCurriculumProxy(self._actor)
        self._version_path: str | None = _ray_get(ray, self._actor.client_settings.remote())[2]
        self._closed = False
        self._final_failure: BaseException | None = None

    def _start_actor(self, ray: Any, curriculum: Any, actor_options: dict[str, Any]) -> Any:
        """The curriculum's actor, up; the modules of the user's own code the workers lack go by value."""
        from ray import cloudpickle

        by_value: set[str] = set()
        for _ in range(_MAX_BY_VALUE_MODULES + 1):
            actor = ray.remote(CurriculumActor).options(**actor_options).remote(curriculum, self._board)
            try:
                _ray_get(ray, actor.flush.remote())  # the actor is up, and the curriculum arrived intact
                return actor
            except TaskServerError as error:
                ray.kill(actor, no_restart=True)
                match = _MISSING_MODULE.search(str(error.__cause__))
                if match is None:
                    ray.kill(self._board, no_restart=True)
                    raise TaskServerError(f"the task server's Ray actor could not be started: {error.__cause__}") from (
                        error.__cause__
                    )
                missing = match.group(1)
                module = _by_value_candidate(missing)
                if module is None or module.__name__ in by_value:
                    ray.kill(self._board, no_restart=True)
                    raise TaskServerError(
                        f"the Ray workers cannot import module {missing!r}, which the curriculum's code needs. "
                        "Ship the code to the cluster with Ray's runtime_env, e.g. ray.init(runtime_env="
                        "{'py_modules': [<your module or package>]}) or runtime_env={'working_dir': '.'}, "
                        "or install it on every node"
                    ) from error.__cause__
                logger.info("task server: pickling module %r by value for the Ray workers", module.__name__)
                cloudpickle.register_pickle_by_value(module)
                by_value.add(module.__name__)
        ray.kill(self._board, no_restart=True)
        raise TaskServerError(
            f"the task server's Ray actor could not be started after pickling {_MAX_BY_VALUE_MODULES} modules "
            "by value; ship the curriculum's code to the cluster with Ray's runtime_env"
        )

    def client(self, prefetch: int | str | None = None, batch_size: int | None = None) -> RayClient:
        ray = _import_ray()
        options = self.options.overridden(prefetch=prefetch, batch_size=batch_size)
        requires_step_updates, version, version_path = _ray_get(ray, self._actor.client_settings.remote())
        return RayClient(
            self._actor,
            prefetch=options.prefetch,
            batch_size=options.batch_size,
            timeout=options.timeout,
            requires_step_updates=requires_step_updates,
            board=self._board,
            version=version,
            version_path=version_path,
            address=self._address,
            namespace=self._namespace,
        )

    def raise_failure(self, only_unraised: bool = False) -> None:
        if self._closed:
            failure, self._final_failure = self._final_failure, None
            if failure is not None:
                raise failure
            return
        _ray_get(_import_ray(), self._actor.raise_failure.remote(only_unraised))

    def flush(self, timeout: float | None = None) -> None:
        ray = _import_ray()
        try:
            _ray_get(ray, self._actor.flush.remote(), timeout=timeout)
        except ray.exceptions.GetTimeoutError as error:
            raise TimeoutError(f"task server flush did not finish within {timeout} s") from error

    def close(self) -> None:
        if self._closed:
            return
        ray = _import_ray()
        try:
            self._final_failure = ray.get(self._actor.unraised_failure.remote())
            ray.get(self._actor.shut_down.remote())
        except ray.exceptions.RayActorError as error:
            logger.error("task server: the Ray actor was already gone at close: %s", error)
        finally:
            self._closed = True
            ray.kill(self._actor, no_restart=True)
            ray.kill(self._board, no_restart=True)
            if self._version_path is not None:  # in case the actor was gone before it could (same node only)
                try:
                    os.unlink(self._version_path)
                except OSError:
                    pass
