"""Checks of state_dict fields shared by the curricula's ``_check_state`` (ValueError naming the field)."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

__all__ = [
    "checked_array",
    "checked_bools",
    "checked_floats",
    "checked_int",
    "checked_spare_uniforms",
    "is_float32",
    "is_int",
    "lists_exactly",
]

_FLOAT32 = struct.Struct("<f")


def is_int(value: Any) -> bool:
    """An int (Python or NumPy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def lists_exactly(value: Any, expected: list[int]) -> bool:
    """Whether ``value`` is a list of ints holding exactly the ints of ``expected`` (sorted), in any order."""
    return isinstance(value, list) and all(is_int(item) for item in value) and sorted(value) == expected


def is_float32(value: float) -> bool:
    """Whether the double ``value`` is a float32 value (NaN and the infinities included)."""
    if value != value or math.isinf(value):
        return True
    try:
        return bool(_FLOAT32.unpack(_FLOAT32.pack(value))[0] == value)
    except OverflowError:
        return False


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def checked_int(field: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (no upper bound for ``high=None``)."""
    if not is_int(value) or value < low or (high is not None and value > high):
        upper = "" if high is None else f", at most {high}"
        raise ValueError(f"state field {field!r} must be an int of at least {low}{upper}, got {_describe(value)}")
    return int(value)


def checked_floats(
    field: str,
    values: Any,
    length: int,
    *,
    what: str,
    low: float = -math.inf,
    high: float = math.inf,
    finite: bool = False,
    float32: bool = False,
) -> list[float]:
    """``values`` as a list of ``length`` floats in [low, high] (finite ones, float32 ones, if asked).

    ``what`` says where ``length`` comes from (as in "buffer_size"), for the message.
    """
    if not isinstance(values, list) or len(values) != length:
        given = f"a list of {len(values)}" if isinstance(values, list) else _describe(values)
        raise ValueError(f"state field {field!r} must be a list of {length} floats ({what}), got {given}")
    for index, value in enumerate(values):
        wrong = (
            "is not a float"
            if type(value) is not float
            else "is not finite"
            if finite and not math.isfinite(value)
            else f"is outside [{low}, {high}]"
            if value < low or value > high
            else "is not a float32 value (state_dict() writes float32 values)"
            if float32 and not is_float32(value)
            else None
        )
        if wrong is not None:
            raise ValueError(f"state field {field!r}: item {index}, {_describe(value)}, {wrong}")
    return list(values)


def checked_bools(field: str, values: Any, length: int, *, what: str) -> list[bool]:
    """``values`` as a list of ``length`` bools."""
    if not isinstance(values, list) or len(values) != length or not all(type(v) is bool for v in values):
        given = f"a list of {len(values)} items" if isinstance(values, list) else _describe(values)
        raise ValueError(
            f"state field {field!r} must be a list of {length} bools ({what}), got {given}: {values!r:.80}"
        )
    return list(values)


def checked_spare_uniforms(values: Any, block: int) -> list[float]:
    """The ``spare_uniforms`` field: at most ``block`` floats in [0, 1)."""
    if (
        not isinstance(values, list)
        or len(values) > block
        or not all(type(u) is float and 0.0 <= u < 1.0 for u in values)
    ):
        raise ValueError(
            f"state field 'spare_uniforms' must be a list of at most {block} floats in [0, 1), got {values!r:.80}"
        )
    return list(values)


def checked_array(
    field: str, value: Any, shape: tuple[int | None, ...], *, finite: bool = True, why: str = ""
) -> np.ndarray:
    """``value`` (an array or nested lists of real numbers) as a float64 array of ``shape`` (None: any size).

    ``why`` says where ``shape`` comes from, for the message.
    """
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:  # ragged lists
        raise ValueError(
            f"state field {field!r} is not an array of shape {_shape(shape)}: {_describe(value)}"
        ) from error
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"state field {field!r} must hold real numbers (an array of shape {_shape(shape)}), got {_describe(value)}"
        )
    if array.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(array.shape, shape, strict=False)
    ):
        raise ValueError(
            f"state field {field!r} must have shape {_shape(shape)}{why and f' ({why})'}, got shape {array.shape}"
        )
    array = array.astype(np.float64)
    if finite and not np.isfinite(array).all():
        raise ValueError(f"state field {field!r} must hold finite numbers, got {_describe(value)}")
    return array


def _shape(shape: tuple[int | None, ...]) -> str:
    return (
        "(" + ", ".join("n" if size is None else str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"
    )
