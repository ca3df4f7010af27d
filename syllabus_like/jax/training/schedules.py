"""Schedules: functions of the iteration count for :class:`~syllabus_like.jax.ScheduledCurriculum`.

:func:`linear_schedule`, :func:`step_schedule` and :func:`cosine_schedule`
return equinox Modules whose numbers are array fields, so changing a number
reuses the compiled training program. Each is a jittable function: use it
inside jitted code or wrap it in ``jax.jit`` directly.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from syllabus_like.jax._checks import finite_values, positive_number

__all__ = [
    "AbstractSchedule",
    "CosineSchedule",
    "LinearSchedule",
    "StepSchedule",
    "cosine_schedule",
    "linear_schedule",
    "step_schedule",
]


class AbstractSchedule(eqx.Module):
    """A function of the iteration count whose numbers are array fields (changing them never recompiles).

    A schedule is a jittable function in both senses: called inside jitted
    code (its numbers are leaves of the traced pytree) and passed to
    ``jax.jit`` itself. ``jax.jit`` keys its cache on the function's hash;
    the dataclass hash of a Module hashes its fields, and arrays are not
    hashable, so schedules hash by identity instead (two schedules are the
    same function only if they are the same object).
    """

    __hash__ = object.__hash__

    @abc.abstractmethod
    def __call__(self, iteration: Int[Array, ""]) -> Array:
        """The value at ``iteration`` (0-based)."""


class LinearSchedule(AbstractSchedule):
    """``start + (end - start) * min(iteration / total, 1)``: linear, then constant at ``end``."""

    start: Array
    end: Array
    total: Float[Array, ""]

    def __init__(self, start: ArrayLike, end: ArrayLike, total: ArrayLike) -> None:
        self.start = finite_values("linear_schedule", "start", start)
        self.end = finite_values("linear_schedule", "end", end)
        self.total = positive_number("linear_schedule", "total", total)

    def __call__(self, iteration: Int[Array, ""]) -> Array:
        fraction = jnp.clip(jnp.asarray(iteration, jnp.float32) / self.total, 0.0, 1.0)
        return self.start + (self.end - self.start) * fraction


class CosineSchedule(AbstractSchedule):
    """Half a cosine from ``start`` to ``end`` over ``total`` iterations, then ``end``.

    ``end + (start - end) * (1 + cos(pi * min(iteration / total, 1))) / 2``
    (the shape of Loshchilov & Hutter's SGDR, 2017, without restarts).
    """

    start: Array
    end: Array
    total: Float[Array, ""]

    def __init__(self, start: ArrayLike, end: ArrayLike, total: ArrayLike) -> None:
        self.start = finite_values("cosine_schedule", "start", start)
        self.end = finite_values("cosine_schedule", "end", end)
        self.total = positive_number("cosine_schedule", "total", total)

    def __call__(self, iteration: Int[Array, ""]) -> Array:
        fraction = jnp.clip(jnp.asarray(iteration, jnp.float32) / self.total, 0.0, 1.0)
        return self.end + (self.start - self.end) * 0.5 * (1.0 + jnp.cos(jnp.pi * fraction))


class StepSchedule(AbstractSchedule):
    """Piecewise constant: ``values[k]`` for ``boundaries[k-1] <= iteration < boundaries[k]``.

    ``values[0]`` before the first boundary, ``values[-1]`` from the last one on.
    """

    values: Array
    boundaries: Int[Array, " k"]

    def __init__(self, values: ArrayLike, boundaries: ArrayLike) -> None:
        values = finite_values("step_schedule", "values", values)
        boundary_array = np.asarray(boundaries, dtype=float)
        if boundary_array.ndim != 1:
            raise ValueError(
                f"step_schedule: boundaries must be a 1-D sequence of iteration counts, got {boundaries!r}"
            )
        boundaries_list = boundary_array.tolist()
        if values.ndim == 0:
            raise ValueError(f"step_schedule: values must be a sequence (one value per segment), got {values!r}")
        if len(values) != len(boundaries_list) + 1:
            raise ValueError(
                "step_schedule: need len(values) == len(boundaries) + 1 (one value before the first "
                f"boundary and one after each), got {len(values)} values and {len(boundaries_list)} boundaries"
            )
        if any(not float(b).is_integer() or b < 0 for b in boundaries_list):
            raise ValueError(f"step_schedule: boundaries must be non-negative integers, got {list(boundaries)}")
        boundaries_list = [int(b) for b in boundaries_list]
        if any(b >= c for b, c in zip(boundaries_list, boundaries_list[1:], strict=False)):
            raise ValueError(f"step_schedule: boundaries must be strictly increasing, got {boundaries_list}")
        self.values = values
        self.boundaries = jnp.asarray(boundaries_list, dtype=jnp.int32)

    def __call__(self, iteration: Int[Array, ""]) -> Array:
        segment = jnp.searchsorted(self.boundaries, jnp.asarray(iteration, jnp.int32), side="right")
        return self.values[segment]


def linear_schedule(start: ArrayLike, end: ArrayLike, total: ArrayLike) -> LinearSchedule:
    """From ``start`` at iteration 0 to ``end`` at iteration ``total``, clamped to ``end`` after."""
    return LinearSchedule(start, end, total)


def step_schedule(values: ArrayLike, boundaries: ArrayLike) -> StepSchedule:
    """``values[0]`` until ``boundaries[0]``, ``values[1]`` until ``boundaries[1]``, ..., then ``values[-1]``.

    Raises ValueError unless ``len(values) == len(boundaries) + 1`` and the
    boundaries are strictly increasing non-negative integers.
    """
    return StepSchedule(values, boundaries)


def cosine_schedule(start: ArrayLike, end: ArrayLike, total: ArrayLike) -> CosineSchedule:
    """Cosine annealing from ``start`` to ``end`` over ``total`` iterations, clamped to ``end`` after."""
    return CosineSchedule(start, end, total)
