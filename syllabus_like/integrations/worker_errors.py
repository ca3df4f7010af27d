"""Bring an env's own exception from a vec-env worker process back to the trainer.

When an environment raises inside a worker process (Stable-Baselines3's
``SubprocVecEnv``), the worker dies and the trainer only sees its end of the
pipe close (``EOFError``, ``ConnectionResetError``, ``BrokenPipeError``). To
surface the real error, the env factory built in the trainer wraps
construction, ``reset`` and ``step`` in the worker: an exception there is
pickled to a file in a folder the trainer made (:class:`WorkerErrorDrop`)
before it propagates and ends the worker. When the trainer's side of the pipe
breaks, it reads that file and raises the env's own exception, with the
worker's traceback as its cause.

Files rather than a pipe: a file written before the worker exits is there
when the trainer notices the exit, whatever the start method, and nothing has
to be read while the worker lives.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

import gymnasium as gym

__all__ = ["PIPE_ERRORS", "RecordsWorkerErrors", "WorkerErrorDrop", "WorkerTraceback"]

#: What the trainer sees when a worker process died.
PIPE_ERRORS: tuple[type[BaseException], ...] = (EOFError, ConnectionError)


class WorkerTraceback(Exception):
    """The traceback of an exception raised in a worker process (as text), set as that exception's cause."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\nin the worker process:\n{self.text}"


class WorkerErrorDrop:
    """A folder where workers leave their env's exception; the trainer picks it up.

    Picklable (it is only a path), so env factories carry it to the workers.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path if path is not None else tempfile.mkdtemp(prefix="syllabus_like-worker-errors-")

    def record(self, env_index: int, error: BaseException) -> None:
        """Worker side: save ``error`` (or a RuntimeError describing it, if it cannot be pickled)."""
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        try:
            payload = pickle.dumps((env_index, error, text))
        except Exception:  # an exception that cannot travel: send its description
            substitute = RuntimeError(f"env {env_index} raised {type(error).__name__}: {error}")
            payload = pickle.dumps((env_index, substitute, text))
        target = Path(self.path) / f"env-{env_index:06d}.pickle"
        partial = target.with_suffix(".partial")
        partial.write_bytes(payload)
        partial.replace(target)  # atomic: the trainer never reads half a file

    def first_error(self) -> tuple[int, BaseException, str] | None:
        """Trainer side: (env index, exception, traceback text) of the lowest-index failed env, if any."""
        folder = Path(self.path)
        if not folder.is_dir():
            return None
        for file in sorted(folder.glob("env-*.pickle")):
            try:
                return pickle.loads(file.read_bytes())
            except Exception:  # unreadable: try the next one
                continue
        return None

    def raise_recorded(self, pipe_error: BaseException) -> None:
        """Raise the env's own exception if a worker recorded one; otherwise return (the caller re-raises)."""
        found = self.first_error()
        if found is None:
            return
        env_index, error, text = found
        error.__cause__ = WorkerTraceback(f"(env {env_index})\n{text}")
        error.__suppress_context__ = False
        error.__context__ = pipe_error
        raise error

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class RecordsWorkerErrors(gym.Wrapper):
    """Worker side: record any exception from ``reset`` or ``step`` in ``drop``, then let it propagate."""

    def __init__(self, env: gym.Env, drop: WorkerErrorDrop, env_index: int) -> None:
        super().__init__(env)
        self._drop = drop
        self._env_index = env_index

    def reset(self, **kwargs: Any) -> Any:
        try:
            return self.env.reset(**kwargs)
        except Exception as error:
            self._drop.record(self._env_index, error)
            raise

    def step(self, action: Any) -> Any:
        try:
            return self.env.step(action)
        except Exception as error:
            self._drop.record(self._env_index, error)
            raise
