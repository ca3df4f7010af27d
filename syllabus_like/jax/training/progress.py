"""Progress and metrics from inside a jitted run, at a bounded rate.

A compiled training loop cannot print; it can call back to the host with
``jax.debug.callback``. Doing that every environment step would serialise
the run on the host, so :class:`ProgressCallback` calls back once every
``every`` iterations (inside a ``lax.cond``), plus once when training starts
and once when it ends. On the host it

* redraws a one-line progress bar on a text stream (``stream``, e.g.
  ``sys.stderr``), at most once per ``min_interval`` seconds;
* writes every reported scalar to a TensorBoard-style ``writer`` (anything
  with ``add_scalar(tag, value, step)``, e.g. ``tensorboardX.SummaryWriter``),
  the step being the number of environment steps so far;
* logs a line through :mod:`logging` (logger ``syllabus_like.jax.training.progress``, INFO).

The host side (:class:`ProgressReporter`) is plain Python and can be used
without JAX, e.g. to test a writer.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Key

from syllabus_like.jax.training.callback import AbstractStatelessCallback, IterationContext, TrainingContext
from syllabus_like.validation import check_positive_int

__all__ = ["ProgressCallback", "ProgressReporter", "ScalarWriter"]

logger = logging.getLogger(__name__)

#: Training-log entries shown first (after the caller's own metrics) on the progress bar.
_HEADLINE = ("episode_return", "episode_length", "episodes", "loss")


class ScalarWriter(Protocol):
    """What :class:`ProgressReporter` needs from a metrics writer (TensorBoard's ``SummaryWriter`` has it)."""

    def add_scalar(self, tag: str, scalar_value: float, global_step: int) -> Any: ...


def _to_float(value: Any) -> float:
    """A reported value as a float; batched values (a vmapped run) are averaged."""
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else float(np.mean(array))


class ProgressReporter:
    """The host side of :class:`ProgressCallback`: bar, writer and log.

    Args:
        stream: text stream for the progress bar, or None for no bar.
        writer: object with ``add_scalar(tag, value, step)``, or None.
        prefix: prepended to every writer tag (e.g. ``"train/"``).
        min_interval: minimum seconds between two redraws of the bar (the
            writer receives every report).
        width: characters of the bar itself.
        clock: time source (seconds), replaceable in tests.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        writer: ScalarWriter | None = None,
        *,
        prefix: str = "",
        min_interval: float = 0.1,
        width: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if writer is not None and not callable(getattr(writer, "add_scalar", None)):
            raise TypeError(f"writer must have an add_scalar(tag, value, step) method, got {writer!r}")
        if not (isinstance(min_interval, (int, float)) and min_interval >= 0):
            raise ValueError(f"min_interval must be a non-negative number of seconds, got {min_interval!r}")
        check_positive_int("width", width)
        self.stream = stream
        self.writer = writer
        self.prefix = prefix
        self.min_interval = float(min_interval)
        self.width = width
        self.clock = clock
        self.num_iterations = 0
        self.last_iteration = -1
        self.reports = 0
        self._started_at = clock()
        self._start_iteration = 0
        self._last_draw = -math.inf
        self._last_line = ""
        self._tail = ""

    # ------------------------------------------------------------------ called from JAX
    def start(self, iteration: Any, num_iterations: Any) -> None:
        """A learn / resume call begins at ``iteration`` with ``num_iterations`` in all."""
        self.num_iterations = int(_to_float(num_iterations))
        self.last_iteration = int(_to_float(iteration)) - 1
        self._start_iteration = self.last_iteration + 1
        self._started_at = self.clock()
        self._last_draw = -math.inf
        self._last_line = ""
        logger.info("training from iteration %d to %d", self._start_iteration, self.num_iterations)
        self._draw(self._start_iteration, self._started_at)

    def report(self, iteration: Any, steps_per_iteration: Any, metrics: Mapping[str, Any]) -> None:
        """Iteration ``iteration`` (0-based) finished with these scalar ``metrics``."""
        iteration = int(_to_float(iteration))
        if iteration <= self.last_iteration:  # a late duplicate: reports only move forward
            return
        self.last_iteration = iteration
        self.reports += 1
        env_steps = (iteration + 1) * int(_to_float(steps_per_iteration))
        values = {name: _to_float(value) for name, value in metrics.items()}
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"{self.prefix}{name}", value, env_steps)
        summary = " ".join(f"{name}={value:.4g}" for name, value in values.items())
        logger.info("iteration %d (%d env steps): %s", iteration + 1, env_steps, summary)
        shown = " ".join(f"{name} {value:.4g}" for name, value in list(values.items())[:4])
        self._tail = f" | {env_steps} steps | {shown}"
        now = self.clock()
        if now - self._last_draw >= self.min_interval:
            self._draw(iteration + 1, now)

    def finish(self, iteration: Any) -> None:
        """The call ended after ``iteration`` iterations (early stop: fewer than planned)."""
        done = int(_to_float(iteration))
        if self.stream is not None:
            self._draw(done, self.clock())
            self.stream.write("\n")
            self.stream.flush()
        logger.info("training ended after %d of %d iterations", done, self.num_iterations)

    # ------------------------------------------------------------------ drawing
    def _draw(self, done: int, now: float) -> None:
        """Redraw the bar in place (carriage return), with the last reported values."""
        self._last_draw = now
        if self.stream is None:
            return
        total = max(self.num_iterations, 1)
        filled = min(self.width, round(self.width * done / total))
        rate = (done - self._start_iteration) / max(now - self._started_at, 1e-9)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.num_iterations} it {rate:.1f} it/s{self._tail}"
        )
        padding = " " * max(0, len(self._last_line) - len(line))
        self.stream.write("\r" + line + padding)
        self.stream.flush()
        self._last_line = line


class ProgressCallback(AbstractStatelessCallback):
    """Reports the training log to the host every ``every`` iterations (never per step).

    Args:
        every: report after iterations ``every - 1, 2 * every - 1, ...`` (a
            static int: it shapes the compiled program's branches).
        stream: text stream for a progress bar (e.g. ``sys.stderr``), or None.
        writer: TensorBoard-style writer (``add_scalar(tag, value, step)``), or None.
        prefix: prepended to writer tags.
        min_interval: minimum seconds between bar redraws.
        metrics_fn: optional ``IterationContext -> dict[str, scalar]`` of extra
            values to report (e.g. a curriculum's level read from ``ctx.env``);
            by default the algorithm's training log is reported.
        reporter: a :class:`ProgressReporter` to use instead of building one
            from ``stream`` / ``writer`` / ``prefix`` / ``min_interval``.

    The reporter is host state: it is kept out of the pytree (a static
    field), so the callback's JAX state is ``None`` and a checkpoint does not
    hold it. Its host calls are *ordered* effects (start, reports and end
    arrive in order), which JAX does not allow under ``jax.vmap``: to train
    several seeds in one vmapped program, leave this callback out.
    """

    every: int = eqx.field(static=True)
    reporter: ProgressReporter = eqx.field(static=True)
    metrics_fn: Callable[[IterationContext], Mapping[str, Any]] | None = eqx.field(static=True)

    def __init__(
        self,
        every: int = 10,
        *,
        stream: TextIO | None = None,
        writer: ScalarWriter | None = None,
        prefix: str = "",
        min_interval: float = 0.1,
        metrics_fn: Callable[[IterationContext], Mapping[str, Any]] | None = None,
        reporter: ProgressReporter | None = None,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"ProgressCallback: every must be a positive int (iterations), got {every!r}")
        if metrics_fn is not None and not callable(metrics_fn):
            raise TypeError(
                f"ProgressCallback: metrics_fn must be a function of the IterationContext, got {metrics_fn!r}"
            )
        self.every = every
        self.metrics_fn = metrics_fn
        self.reporter = (
            reporter
            if reporter is not None
            else ProgressReporter(stream, writer, prefix=prefix, min_interval=min_interval)
        )

    def on_training_start(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> None:
        jax.debug.callback(self.reporter.start, ctx.iteration_count, ctx.locals["num_iterations"], ordered=True)
        return None

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> None:
        extra = dict(self.metrics_fn(ctx)) if self.metrics_fn is not None else {}
        log = dict(ctx.training_log)
        # Order (kept by passing a tuple): the caller's metrics, then the usual headline numbers, then the rest.
        names = list(extra) + [name for name in _HEADLINE if name in log and name not in extra]
        names += sorted(name for name in log if name not in names)
        values = tuple(jnp.asarray({**log, **extra}[name], jnp.float32) for name in names)
        steps_per_iteration = jnp.asarray(ctx.locals.get("num_envs", 1) * ctx.locals.get("num_steps", 1), jnp.int32)

        def report(iteration: Any, steps: Any, reported: tuple[Any, ...]) -> None:
            self.reporter.report(iteration, steps, dict(zip(names, reported, strict=False)))

        def send() -> None:
            jax.debug.callback(report, ctx.iteration_count, steps_per_iteration, values, ordered=True)

        lax.cond((ctx.iteration_count + 1) % self.every == 0, send, lambda: None)
        return None

    def on_training_end(self, ctx: TrainingContext, *, key: Key[Array, ""]) -> None:
        jax.debug.callback(self.reporter.finish, ctx.iteration_count, ordered=True)
        return None
