"""Argument checks shared across the library, with messages that name what was given."""

from __future__ import annotations

from typing import Any

__all__ = ["check_positive_int"]


def check_positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    """Return ``value`` as an int, or raise a ValueError naming ``name`` and what it got.

    Booleans are refused even though ``bool`` subclasses ``int``.
    """
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {kind} int, got {value!r}")
    return int(value)
