"""Report batching and task prefetching, shared by the remote clients.

A remote client (``"process"`` or ``"ray"`` backend) does not call the
server for every report or every reset. It keeps

* a **buffer of reports**: step, episode and progress updates wait in the
  client and travel together with the next task request, or on their own once
  ``batch_size`` of them are waiting, or at :meth:`~BufferedClient.flush` /
  :meth:`~BufferedClient.close` (both wait until the server applied them);
* a **queue of prefetched tasks**: whenever fewer than ``prefetch`` tasks are
  ready or on their way, the client asks for ``prefetch`` more. It looks one
  reset ahead: at the end of an episode it already tops up for the reset that
  follows, so with the default ``prefetch=1`` every finished episode sends one
  message (its report plus a request for one task) and the reset finds its
  task waiting. ``prefetch=p`` sends one message per ``p`` episodes, at the
  price of tasks sampled up to ``2p - 1`` episodes ahead of use and reports
  held back by up to ``p`` episodes. ``prefetch=0`` samples on demand: each
  reset waits for one round trip. ``prefetch="auto"`` (the Ray backend's
  default) sizes ``p`` to the environment's speed: the client keeps a running
  mean of the time its environments spend between taking tasks (waits for
  the server left out) and asks for enough tasks to last about
  :data:`AUTO_PREFETCH_SECONDS` (at least 1, at most :data:`AUTO_PREFETCH_MAX`).
  A slow environment (an episode per 0.1 s or slower) then behaves like
  ``prefetch=1`` and plays freshly sampled tasks, while a fast one sends one
  message per ~0.1 s instead of one per episode.

Each report's numbers are checked as it is made (a real return, a
non-negative int length, progress in [0, 1]; ``sample(k)`` with at most
:data:`~syllabus_like.server.protocol.MAX_CLIENT_TASKS`): such a mistake
raises at the call that made it, in the worker. Whether a task belongs to the
served space is checked by the server (a client does not carry the task
space, which keeps it small to pickle): a report with a foreign task is
refused to this client alone, and the client raises
:class:`~syllabus_like.server.protocol.TaskServerError` at the reply that
tells it (see :mod:`syllabus_like.server.protocol`).

Subclasses provide the transport: :meth:`_send` a request and
:meth:`_receive_reply` the next reply, in order.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from syllabus_like.server.options import ClientOptions
from syllabus_like.server.protocol import (
    EPISODE,
    MAX_CLIENT_TASKS,
    PROGRESS,
    STEPS,
    TaskServerError,
    check_episode_fields,
    check_progress,
    episode_extras,
    pack_steps,
)
from syllabus_like.validation import check_sample_count

__all__ = ["AUTO_PREFETCH_MAX", "AUTO_PREFETCH_SECONDS", "BufferedClient"]

#: ``prefetch="auto"``: ask for enough tasks to last about this many seconds...
AUTO_PREFETCH_SECONDS = 0.1
#: ...but never more than this many at a time.
AUTO_PREFETCH_MAX = 256
_RATE_SMOOTHING = 0.1  # weight of the newest interval in the running mean of seconds per task


class BufferedClient:
    """Base class of the remote clients; see the module docstring.

    Thread-safe: one client may be shared by several environments (e.g. the
    sub-environments of a SyncVectorEnv) and threads.
    """

    #: The clock ``prefetch="auto"`` measures the pace of resets with (replaceable in tests).
    clock = staticmethod(time.monotonic)

    def __init__(
        self, *, prefetch: int | str, batch_size: int, requires_step_updates: bool, timeout: float | None = 120.0
    ) -> None:
        options = ClientOptions(prefetch=prefetch, batch_size=batch_size, timeout=timeout)  # checks them
        self.options = options
        self.prefetch = options.prefetch
        self.batch_size = options.batch_size
        self.timeout = options.timeout
        #: The curriculum's ``requires_step_updates`` as of the last reply from the server.
        self.requires_step_updates = bool(requires_step_updates)
        self._lock = threading.Lock()
        self._reset_state()

    def _reset_state(self) -> None:
        """Forget everything buffered or in flight (a fresh client, e.g. after a fork or a lost connection)."""
        self._reports: list[tuple] = []
        self._num_reports = 0  # step results count one each
        self._step_run: list | None = None  # the steps list of the last STEPS record, while appendable
        self._step_run_env_id: int | None = None
        self._tasks: deque = deque()
        self._pending_replies: deque[int] = deque()  # tasks asked for, per request awaiting a reply
        self._tasks_in_flight = 0
        self._last_handout: float | None = None  # when sample() last returned tasks
        self._seconds_per_task: float | None = None  # running mean, for prefetch="auto"

    # ----------------------------------------------------------- transport
    def _send(self, reports: list[tuple], num_tasks: int, wants_reply: bool) -> None:
        """Send one request (see :mod:`syllabus_like.server.protocol`)."""
        raise NotImplementedError

    def _receive_reply(self) -> tuple[bool, Any, bool]:
        """Block until the next reply arrives and return it."""
        raise NotImplementedError

    def _disconnect(self) -> None:
        """Release the transport; the next request reconnects."""

    # ----------------------------------------------------------- internals
    def _request(self, num_tasks: int, wants_reply: bool = False) -> None:
        """Send the buffered reports with a request for ``num_tasks`` tasks."""
        # Step runs wait here as (STEPS, env_id, [step tuples]) and travel packed in columns.
        reports = [pack_steps(report[1], report[2]) if report[0] == STEPS else report for report in self._reports]
        self._reports = []
        self._num_reports = 0
        self._step_run = None
        wants_reply = wants_reply or num_tasks > 0
        self._send(reports, num_tasks, wants_reply)
        if wants_reply:
            self._pending_replies.append(num_tasks)
            self._tasks_in_flight += num_tasks

    def _take_reply(self) -> None:
        """Receive the oldest pending reply; queue its tasks or raise its error."""
        num_tasks = self._pending_replies.popleft()
        self._tasks_in_flight -= num_tasks
        ok, payload, requires_step_updates = self._receive_reply()
        if not ok:
            raise TaskServerError(payload)
        self.requires_step_updates = requires_step_updates
        self._tasks.extend(payload)

    def _tasks_per_request(self) -> int:
        """``prefetch``, or with ``prefetch="auto"`` the tasks that last about AUTO_PREFETCH_SECONDS."""
        if self.prefetch != "auto":
            return self.prefetch
        if self._seconds_per_task is None:
            return 1
        wanted = AUTO_PREFETCH_SECONDS / max(self._seconds_per_task, 1e-9)
        return int(min(AUTO_PREFETCH_MAX, max(1.0, wanted)))

    def _note_handout(self, k: int, asked_at: float) -> None:
        """Keep the running mean of seconds per task (only ``prefetch="auto"`` reads it).

        The interval runs from the previous ``sample`` returning to this one
        being called, so time spent waiting for the server is left out: a
        slow reply must not shrink the requests (more requests would only
        load the server further). A ``sample(0)`` hands nothing out and counts
        for nothing. When threads share the client, one may have asked before
        another's wait ended: that interval counts as zero, never negative.
        """
        if k == 0:
            return
        if self._last_handout is not None:
            interval = max(0.0, asked_at - self._last_handout) / k
            mean = self._seconds_per_task
            self._seconds_per_task = interval if mean is None else mean + _RATE_SMOOTHING * (interval - mean)
        self._last_handout = self.clock()

    def _top_up(self, upcoming: int) -> None:
        """Ask for a request's worth of tasks if fewer than that remain after ``upcoming`` more resets."""
        wanted = self._tasks_per_request()
        if wanted == 0:
            return
        available = len(self._tasks) + self._tasks_in_flight - upcoming
        if available < wanted:
            self._request(max(wanted, wanted - available))

    def _buffer(self, report: tuple, count: int = 1) -> None:
        self._reports.append(report)
        self._step_run = None
        self._num_reports += count
        if self._num_reports >= self.batch_size:
            self._request(0)

    # ------------------------------------------------------------ the API
    def sample(self, k: int = 1) -> list:
        """Return ``k`` tasks, from the prefetched ones when possible."""
        k = check_sample_count(k)
        if k > MAX_CLIENT_TASKS:
            raise ValueError(f"sample(k) of a task-server client takes k of at most {MAX_CLIENT_TASKS}, got {k}")
        asked_at = self.clock() if self.prefetch == "auto" else 0.0
        with self._lock:
            self._before_use()
            tasks = self._tasks
            while len(tasks) < k:
                # Checked on every round: a reply may bring fewer tasks than asked for (the Ray
                # client drops tasks sampled before a change of the curriculum's distribution).
                if len(tasks) + self._tasks_in_flight < k:
                    self._request(k - len(tasks) - self._tasks_in_flight + self._tasks_per_request())
                self._take_reply()
            sampled = [tasks.popleft() for _ in range(k)]
            if self.prefetch == "auto":
                self._note_handout(k, asked_at)
            self._top_up(0)
            return sampled

    def update_on_episode(
        self,
        episode_return: float,
        length: int,
        task: Any,
        progress: float = 0.0,
        env_id: int | None = None,
        score: float | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> None:
        """Buffer an episode report; top up tasks for the reset that follows (sending the report)."""
        episode_return, length = check_episode_fields(episode_return, length)
        extras = episode_extras(score, metrics)
        report = (EPISODE, episode_return, length, task, check_progress(progress), env_id, extras)
        with self._lock:
            self._before_use()
            self._buffer(report)
            self._top_up(1)

    def update_on_step(
        self,
        task: Any,
        obs: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        info: dict,
        progress: float = 0.0,
        env_id: int | None = None,
    ) -> None:
        """Buffer one step update (sent with the next request, or once ``batch_size`` reports wait).

        ``obs`` and ``info`` are buffered as they are, not copied: like
        Gymnasium (whose env checker flags envs that reuse them), this assumes
        an env returns new objects each step.
        """
        step = (task, obs, reward, terminated, truncated, info, check_progress(progress))
        with self._lock:
            run = self._step_run
            if run is None or self._step_run_env_id != env_id:
                run = []
                self._reports.append((STEPS, env_id, run))
                self._step_run = run
                self._step_run_env_id = env_id
            run.append(step)
            self._num_reports += 1
            if self._num_reports >= self.batch_size:
                self._before_use()
                self._request(0)

    def update_on_step_batch(self, step_results: Iterable[Sequence[Any]], env_id: int | None = None) -> None:
        """Buffer many step updates, each ``(task, obs, reward, terminated, truncated, info[, progress])``."""
        steps = []
        for result in step_results:
            if len(result) == 6:
                result = (*result, 0.0)
            elif len(result) != 7:
                raise ValueError(
                    "each step result must be (task, obs, reward, terminated, truncated, info[, progress]), "
                    f"got a tuple of length {len(result)}"
                )
            task, obs, reward, terminated, truncated, info, progress = result
            steps.append((task, obs, reward, terminated, truncated, info, check_progress(progress)))
        if steps:
            with self._lock:
                self._before_use()
                self._buffer((STEPS, env_id, steps), len(steps))

    def update_task_progress(self, task: Any, progress: float, env_id: int | None = None) -> None:
        """Buffer a progress report."""
        report = (PROGRESS, task, check_progress(progress), env_id)
        with self._lock:
            self._before_use()
            self._buffer(report)

    def flush(self) -> None:
        """Send the buffered reports and wait until the server has applied them.

        Prefetched tasks are kept. Raises :class:`TaskServerError` if the server
        failed, is gone, or did not answer within the client's ``timeout``.
        """
        with self._lock:
            self._before_use()
            self._request(0, wants_reply=True)
            while self._pending_replies:
                self._take_reply()

    def close(self) -> None:
        """Send the buffered reports, wait until the server applied them, and disconnect.

        Prefetched tasks are dropped; a closed client reconnects if it is used
        again. :class:`~syllabus_like.wrappers.CurriculumWrapper` calls this
        from its ``close()``, so closing the environments delivers every
        report, including step updates of unfinished episodes.
        """
        with self._lock:
            try:
                if self._reports or self._pending_replies:
                    self._before_use()
                    self._request(0, wants_reply=True)
                    while self._pending_replies:
                        self._take_reply()
            finally:
                self._disconnect()
                self._reset_state()

    def _before_use(self) -> None:
        """Hook run (under the lock) before any transport use: connect, or detect a fork."""

    # ------------------------------------------------------------- pickling
    def _config(self) -> dict[str, Any]:
        return {
            "prefetch": self.prefetch,
            "batch_size": self.batch_size,
            "timeout": self.timeout,
            "requires_step_updates": self.requires_step_updates,
        }

    def __getstate__(self) -> dict[str, Any]:
        return self._config()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]
