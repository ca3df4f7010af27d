"""The curriculum's home inside a task server: one lock, one failure record.

Every backend keeps its curriculum in a :class:`CurriculumHost`. All access
goes through the host's lock, so reports from workers, samples for workers and
calls from the training loop (through :class:`LockedCurriculum`) never
interleave. A request with bad input (see
:func:`~syllabus_like.server.protocol.check_request`) is refused to its sender
alone. When the curriculum raises while serving a worker, the host
records the exception: from then on every worker request is answered with an
error, and the training loop gets the exception itself on its next server
call (fail-stop, since the curriculum's state may be half-updated).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any

from syllabus_like.server.protocol import TaskServerError, apply_reports, check_request

__all__ = ["CurriculumHost", "LockedCurriculum"]


class CurriculumHost:
    """Owns ``curriculum`` and serializes every access to it with :attr:`lock`."""

    def __init__(self, curriculum: Any) -> None:
        self.curriculum = curriculum
        self.lock = threading.RLock()
        self.failure: BaseException | None = None
        self._failure_raised = False

    # -------------------------------------------------------------- failures
    def fail(self, error: BaseException) -> None:
        """Record ``error`` as the reason this server stopped serving (the first one wins)."""
        if self.failure is None:
            self.failure = error

    def failure_message(self) -> str:
        """What a worker is told once the server has failed."""
        error = self.failure
        return (
            f"the task server's curriculum raised {type(error).__name__}: {error}. "
            "The server stopped serving; the training process gets this exception on its next server call."
        )

    def raise_failure(self, only_unraised: bool = False) -> None:
        """Raise the recorded failure: the exception itself the first time, a TaskServerError after.

        With ``only_unraised``, raise only if it was never raised before.
        """
        error = self.failure
        if error is None or (only_unraised and self._failure_raised):
            return
        if not self._failure_raised:
            self._failure_raised = True
            raise error
        raise TaskServerError(f"the task server failed earlier: {type(error).__name__}: {error}") from error

    # --------------------------------------------------------------- serving
    def serve(self, reports: Sequence[tuple], num_tasks: int) -> tuple[list, bool]:
        """Apply ``reports``, then sample ``num_tasks`` tasks; return them with ``requires_step_updates``.

        A request with bad input raises :class:`~syllabus_like.server.protocol.BadRequest`
        before anything is applied, and the server goes on serving. An
        exception from the curriculum is recorded (see :meth:`fail`) and re-raised.
        """
        if self.failure is not None:
            raise TaskServerError(self.failure_message())
        reports, num_tasks = check_request(reports, num_tasks, self.curriculum.task_space)
        with self.lock:
            if self.failure is not None:
                raise TaskServerError(self.failure_message())
            curriculum = self.curriculum
            try:
                if reports:
                    apply_reports(curriculum, reports)
                tasks = curriculum.sample(num_tasks) if num_tasks else []
                return tasks, bool(curriculum.requires_step_updates)
            except BaseException as error:
                self.fail(error)
                raise

    def requires_step_updates(self) -> bool:
        with self.lock:
            return bool(self.curriculum.requires_step_updates)

    def call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` (an attribute of the curriculum) under the lock, after re-raising a failure."""
        self.raise_failure()
        with self.lock:
            return method(*args, **kwargs)


class LockedCurriculum:
    """A view of a hosted curriculum for the training loop (``server.curriculum``).

    Attribute reads and method calls go to the real curriculum while holding
    the host's lock, so they never interleave with workers' reports; each
    first re-raises a failure the server recorded while serving workers.
    Objects returned by the curriculum (e.g. a SequentialCurriculum's
    ``current_curriculum``) are the real ones, outside the lock.
    """

    __slots__ = ("_host",)

    def __init__(self, host: CurriculumHost) -> None:
        object.__setattr__(self, "_host", host)

    def __getattr__(self, name: str) -> Any:
        host: CurriculumHost = object.__getattribute__(self, "_host")
        host.raise_failure()
        with host.lock:
            value = getattr(host.curriculum, name)
        if callable(value) and not isinstance(value, type):
            return functools.partial(host.call, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        host: CurriculumHost = object.__getattribute__(self, "_host")
        host.raise_failure()
        with host.lock:
            setattr(host.curriculum, name, value)

    def __dir__(self) -> list[str]:
        return dir(object.__getattribute__(self, "_host").curriculum)

    def __repr__(self) -> str:
        return f"LockedCurriculum({object.__getattribute__(self, '_host').curriculum!r})"

    def __reduce__(self) -> Any:
        raise TypeError(
            "server.curriculum is a view for the training process and cannot be pickled; "
            "give workers server.client() instead"
        )
