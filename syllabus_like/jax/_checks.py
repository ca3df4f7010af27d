"""Argument checks the schedules and the environment-field curricula share.

Private to ``syllabus_like.jax`` (the module name starts with an underscore);
the names inside are public so that the modules using them import no private name.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["finite_values", "positive_number"]


def positive_number(owner: str, name: str, value: Any) -> Float[Array, ""]:
    """``value`` as a float32 scalar, checked positive and finite; errors name ``owner`` and ``name``."""
    array = jnp.asarray(value, dtype=jnp.float32)
    if array.shape != ():
        raise ValueError(f"{owner}: {name} must be a scalar, got shape {array.shape}")
    if not float(array) > 0 or not math.isfinite(float(array)):
        raise ValueError(f"{owner}: {name} must be a positive finite number, got {value!r}")
    return array


def finite_values(owner: str, name: str, value: Any) -> Array:
    """``value`` as an array of finite real numbers; errors name ``owner`` and ``name``."""
    array = jnp.asarray(value)
    if not jnp.issubdtype(array.dtype, jnp.number) or jnp.issubdtype(array.dtype, jnp.complexfloating):
        raise TypeError(f"{owner}: {name} must be real numbers, got {value!r}")
    if not bool(jnp.all(jnp.isfinite(array))):
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}")
    return array
