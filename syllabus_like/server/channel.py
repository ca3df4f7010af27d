"""Length-prefixed frames over a stream socket: the ``"process"`` backend's wire.

After the handshake (:mod:`syllabus_like.server.handshake`) both ends speak
in frames: an 8-byte big-endian length followed by that many bytes. One
``recv`` returns every frame that has arrived (the server often finds several
requests in one read), and waiting for a reply with a timeout costs one
``poll`` inside the socket instead of a fresh selector per call.

A client's channel is blocking (:meth:`FrameChannel.send`). The server's are
non-blocking and never wait on a peer: :meth:`FrameChannel.queue` appends a
frame to the channel's outgoing queue and :meth:`FrameChannel.write_some`
hands the kernel what it takes right now. A worker that is slow to read its
replies (or busy sending its next large request) therefore never stalls the
server or the other workers; its replies wait in its own queue.
"""

from __future__ import annotations

import socket
import struct
from collections import deque

__all__ = ["FrameChannel", "FrameTooLarge"]

_HEADER = struct.Struct("!Q")
_READ_SIZE = 1 << 16


class FrameTooLarge(ValueError):
    """A frame announced a length above the channel's ``max_frame``."""


class FrameChannel:
    """Sends and receives frames on ``sock``, which it owns (``close()`` closes it).

    ``max_frame`` (None: no limit) bounds the length a frame may announce;
    the server sets it for connections that have not authenticated yet, so
    that an unknown peer cannot make it buffer much.
    """

    def __init__(self, sock: socket.socket, *, max_frame: int | None = None) -> None:
        self.sock = sock
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._frames: deque[bytes] = deque()
        self._outgoing: deque[memoryview] = deque()
        self.outgoing_bytes = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    # ----------------------------------------------------------- blocking side
    def send(self, payload: bytes) -> None:
        """Send one frame (blocking until the kernel took it all)."""
        self.sock.sendall(_HEADER.pack(len(payload)) + payload)

    def receive(self) -> bytes:
        """The next frame, reading (and blocking, subject to the socket's timeout) as needed.

        Raises EOFError when the peer closed first.
        """
        while not self._frames:
            if not self.read():
                raise EOFError("the other end closed the connection")
        return self._frames.popleft()

    # ------------------------------------------------------- non-blocking side
    def queue(self, payload: bytes) -> None:
        """Append one frame to the outgoing queue; :meth:`write_some` sends it."""
        frame = memoryview(_HEADER.pack(len(payload)) + payload)
        self._outgoing.append(frame)
        self.outgoing_bytes += len(frame)

    def write_some(self) -> bool:
        """Send queued frames until the socket would block; return True once the queue is empty.

        Raises OSError when the peer is gone.
        """
        outgoing = self._outgoing
        while outgoing:
            frame = outgoing[0]
            try:
                sent = self.sock.send(frame)
            except (BlockingIOError, InterruptedError):
                return False
            self.outgoing_bytes -= sent
            if sent < len(frame):
                outgoing[0] = frame[sent:]
                return False
            outgoing.popleft()
        return True

    # ------------------------------------------------------------------ reading
    def read(self) -> bool:
        """Read what has arrived and split it into frames (blocking only on a blocking socket).

        Returns False at end of stream (the peer closed; an incomplete frame is
        dropped). Complete frames wait in :meth:`pop`. Raises
        :class:`FrameTooLarge` for a frame longer than ``max_frame``.
        """
        try:
            chunk = self.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return True  # nothing after all (a non-blocking socket)
        if not chunk:
            return False
        buffer = self._buffer
        buffer += chunk
        start = 0
        while len(buffer) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer, start)
            if self.max_frame is not None and size > self.max_frame:
                raise FrameTooLarge(f"a frame of {size} bytes, above the limit of {self.max_frame}")
            end = start + _HEADER.size + size
            if len(buffer) < end:
                break
            self._frames.append(bytes(buffer[start + _HEADER.size : end]))
            start = end
        del buffer[:start]
        return True

    def pop(self) -> bytes | None:
        """The oldest complete frame not yet taken, or None."""
        return self._frames.popleft() if self._frames else None

    def close(self) -> None:
        self.sock.close()
