"""What :class:`~syllabus_like.server.TaskServer` needs of a backend (``typing.Protocol``)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """A place to host a curriculum and the clients that reach it.

    The three backends (:class:`~syllabus_like.server.local.LocalBackend`,
    :class:`~syllabus_like.server.process.ProcessBackend`,
    :class:`~syllabus_like.server.ray_backend.RayBackend`) follow it;
    ``TaskServer`` uses nothing else of them.
    """

    #: ``"local"``, ``"process"`` or ``"ray"``.
    name: str
    #: What ``server.curriculum`` returns: a lock-guarded view or a proxy of the hosted curriculum.
    curriculum: Any

    def client(self, prefetch: int | str | None = None, batch_size: int | None = None) -> Any:
        """A new client; ``prefetch`` / ``batch_size`` (not None) override the server's options."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Return once every request already sent by any client has been applied (TimeoutError after ``timeout``)."""
        ...

    def raise_failure(self, only_unraised: bool = False) -> None:
        """Raise the curriculum's recorded failure, if any (with ``only_unraised``: only if never raised)."""
        ...

    def close(self) -> None:
        """Stop serving and release every resource."""
        ...
