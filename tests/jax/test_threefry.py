"""The fused Threefry draws equal ``jax.random``'s bit for bit, and avoid its rolled loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from syllabus_like.jax.curricula.threefry import random_bits, random_uniform, split_key

KEYS = {
    "typed key": lambda: jax.random.key(3),
    "raw uint32[2] key": lambda: jax.random.PRNGKey(7),
    "key from a split": lambda: jax.random.split(jax.random.key(11), 5)[4],
}


def _words(keys: jax.Array) -> np.ndarray:
    return np.asarray(jax.random.key_data(keys) if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key) else keys)


@pytest.mark.parametrize("make_key", KEYS.values(), ids=KEYS.keys())
@pytest.mark.parametrize("n", [1, 2, 7, 128, 10_000])
def test_equal_to_jax_random(make_key, n: int) -> None:
    key = make_key()
    np.testing.assert_array_equal(random_bits(key, n), jax.random.bits(key, (n,), jnp.uint32))
    np.testing.assert_array_equal(random_uniform(key, n), jax.random.uniform(key, (n,)))
    ours, theirs = split_key(key, n), jax.random.split(key, n)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(_words(ours), _words(theirs))


def test_equal_under_jit_and_vmap() -> None:
    keys = jax.random.split(jax.random.key(1), 4)
    draw = jax.jit(jax.vmap(lambda key: (random_bits(key, 6), random_uniform(key, 6), split_key(key, 3))))
    bits, uniform, split = draw(keys)
    np.testing.assert_array_equal(bits, jax.vmap(lambda key: jax.random.bits(key, (6,), jnp.uint32))(keys))
    np.testing.assert_array_equal(uniform, jax.vmap(lambda key: jax.random.uniform(key, (6,)))(keys))
    np.testing.assert_array_equal(_words(split), _words(jax.vmap(lambda key: jax.random.split(key, 3))(keys)))


def test_uniforms_lie_in_the_unit_interval() -> None:
    values = np.asarray(random_uniform(jax.random.key(0), 100_000))
    assert values.min() >= 0.0 and values.max() < 1.0
    assert abs(values.mean() - 0.5) < 0.01


def _has_a_loop(function, key) -> bool:
    """Whether the compiled program holds a ``while`` loop (JAX's Threefry on CPU is one)."""
    return "while" in jax.jit(function).lower(key).compile().as_text()


def test_threefry_keys_take_the_fused_path() -> None:
    draws = lambda key: (random_bits(key, 4), random_uniform(key, 4), split_key(key, 4))  # noqa: E731
    assert not _has_a_loop(draws, jax.random.key(0))
    assert not _has_a_loop(draws, jax.random.PRNGKey(0))
    if jax.default_backend() == "cpu":  # the control: JAX's own lowering there is a loop
        assert _has_a_loop(lambda key: jax.random.bits(key, (4,)), jax.random.key(0))


def test_other_generators_fall_back_to_jax_random() -> None:
    key = jax.random.key(5, impl="rbg")
    np.testing.assert_array_equal(random_bits(key, 9), jax.random.bits(key, (9,), jnp.uint32))
    np.testing.assert_array_equal(random_uniform(key, 9), jax.random.uniform(key, (9,)))
    np.testing.assert_array_equal(_words(split_key(key, 3)), _words(jax.random.split(key, 3)))


def test_non_partitionable_threefry_falls_back_to_jax_random() -> None:
    """With ``jax_threefry_partitionable`` off JAX numbers its counters differently; we follow it."""
    with jax.threefry_partitionable(False):
        key = jax.random.key(2)
        np.testing.assert_array_equal(random_bits(key, 9), jax.random.bits(key, (9,), jnp.uint32))
        np.testing.assert_array_equal(_words(split_key(key, 3)), _words(jax.random.split(key, 3)))
        if jax.default_backend() == "cpu":
            assert _has_a_loop(lambda k: random_bits(k, 4), key)
