"""Window means of episode returns, and the bounds that let an update skip computing them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from syllabus_like.jax.curricula.return_window import window_mean, window_mean_bounds, window_means


def _every_window_mean(sequence: np.ndarray, kept: int, members: int, window: int) -> np.ndarray:
    """Computed means after each of ``members`` new returns (laid out after a window holding ``kept``)."""
    end = window + np.arange(1, members + 1)
    count = np.minimum(kept + np.arange(1, members + 1), window)
    means = jax.jit(window_means, static_argnums=3)(jnp.asarray(sequence), jnp.asarray(end), jnp.asarray(count), window)
    return np.asarray(means)


@pytest.mark.parametrize("window", [3, 64, 100, 1000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounds_contain_every_window_mean(window, seed):
    rng = np.random.default_rng(seed)
    kept = int(rng.integers(0, window + 1))
    members = int(rng.integers(1, 3 * window))
    scale = float(10.0 ** rng.integers(-3, 6))
    values = (rng.normal(size=kept + members) * scale + rng.normal() * scale).astype(np.float32)
    values[rng.random(values.shape) < 0.01] *= 50  # a few outliers
    sequence = np.zeros(window + members, np.float32)
    sequence[window - kept :] = values
    valid = np.zeros(window + members, bool)
    valid[window - kept :] = True
    low, high, irregular = window_mean_bounds(
        jnp.asarray(sequence), jnp.asarray(valid), jnp.int32(max(kept, 1)), window
    )
    means = _every_window_mean(sequence, kept, members, window)
    assert not bool(irregular)
    assert float(low) <= means.min() and means.max() <= float(high)
    assert float(low) >= values.min() - abs(values.min()) * 1e-3 - 1e-30  # never looser than the extreme values
    assert float(high) <= values.max() + abs(values.max()) * 1e-3 + 1e-30


def test_full_windows_are_bounded_by_about_twice_the_mean_not_the_largest_return():
    window = 1000
    rng = np.random.default_rng(0)
    returns = rng.uniform(10.0, 30.0, 6000).astype(np.float32)
    returns[::500] = 150.0  # rare long episodes
    sequence = returns
    valid = np.ones(sequence.shape, bool)
    low, high, _ = window_mean_bounds(jnp.asarray(sequence), jnp.asarray(valid), jnp.int32(window), window)
    means = _every_window_mean(sequence, window, len(sequence) - window, window)
    assert means.max() <= float(high) < 60.0  # the largest single return is 150
    assert 10.0 <= float(low) <= means.min()


def test_nan_and_overflowing_returns_give_irregular_unbounded_results():
    window = 4
    valid = jnp.ones(8, bool)
    with_nan = jnp.asarray([1.0, 2.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0], jnp.float32)
    low, high, irregular = window_mean_bounds(with_nan, valid, jnp.int32(4), window)
    assert bool(irregular) and float(low) == -np.inf and float(high) == np.inf
    huge = jnp.full(8, 3e38, jnp.float32)  # sums overflow to inf
    low, high, irregular = window_mean_bounds(huge, valid, jnp.int32(4), window)
    assert bool(irregular) and float(high) == np.inf
    infinite = jnp.asarray([1.0, np.inf, 2.0, 3.0, -np.inf, 1.0, 1.0, 1.0], jnp.float32)
    assert bool(window_mean_bounds(infinite, valid, jnp.int32(1), window)[2])


def test_no_valid_return_gives_an_empty_interval():
    low, high, irregular = window_mean_bounds(jnp.zeros(6), jnp.zeros(6, bool), jnp.int32(1), 3)
    assert float(low) > float(high) and not bool(irregular)


def test_window_mean_of_the_last_count_entries():
    returns = jnp.asarray([0.0, 0.0, 1.5, 2.5, 3.5], jnp.float32)
    assert float(window_mean(returns, jnp.int32(3))) == pytest.approx(2.5)
    assert float(window_mean(jnp.zeros(5), jnp.int32(0))) == 0.0
