"""Mutual authentication of a ``"process"`` client and its server by a shared key.

Both ends hold the server's random key (the client got it inside its pickle).
Neither sends it: each proves it knows the key by an HMAC-SHA256 of a fresh
random challenge from the other side, in three frames on the channel::

    server -> client   challenge            (CHALLENGE_SIZE random bytes)
    client -> server   hmac(key, "client" + challenge) + client_challenge
    server -> client   hmac(key, "server" + client_challenge), or REJECTED

The server runs its side inside its event loop, one frame at a time, with a
deadline per connection, so a peer that connects and never answers (or a
worker stopped mid-connect) costs one idle socket until the deadline and
delays nobody. This replaces :mod:`multiprocessing.connection`'s handshake,
which blocks the accepting thread until the peer answers.
"""

from __future__ import annotations

import hashlib
import hmac
import os

__all__ = [
    "CHALLENGE_SIZE",
    "MAX_HANDSHAKE_FRAME",
    "REJECTED",
    "check_client_answer",
    "check_server_proof",
    "client_answer",
    "new_challenge",
    "server_proof",
]

CHALLENGE_SIZE = 32
_DIGEST_SIZE = hashlib.sha256().digest_size
#: The longest frame the server accepts from a peer that has not authenticated.
MAX_HANDSHAKE_FRAME = 256
#: The server's third frame when the client's answer is wrong.
REJECTED = b""


def _digest(key: bytes, role: bytes, challenge: bytes) -> bytes:
    return hmac.new(key, role + challenge, hashlib.sha256).digest()


def new_challenge() -> bytes:
    return os.urandom(CHALLENGE_SIZE)


def client_answer(key: bytes, challenge: bytes) -> tuple[bytes, bytes]:
    """The client's frame answering ``challenge``, and the challenge it sets the server."""
    own_challenge = new_challenge()
    return _digest(key, b"client", challenge) + own_challenge, own_challenge


def check_client_answer(key: bytes, challenge: bytes, answer: bytes) -> bytes | None:
    """The client's challenge if ``answer`` proves it holds ``key``, else None."""
    if len(answer) != _DIGEST_SIZE + CHALLENGE_SIZE:
        return None
    if not hmac.compare_digest(answer[:_DIGEST_SIZE], _digest(key, b"client", challenge)):
        return None
    return answer[_DIGEST_SIZE:]


def server_proof(key: bytes, client_challenge: bytes) -> bytes:
    return _digest(key, b"server", client_challenge)


def check_server_proof(key: bytes, client_challenge: bytes, proof: bytes) -> bool:
    return hmac.compare_digest(proof, server_proof(key, client_challenge))
