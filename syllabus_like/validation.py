"""Argument checks shared across the library, with messages that name what was given."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_positive_int", "check_prefetch", "check_progress", "check_sample_count"]


def check_positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    """Return ``value`` as an int, or raise a ValueError naming ``name`` and what it got.

    Booleans are refused even though ``bool`` subclasses ``int``.
    """
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {kind} int, got {value!r}")
    return int(value)


def check_sample_count(k: Any) -> int:
    """``k`` of ``sample(k)`` as an int: a non-negative int (numpy ints too, booleans never)."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"sample(k) needs a non-negative int k, got {k!r}")
    return int(k)


def check_prefetch(prefetch: Any) -> int | str:
    """Return a task-server client's ``prefetch``: a non-negative int or ``"auto"``; ValueError otherwise."""
    if isinstance(prefetch, str) and prefetch == "auto":
        return "auto"
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
        raise ValueError(f"prefetch must be a non-negative int or 'auto', got {prefetch!r}")
    return int(prefetch)


def check_progress(progress: Any) -> float:
    """``progress`` (e.g. an env's ``task_completion``) as a float in [0, 1]; ValueError otherwise (NaN too)."""
    if type(progress) is float and 0.0 <= progress <= 1.0:  # the usual case, first
        return progress
    try:  # numpy scalars and 0-d arrays too, but no bools or strings
        if isinstance(progress, (bool, np.bool_, str, bytes)):
            raise TypeError
        value = float(progress)
    except (TypeError, ValueError):
        raise ValueError(f"progress must be a number in [0, 1], got {progress!r:.80}") from None
    if not 0.0 <= value <= 1.0:  # False for NaN
        raise ValueError(f"progress must be a number in [0, 1], got {progress!r:.80}")
    return value
