"""The ``"process"`` backend: environments in other processes on this machine.

The curriculum stays in the training process. Workers (AsyncVectorEnv
sub-processes, ``multiprocessing`` processes started with fork, spawn or
forkserver) connect to a :mod:`multiprocessing.connection` listener on a Unix
socket in a private temporary directory (loopback TCP where Unix sockets are
missing), authenticated with a random key that travels inside the pickled
client.

Two daemon threads run in the training process:

* the **acceptor** blocks in ``Listener.accept()`` (which performs the
  authentication handshake) and hands each new connection to the dispatcher;
* the **dispatcher** blocks in a selector over every connection and a wake-up
  socket. It is event-driven, never polling with sleeps: a request is applied
  to the curriculum under the host's lock (shared with ``server.curriculum``,
  so the training loop's own calls never race with workers' reports) and
  answered at once.

A worker that dies, even by SIGKILL, simply closes its socket: the dispatcher
drops the connection and keeps serving; every request it had fully sent was
applied. A new worker (or a restarted one) connects with a copy of the same
client. When the curriculum raises, the requesting worker gets an error reply
at once, every later request gets the same, and the training process gets the
exception on its next server call. If a thread of the server itself crashes,
its exception is recorded the same way and every connection is closed, so no
worker waits on a dead server.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import selectors
import shutil
import socket
import tempfile
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from syllabus_like.server.channel import FrameChannel
from syllabus_like.server.client import BufferedClient
from syllabus_like.server.host import CurriculumHost, LockedCurriculum
from syllabus_like.server.protocol import TaskServerError
from syllabus_like.validation import check_positive_int, check_prefetch

__all__ = ["ProcessBackend", "ProcessClient"]

logger = logging.getLogger(__name__)

_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL
#: How long close() lets the dispatcher apply reports that are still arriving.
_CLOSE_DRAIN_SECONDS = 10.0


def _channel_from(connection: Connection) -> FrameChannel:
    """Take over the socket of an authenticated ``connection`` (which is closed)."""
    try:
        sock = socket.socket(fileno=os.dup(connection.fileno()))
    finally:
        connection.close()
    sock.setblocking(True)
    return FrameChannel(sock)


class ProcessClient(BufferedClient):
    """A picklable handle on a ``"process"`` task server (see :class:`BufferedClient`).

    Pickling keeps only the address, the key and the options; each unpickled
    copy opens its own connection on first use. A client used in a process
    forked after it connected starts afresh in the child: what the parent had
    buffered or prefetched stays with the parent.
    """

    def __init__(
        self,
        address: Any,
        authkey: bytes,
        *,
        prefetch: int | str = 1,
        batch_size: int = 256,
        timeout: float | None = 120.0,
        requires_step_updates: bool = False,
    ) -> None:
        self.address = address
        self._authkey = authkey
        self.timeout = timeout
        self._channel: FrameChannel | None = None
        self._pid = os.getpid()
        super().__init__(prefetch=prefetch, batch_size=batch_size, requires_step_updates=requires_step_updates)

    # ------------------------------------------------------------ transport
    def _before_use(self) -> None:
        if self._pid != os.getpid():
            # Forked from a process that used this client: its socket and its in-flight
            # requests belong to the parent.
            self._channel = None
            self._pid = os.getpid()
            self._reset_state()
        if self._channel is None:
            self._connect()

    def _connect(self) -> None:
        try:
            connection = Client(self.address, authkey=self._authkey)
        except AuthenticationError as error:
            raise TaskServerError(
                f"the task server at {self.address!r} rejected this client's key ({error}); "
                "is this client from another server?"
            ) from error
        except (OSError, EOFError) as error:
            raise TaskServerError(
                f"cannot reach the task server at {self.address!r} ({type(error).__name__}: {error}); "
                "was it closed, or is this client from another server?"
            ) from error
        self._channel = _channel_from(connection)
        self._channel.sock.settimeout(self.timeout)
        # The dispatcher greets each connection once it watches it. Waiting for the greeting
        # means that whatever this client sends later is covered by server.flush().
        self._pending_replies.append(0)
        self._take_reply()

    def _send(self, reports: list[tuple], num_tasks: int, wants_reply: bool) -> None:
        data = pickle.dumps((reports, num_tasks, wants_reply), _PICKLE_PROTOCOL)
        try:
            self._channel.send(data)  # type: ignore[union-attr]
        except OSError as error:
            self._drop_connection()
            raise TaskServerError(f"lost the connection to the task server at {self.address!r}: {error}") from error

    def _receive_reply(self) -> tuple[bool, Any, bool]:
        try:
            return pickle.loads(self._channel.receive())  # type: ignore[union-attr]
        except socket.timeout as error:
            self._drop_connection()
            raise TaskServerError(f"no reply from the task server at {self.address!r} within {self.timeout} s") from error
        except (EOFError, OSError) as error:
            self._drop_connection()
            raise TaskServerError(
                f"the task server at {self.address!r} closed the connection (server closed or failed)"
            ) from error

    def _drop_connection(self) -> None:
        channel, self._channel = self._channel, None
        self._reset_state()
        if channel is not None:
            channel.close()

    def _disconnect(self) -> None:
        if self._channel is not None and self._pid == os.getpid():
            self._channel.close()
        self._channel = None

    def _config(self) -> dict[str, Any]:
        return {"address": self.address, "authkey": self._authkey, "timeout": self.timeout, **super()._config()}

    def __repr__(self) -> str:
        state = "connected" if self._channel is not None else "not connected"
        return f"ProcessClient({self.address!r}, prefetch={self.prefetch}, {state})"


class ProcessBackend:
    """Serves a curriculum in this process to clients in other processes; see the module docstring."""

    name = "process"

    def __init__(
        self, curriculum: Any, *, prefetch: int | str = 1, batch_size: int = 256, timeout: float | None = 120.0
    ):
        self.host = CurriculumHost(curriculum)
        self.curriculum = LockedCurriculum(self.host)
        self.prefetch = prefetch
        self.batch_size = batch_size
        self.timeout = timeout
        self.closed = False
        self._close_lock = threading.Lock()

        self._authkey = os.urandom(32)
        self._directory: str | None = None
        if hasattr(socket, "AF_UNIX"):
            self._directory = tempfile.mkdtemp(prefix="syllabus-like-")
            self._listener = Listener(
                os.path.join(self._directory, "server"), family="AF_UNIX", backlog=128, authkey=self._authkey
            )
        else:
            self._listener = Listener(("127.0.0.1", 0), family="AF_INET", backlog=128, authkey=self._authkey)
        self.address = self._listener.address

        self._control: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_reader, selectors.EVENT_READ, None)
        self._channels: set[FrameChannel] = set()
        self._flush_waiters: list[threading.Event] = []
        self._stopping = False

        self._dispatcher = threading.Thread(target=self._dispatch_forever, name="task-server-dispatcher", daemon=True)
        self._acceptor = threading.Thread(target=self._accept_forever, name="task-server-acceptor", daemon=True)
        self._dispatcher.start()
        self._acceptor.start()

    # --------------------------------------------------------------- clients
    def client(self, prefetch: int | str | None = None, batch_size: int | None = None) -> ProcessClient:
        return ProcessClient(
            self.address,
            self._authkey,
            prefetch=self.prefetch if prefetch is None else check_prefetch(prefetch),
            batch_size=self.batch_size if batch_size is None else check_positive_int("batch_size", batch_size),
            timeout=self.timeout,
            requires_step_updates=self.host.requires_step_updates(),
        )

    # ------------------------------------------------------ the two threads
    def _accept_forever(self) -> None:
        try:
            while True:
                try:
                    connection = self._listener.accept()
                except (OSError, EOFError, AuthenticationError) as error:  # a bad key, or a client gone mid-handshake
                    if self._stopping:
                        return
                    logger.warning("task server: rejected a connection: %s: %s", type(error).__name__, error)
                    continue
                if self._stopping:
                    connection.close()
                    return
                self._control.put(("connect", connection))
                self._wake()
        except BaseException as error:
            self._crash(error, "acceptor")

    def _dispatch_forever(self) -> None:
        try:
            while True:
                quiet_check = bool(self._flush_waiters)
                events = self._selector.select(0 if quiet_check else None)
                if not events and quiet_check:
                    # Nothing readable anywhere: every report sent so far has been applied.
                    self._release_flush_waiters()
                    continue
                for key, _ in events:
                    if key.data is None:
                        if self._handle_control():
                            return
                    else:
                        self._handle_readable(key.data)
        except BaseException as error:
            self._crash(error, "dispatcher")
        finally:
            self._close_connections()
            self._release_flush_waiters()

    def _handle_control(self) -> bool:
        """Apply queued control messages; return True when the dispatcher must stop."""
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            pass
        stop = False
        while True:
            try:
                kind, payload = self._control.get_nowait()
            except queue.Empty:
                break
            if kind == "connect":
                self._add_connection(payload)
            elif kind == "flush":
                self._flush_waiters.append(payload)
            elif kind == "stop":
                stop = True
        if stop:
            self._drain(deadline=time.monotonic() + _CLOSE_DRAIN_SECONDS)
        return stop

    def _add_connection(self, connection: Connection) -> None:
        channel = _channel_from(connection)
        self._channels.add(channel)
        self._selector.register(channel, selectors.EVENT_READ, channel)
        if self.host.failure is not None:
            self._reply(channel, (False, self.host.failure_message(), False))
        else:
            self._reply(channel, (True, [], self.host.requires_step_updates()))

    def _handle_readable(self, channel: FrameChannel) -> None:
        try:
            open_ = channel.read()
        except OSError:
            open_ = False
        while channel in self._channels and (frame := channel.pop()) is not None:
            self._handle_request(channel, frame)
        if not open_:
            self._remove_channel(channel)  # the worker closed its client, exited or was killed

    def _handle_request(self, channel: FrameChannel, frame: bytes) -> None:
        try:
            reports, num_tasks, wants_reply = pickle.loads(frame)
        except Exception as error:
            logger.error("task server: dropping a client that sent an unreadable request: %r", error)
            self._remove_channel(channel)
            return
        if self.host.failure is not None:
            reply = (False, self.host.failure_message(), False)
        else:
            try:
                tasks, requires_step_updates = self.host.serve(reports, num_tasks)
                reply = (True, tasks, requires_step_updates)
            except Exception:
                logger.exception("task server: the curriculum raised while serving a client")
                reply = (False, self.host.failure_message(), False)
        if wants_reply:
            self._reply(channel, reply)

    def _reply(self, channel: FrameChannel, reply: tuple) -> None:
        try:
            channel.send(pickle.dumps(reply, _PICKLE_PROTOCOL))
        except OSError:
            # The client closed its end (or died) without reading this reply. Requests it sent
            # before closing may still wait in the socket: keep reading until end-of-file.
            pass

    def _remove_channel(self, channel: FrameChannel) -> None:
        if channel in self._channels:
            self._channels.discard(channel)
            self._selector.unregister(channel)
            channel.close()

    def _close_connections(self) -> None:
        for channel in list(self._channels):
            self._remove_channel(channel)

    def _release_flush_waiters(self) -> None:
        waiters, self._flush_waiters = self._flush_waiters, []
        for event in waiters:
            event.set()

    def _drain(self, deadline: float) -> None:
        """Apply every request already readable, until none is left or ``deadline`` passes."""
        while time.monotonic() < deadline:
            events = [key for key, _ in self._selector.select(0) if key.data is not None]
            if not events:
                return
            for key in events:
                self._handle_readable(key.data)
        logger.warning("task server: closed while clients were still sending reports; the rest is dropped")

    def _crash(self, error: BaseException, thread: str) -> None:
        """Record a crash of one of the server's threads so that nobody waits on it silently."""
        logger.error("task server: the %s thread crashed", thread, exc_info=error)
        failure = TaskServerError(f"the task server's {thread} thread crashed: {type(error).__name__}: {error}")
        failure.__cause__ = error
        self.host.fail(failure)
        if thread == "acceptor":  # no new clients can connect: stop serving the others too
            self._control.put(("stop", None))
            self._wake()

    def _wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except OSError:  # closed: the dispatcher is gone already
            pass

    # ---------------------------------------------------------- trainer API
    def raise_failure(self, only_unraised: bool = False) -> None:
        self.host.raise_failure(only_unraised)

    def flush(self, timeout: float | None = None) -> None:
        """Return once every request already sent by any client has been applied."""
        if self.closed:
            raise TaskServerError("the task server (backend='process') is closed")
        if not self._dispatcher.is_alive():
            self.host.raise_failure()
            raise TaskServerError("the task server's dispatcher thread is not running")
        event = threading.Event()
        self._control.put(("flush", event))
        self._wake()
        if not event.wait(timeout):
            raise TimeoutError(f"task server flush did not finish within {timeout} s")

    def close(self) -> None:
        with self._close_lock:
            if self.closed:
                return
            self.closed = True
        self._control.put(("stop", None))
        self._wake()
        self._dispatcher.join(timeout=_CLOSE_DRAIN_SECONDS + 10.0)
        if self._dispatcher.is_alive():  # stuck inside a curriculum call: do not hang the caller too
            logger.error("task server: the dispatcher thread did not stop; is a curriculum call stuck?")
        self._stopping = True
        if self._acceptor.is_alive():
            try:  # wake the acceptor, blocked in accept(), with a connection of our own
                Client(self.address, authkey=self._authkey).close()
            except (OSError, EOFError):
                pass
        self._acceptor.join(timeout=10.0)
        if self._acceptor.is_alive():
            logger.error("task server: the acceptor thread did not stop within 10 s")
        self._listener.close()
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()
        while True:  # connections accepted after the dispatcher stopped
            try:
                kind, payload = self._control.get_nowait()
            except queue.Empty:
                break
            if kind == "connect":
                payload.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
