"""Length-prefixed frames over a stream socket: the ``"process"`` backend's wire.

:mod:`multiprocessing.connection` authenticates each connection; after that
both ends switch to this thinner framing, which matters on the hot path: one
``recv`` returns every frame that has arrived (the server often finds several
requests in one read), and waiting for a reply with a timeout costs one
``poll`` inside the socket instead of a fresh selector per call.

A frame is an 8-byte big-endian length followed by that many bytes.
"""

from __future__ import annotations

import socket
import struct
from collections import deque

__all__ = ["FrameChannel"]

_HEADER = struct.Struct("!Q")
_READ_SIZE = 1 << 16


class FrameChannel:
    """Sends and receives frames on ``sock``, which it owns (``close()`` closes it)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()
        self._frames: deque[bytes] = deque()

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, payload: bytes) -> None:
        """Send one frame (blocking until the kernel took it all)."""
        self.sock.sendall(_HEADER.pack(len(payload)) + payload)

    def read(self) -> bool:
        """Read what has arrived (blocking until something has) and split it into frames.

        Returns False at end of stream (the peer closed; an incomplete frame is dropped).
        Complete frames wait in :meth:`pop`.
        """
        chunk = self.sock.recv(_READ_SIZE)
        if not chunk:
            return False
        buffer = self._buffer
        buffer += chunk
        start = 0
        while len(buffer) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer, start)
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

    def receive(self) -> bytes:
        """The next frame, reading (and blocking, subject to the socket's timeout) as needed.

        Raises EOFError when the peer closed first.
        """
        while not self._frames:
            if not self.read():
                raise EOFError("the other end closed the connection")
        return self._frames.popleft()

    def close(self) -> None:
        self.sock.close()
