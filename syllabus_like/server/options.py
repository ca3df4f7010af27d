"""The options of a task server's remote clients, validated in this one place."""

from __future__ import annotations

import dataclasses
from typing import Any

from syllabus_like.server.protocol import MAX_CLIENT_TASKS
from syllabus_like.validation import check_positive_int, check_prefetch

__all__ = ["ClientOptions"]


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    """``prefetch``, ``batch_size`` and ``timeout`` of a remote client (see :class:`~syllabus_like.server.TaskServer`).

    Every way in (``TaskServer(...)``, ``server.client(...)``, a client built
    directly or unpickled) goes through this class, so each option is checked,
    with one message, here and nowhere else.
    """

    prefetch: int | str = 1
    batch_size: int = 256
    timeout: float | None = 120.0

    def __post_init__(self) -> None:
        prefetch = check_prefetch(self.prefetch)
        if prefetch != "auto" and prefetch > MAX_CLIENT_TASKS:
            raise ValueError(f"prefetch must be at most {MAX_CLIENT_TASKS} (or 'auto'), got {prefetch!r}")
        object.__setattr__(self, "prefetch", prefetch)
        object.__setattr__(self, "batch_size", check_positive_int("batch_size", self.batch_size))
        timeout = self.timeout
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
        ):
            raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")

    def overridden(self, *, prefetch: Any = None, batch_size: Any = None) -> ClientOptions:
        """These options with ``prefetch`` / ``batch_size`` replaced where given (not None), checked."""
        changes = {
            name: value for name, value in (("prefetch", prefetch), ("batch_size", batch_size)) if value is not None
        }
        return dataclasses.replace(self, **changes) if changes else self
