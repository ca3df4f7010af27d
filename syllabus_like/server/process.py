"""The ``"process"`` backend: environments in other processes on this machine.

The curriculum stays in the training process. Workers (AsyncVectorEnv
sub-processes, ``multiprocessing`` processes started with fork, spawn or
forkserver) connect to a Unix socket in a private temporary directory
(loopback TCP where Unix sockets are missing) and authenticate with a random
key that travels inside the pickled client (see
:mod:`syllabus_like.server.handshake`; who can connect is discussed in the
README's security note).

Two daemon threads run in the training process:

* the **acceptor** blocks in ``accept()`` and hands each new socket to the
  dispatcher. When the process is out of file descriptors it closes a spare
  descriptor it keeps for the purpose, accepts the waiting connection and
  closes it at once, so that client fails at once instead of waiting;
* the **dispatcher** blocks in a selector over every connection and a wake-up
  socket. It is event-driven, never polling with sleeps, and never waits on a
  peer: it authenticates new connections one frame at a time (with a
  deadline, so a peer that never answers delays nobody), applies each request
  to the curriculum under the host's lock (shared with ``server.curriculum``,
  so the training loop's own calls never race with workers' reports), and
  queues the reply on the worker's own non-blocking channel. A worker that is
  slow to read, or busy sending a large request of its own, only lets its own
  replies wait.

A worker that dies, even by SIGKILL, simply closes its socket: the dispatcher
drops the connection and keeps serving; every request it had fully sent was
applied. A new worker (or a restarted one) connects with a copy of the same
client. A request with bad input is refused to its sender alone (see
:mod:`syllabus_like.server.protocol`). When the curriculum raises, the
requesting worker gets an error reply at once, every later request gets the
same, and the training process gets the exception on its next server call. If
a thread of the server itself crashes, its exception is recorded the same way
and every connection is closed, so no worker waits on a dead server.

The socket's temporary directory is removed by ``close()``, or at interpreter
exit for a server that was never closed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import pickle
import queue
import select
import selectors
import shutil
import socket
import tempfile
import threading
import time
import weakref
from typing import Any

from syllabus_like.server import handshake
from syllabus_like.server.channel import FrameChannel
from syllabus_like.server.client import BufferedClient
from syllabus_like.server.host import CurriculumHost, LockedCurriculum
from syllabus_like.server.options import ClientOptions
from syllabus_like.server.protocol import BadRequest, TaskServerError

__all__ = ["ProcessBackend", "ProcessClient"]

logger = logging.getLogger(__name__)

_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL
#: How long close() lets the dispatcher apply reports that are still arriving.
_CLOSE_DRAIN_SECONDS = 10.0
#: How long close() keeps sending replies that clients have not read yet.
_CLOSE_WRITE_SECONDS = 2.0
#: How long a new connection has to authenticate before the server closes it.
HANDSHAKE_SECONDS = 10.0
#: Replies one client may leave unread before the server drops it (it is not reading at all).
MAX_UNREAD_BYTES = 1 << 31
_EMFILE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def _connection_waiting(listen_socket: socket.socket) -> bool:
    """Whether a connection waits to be accepted (without opening a descriptor to find out)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(listen_socket, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([listen_socket], [], [], 0)[0])


def _remove_directory(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


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
        self._channel: FrameChannel | None = None
        self._pid = os.getpid()
        super().__init__(
            prefetch=prefetch, batch_size=batch_size, timeout=timeout, requires_step_updates=requires_step_updates
        )

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
        sock = socket.socket(socket.AF_UNIX if isinstance(self.address, str) else socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        channel = FrameChannel(sock)
        try:
            sock.connect(self.address)
        except OSError as error:
            channel.close()
            raise TaskServerError(
                f"cannot reach the task server at {self.address!r} ({type(error).__name__}: {error}); "
                "was it closed, or is this client from another server?"
            ) from error
        try:
            challenge = channel.receive()
            answer, own_challenge = handshake.client_answer(self._authkey, challenge)
            channel.send(answer)
            proof = channel.receive()
        except TimeoutError as error:
            channel.close()
            raise TaskServerError(
                f"the task server at {self.address!r} did not complete the handshake within {self.timeout} s"
            ) from error
        except (OSError, EOFError) as error:
            channel.close()
            raise TaskServerError(
                f"the task server at {self.address!r} closed the connection during the handshake "
                f"({type(error).__name__}: {error}): it is closed, failed, or out of file descriptors"
            ) from error
        if proof == handshake.REJECTED:
            channel.close()
            raise TaskServerError(
                f"the task server at {self.address!r} rejected this client's key; is this client from another server?"
            )
        if not handshake.check_server_proof(self._authkey, own_challenge, proof):
            channel.close()
            raise TaskServerError(f"the process listening at {self.address!r} does not hold this client's key")
        self._channel = channel
        # The dispatcher greets each connection once it is authenticated. Waiting for the greeting
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
        except TimeoutError as error:
            self._drop_connection()
            raise TaskServerError(
                f"no reply from the task server at {self.address!r} within {self.timeout} s"
            ) from error
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
        return {"address": self.address, "authkey": self._authkey, **super()._config()}

    def __repr__(self) -> str:
        state = "connected" if self._channel is not None else "not connected"
        return f"ProcessClient({self.address!r}, prefetch={self.prefetch}, {state})"


class _Peer:
    """The dispatcher's record of one connection."""

    __slots__ = ("authenticated", "challenge", "channel", "deadline", "refusal", "writing", "write_failed")

    def __init__(self, channel: FrameChannel, deadline: float) -> None:
        self.channel = channel
        self.authenticated = False
        self.challenge = handshake.new_challenge()
        self.deadline = deadline
        #: Why a fire-and-forget request of this peer was refused; told with its next reply.
        self.refusal: str | None = None
        self.writing = False  # registered for EVENT_WRITE (replies wait in its queue)
        self.write_failed = False  # the peer closed its reading end

    def fileno(self) -> int:
        return self.channel.fileno()


class ProcessBackend:
    """Serves a curriculum in this process to clients in other processes; see the module docstring."""

    name = "process"
    #: One message per episode and worker: cheap over a socket.
    default_prefetch = 1

    def __init__(self, curriculum: Any, options: ClientOptions) -> None:
        self.host = CurriculumHost(curriculum)
        self.curriculum = LockedCurriculum(self.host)
        self.options = options
        self.closed = False
        self._close_lock = threading.Lock()

        self._authkey = os.urandom(32)
        self._directory: str | None = None
        self._remove_directory_at_exit: Any = None
        if hasattr(socket, "AF_UNIX"):
            self._directory = tempfile.mkdtemp(prefix="syllabus-like-")
            self._remove_directory_at_exit = weakref.finalize(self, _remove_directory, self._directory)
            self._listen_socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.address: Any = os.path.join(self._directory, "server")
        else:
            self._listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.address = ("127.0.0.1", 0)
        self._listen_socket.bind(self.address)
        self._listen_socket.listen(128)
        self.address = self._listen_socket.getsockname()
        self._spare_fd: int | None = os.open(os.devnull, os.O_RDONLY)
        self._last_shed_warning = 0.0

        self._control: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_reader, selectors.EVENT_READ, None)
        self._peers: set[_Peer] = set()
        self._handshaking: set[_Peer] = set()
        self._flush_waiters: list[threading.Event] = []
        self._stopping = False

        self._dispatcher = threading.Thread(target=self._dispatch_forever, name="task-server-dispatcher", daemon=True)
        self._acceptor = threading.Thread(target=self._accept_forever, name="task-server-acceptor", daemon=True)
        self._dispatcher.start()
        self._acceptor.start()

    # --------------------------------------------------------------- clients
    def client(self, prefetch: int | str | None = None, batch_size: int | None = None) -> ProcessClient:
        options = self.options.overridden(prefetch=prefetch, batch_size=batch_size)
        return ProcessClient(
            self.address,
            self._authkey,
            prefetch=options.prefetch,
            batch_size=options.batch_size,
            timeout=options.timeout,
            requires_step_updates=self.host.requires_step_updates(),
        )

    # ------------------------------------------------------------- acceptor
    def _accept_forever(self) -> None:
        try:
            while True:
                try:
                    sock, _ = self._listen_socket.accept()
                except OSError as error:
                    if self._stopping:
                        return
                    if error.errno in _EMFILE_ERRORS:
                        self._shed_one_connection(error)
                        continue
                    if error.errno in (errno.ECONNABORTED, errno.EINTR, errno.EPROTO):
                        continue
                    raise
                if self._stopping:
                    sock.close()
                    return
                if not self._dispatcher.is_alive():  # crashed: tell the client at once, not at its timeout
                    sock.close()
                    continue
                self._control.put(("connect", sock))
                self._wake()
        except BaseException as error:
            self._crash(error, "acceptor")

    def _shed_one_connection(self, error: OSError) -> None:
        """Out of descriptors: refuse a waiting connection at once rather than leave it hanging.

        The spare descriptor is given up for the moment it takes to accept the
        connection and close it (its client sees end-of-stream and raises).
        With nobody waiting (Linux reports the limit before looking), or no
        spare to give up, it waits a little instead of spinning.
        """
        now = time.monotonic()
        if now - self._last_shed_warning > 5.0:
            self._last_shed_warning = now
            logger.warning(
                "task server: out of file descriptors (%s); refusing new connections until some close", error
            )
        if self._spare_fd is not None and _connection_waiting(self._listen_socket):
            os.close(self._spare_fd)
            self._spare_fd = None
            try:
                sock, _ = self._listen_socket.accept()
                sock.close()
            except OSError:
                pass
        else:
            time.sleep(0.05)
        if self._spare_fd is None:
            with contextlib.suppress(OSError):
                self._spare_fd = os.open(os.devnull, os.O_RDONLY)

    # ----------------------------------------------------------- dispatcher
    def _dispatch_forever(self) -> None:
        try:
            while True:
                if self._flush_waiters:
                    timeout: float | None = 0.0
                elif self._handshaking:
                    timeout = max(0.0, min(peer.deadline for peer in self._handshaking) - time.monotonic())
                else:
                    timeout = None
                events = self._selector.select(timeout)
                busy = False
                for key, mask in events:
                    peer = key.data
                    if peer is None:
                        busy = True
                        if self._handle_control():
                            return
                        continue
                    if mask & selectors.EVENT_WRITE:
                        self._write(peer)
                    if mask & selectors.EVENT_READ:
                        busy = True
                        self._handle_readable(peer)
                if not busy and self._flush_waiters:
                    # Nothing readable anywhere: every report sent so far has been applied.
                    self._release_flush_waiters()
                if self._handshaking:
                    self._expire_handshakes()
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
            self._finish_writes(deadline=time.monotonic() + _CLOSE_WRITE_SECONDS)
        return stop

    def _add_connection(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        peer = _Peer(FrameChannel(sock, max_frame=handshake.MAX_HANDSHAKE_FRAME), time.monotonic() + HANDSHAKE_SECONDS)
        self._peers.add(peer)
        self._handshaking.add(peer)
        self._selector.register(peer, selectors.EVENT_READ, peer)
        self._send(peer, peer.challenge)

    def _expire_handshakes(self) -> None:
        now = time.monotonic()
        for peer in [peer for peer in self._handshaking if peer.deadline <= now]:
            logger.warning("task server: closing a connection that did not authenticate within %s s", HANDSHAKE_SECONDS)
            self._remove_peer(peer)

    def _authenticate(self, peer: _Peer, answer: bytes) -> None:
        client_challenge = handshake.check_client_answer(self._authkey, peer.challenge, answer)
        if client_challenge is None:
            logger.warning("task server: rejected a connection with the wrong key")
            self._send(peer, handshake.REJECTED)
            self._remove_peer(peer)
            return
        peer.authenticated = True
        peer.channel.max_frame = None
        self._handshaking.discard(peer)
        self._send(peer, handshake.server_proof(self._authkey, client_challenge))
        if self.host.failure is not None:
            self._reply(peer, (False, self.host.failure_message(), False))
        else:
            self._reply(peer, (True, [], self.host.requires_step_updates()))

    def _handle_readable(self, peer: _Peer) -> None:
        channel = peer.channel
        try:
            open_ = channel.read()
        except (OSError, ValueError) as error:  # ValueError: a frame over the handshake limit
            if not peer.authenticated:
                logger.warning("task server: dropping an unauthenticated connection: %s", error)
            open_ = False
        while peer in self._peers and (frame := channel.pop()) is not None:
            if peer.authenticated:
                self._handle_request(peer, frame)
            else:
                self._authenticate(peer, frame)
        if not open_:
            self._remove_peer(peer)  # the worker closed its client, exited or was killed

    def _handle_request(self, peer: _Peer, frame: bytes) -> None:
        try:
            reports, num_tasks, wants_reply = pickle.loads(frame)
        except Exception as error:
            logger.error("task server: dropping a client that sent an unreadable request: %r", error)
            self._remove_peer(peer)
            return
        if self.host.failure is not None:
            reply = (False, self.host.failure_message(), False)
        elif peer.refusal is not None and (wants_reply or num_tasks):
            reply = (False, f"{peer.refusal}; this request was not applied either", self.host.requires_step_updates())
            peer.refusal = None
        else:
            try:
                tasks, requires_step_updates = self.host.serve(reports, num_tasks)
                reply = (True, tasks, requires_step_updates)
            except BadRequest as error:
                message = f"the task server refused a request of this client: {error}"
                logger.warning("task server: %s", message)
                reply = (False, message, self.host.requires_step_updates())
                if not (wants_reply or num_tasks):
                    peer.refusal = message
            except Exception:
                logger.exception("task server: the curriculum raised while serving a client")
                reply = (False, self.host.failure_message(), False)
        if wants_reply or num_tasks:
            self._reply(peer, reply)

    # --------------------------------------------------------------- writing
    def _reply(self, peer: _Peer, reply: tuple) -> None:
        self._send(peer, pickle.dumps(reply, _PICKLE_PROTOCOL))

    def _send(self, peer: _Peer, payload: bytes) -> None:
        """Queue a frame for ``peer`` and send what its socket takes now; never blocks."""
        if peer.write_failed:
            return
        peer.channel.queue(payload)
        if peer.channel.outgoing_bytes > MAX_UNREAD_BYTES:
            logger.error(
                "task server: dropping a client that left %d bytes of replies unread", peer.channel.outgoing_bytes
            )
            self._remove_peer(peer)
            return
        self._write(peer)

    def _write(self, peer: _Peer) -> None:
        try:
            done = peer.channel.write_some()
        except OSError:
            # The client closed its end (or died) without reading its replies. Requests it sent
            # before closing may still wait in the socket: keep reading until end-of-file.
            peer.write_failed = True
            done = True
        if done != (not peer.writing) and peer in self._peers:
            peer.writing = not done
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if peer.writing else 0)
            self._selector.modify(peer, events, peer)

    def _finish_writes(self, deadline: float) -> None:
        """At close: send the replies still queued, for clients waiting on them, until ``deadline``."""
        while time.monotonic() < deadline:
            writers = [peer for peer in self._peers if peer.writing]
            if not writers:
                return
            for key, _ in self._selector.select(max(0.0, deadline - time.monotonic())):
                if key.data is not None and key.data.writing:
                    self._write(key.data)

    def _remove_peer(self, peer: _Peer) -> None:
        if peer in self._peers:
            self._peers.discard(peer)
            self._handshaking.discard(peer)
            self._selector.unregister(peer)
            peer.channel.close()

    def _close_connections(self) -> None:
        for peer in list(self._peers):
            self._remove_peer(peer)

    def _release_flush_waiters(self) -> None:
        waiters, self._flush_waiters = self._flush_waiters, []
        for event in waiters:
            event.set()

    def _drain(self, deadline: float) -> None:
        """Apply every request already readable, until none is left or ``deadline`` passes."""
        while time.monotonic() < deadline:
            events = [(key, mask) for key, mask in self._selector.select(0) if key.data is not None]
            readable = [key for key, mask in events if mask & selectors.EVENT_READ]
            for key, mask in events:
                if mask & selectors.EVENT_WRITE:
                    self._write(key.data)
            if not readable:
                return
            for key in readable:
                if key.data in self._peers:
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
        self._dispatcher.join(timeout=_CLOSE_DRAIN_SECONDS + _CLOSE_WRITE_SECONDS + 10.0)
        if self._dispatcher.is_alive():  # stuck inside a curriculum call: do not hang the caller too
            logger.error("task server: the dispatcher thread did not stop; is a curriculum call stuck?")
        self._stopping = True
        self._wake_acceptor()
        self._acceptor.join(timeout=10.0)
        if self._acceptor.is_alive():
            logger.error("task server: the acceptor thread did not stop within 10 s")
        self._listen_socket.close()
        if self._spare_fd is not None:
            os.close(self._spare_fd)
            self._spare_fd = None
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
        if self._remove_directory_at_exit is not None:
            self._remove_directory_at_exit()

    def _wake_acceptor(self) -> None:
        """Unblock the acceptor's ``accept()`` so that it sees ``_stopping``."""
        try:
            self._listen_socket.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            pass
        self._acceptor.join(timeout=0.5)
        if self._acceptor.is_alive():
            try:  # elsewhere: a connection of our own
                with socket.socket(self._listen_socket.family, socket.SOCK_STREAM) as sock:
                    sock.settimeout(2.0)
                    sock.connect(self.address)
            except OSError:
                pass
