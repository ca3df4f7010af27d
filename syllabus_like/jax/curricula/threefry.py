"""``jax.random.bits``, ``uniform`` and ``split``, bit for bit, as one fused kernel on CPU.

JAX lowers its Threefry-2x32 hash on CPU as a ``fori_loop`` of five
iterations (it keeps compile times down). Inside a rollout's ``lax.scan``
that loop runs on every step, and on XLA's CPU runtime each iteration's
kernels are launched one by one: a curriculum drawing the tasks of the envs
that reset paid ~3 µs per step for it, 3-5 % of a CartPole rollout, more
than the rest of its sampling. Written out as plain array operations, the
twenty rounds fuse into a single elementwise kernel.

The functions here compute the same hash on the same counters as JAX does
with ``jax_threefry_partitionable`` (the default), so their results equal
``jax.random``'s exactly; the tests check that. For keys of another PRNG
implementation, or with that flag off, they call ``jax.random`` itself.

Threefry-2x32 with 20 rounds: J. K. Salmon, M. A. Moraes, R. O. Dror and
D. E. Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, UInt32

__all__ = ["random_bits", "random_uniform", "split_key"]

#: Rotation distances of Threefry-2x32, four per round group; groups alternate between the two rows.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
#: The constant that makes the third key word (Threefish's key-schedule parity).
_PARITY = 0x1BD11BDA


def _rotate_left(value: Array, distance: int) -> Array:
    return (value << np.uint32(distance)) | (value >> np.uint32(32 - distance))


def _threefry_2x32(key: UInt32[Array, " 2"], high: Array, low: Array) -> tuple[Array, Array]:
    """The Threefry-2x32 hash of the counter pairs ``(high, low)`` under ``key``: five groups of four rounds."""
    schedule = (key[0], key[1], key[0] ^ key[1] ^ np.uint32(_PARITY))
    x0, x1 = high + schedule[0], low + schedule[1]
    for group in range(5):
        for distance in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotate_left(x1, distance) ^ x0
        x0 = x0 + schedule[(group + 1) % 3]
        x1 = x1 + schedule[(group + 2) % 3] + np.uint32(group + 1)
    return x0, x1


def _threefry_key_data(key: PRNGKeyArray) -> Array | None:
    """The two key words when ``key`` is a Threefry key this module reproduces, else ``None``."""
    if not jax.config.jax_threefry_partitionable:
        return None
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if str(jax.random.key_impl(key)) != "threefry2x32" or key.shape != ():
            return None
        return jax.random.key_data(key)
    if jax.config.jax_default_prng_impl != "threefry2x32" or key.shape != (2,) or key.dtype != jnp.uint32:
        return None
    return key


def _hash_of_positions(data: Array, n: int) -> tuple[Array, Array]:
    """Threefry of the counters ``0 .. n-1`` (high word 0), as JAX lays them out for a 1-D draw."""
    low = jax.lax.iota(jnp.uint32, n)
    return _threefry_2x32(data, jnp.zeros_like(low), low)


def random_bits(key: PRNGKeyArray, n: int) -> UInt32[Array, " n"]:
    """``jax.random.bits(key, (n,), jnp.uint32)``."""
    data = _threefry_key_data(key)
    if data is None:
        return jax.random.bits(key, (n,), jnp.uint32)
    first, second = _hash_of_positions(data, n)
    return first ^ second


def random_uniform(key: PRNGKeyArray, n: int) -> Float[Array, " n"]:
    """``jax.random.uniform(key, (n,))``: float32 in ``[0, 1)`` from the top 23 bits."""
    if _threefry_key_data(key) is None:
        return jax.random.uniform(key, (n,))
    mantissa = random_bits(key, n) >> np.uint32(32 - 23)
    one = np.array(1.0, np.float32).view(np.uint32)
    return jnp.maximum(jax.lax.bitcast_convert_type(mantissa | one, jnp.float32) - 1.0, 0.0)


def split_key(key: PRNGKeyArray, n: int) -> PRNGKeyArray:
    """``jax.random.split(key, n)``, in the key's own form (typed keys stay typed, raw ``uint32[2]`` stay raw)."""
    data = _threefry_key_data(key)
    if data is None:
        return jax.random.split(key, n)
    first, second = _hash_of_positions(data, n)
    words = jnp.stack([first, second], axis=1)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(words, impl=jax.random.key_impl(key))
    return words
