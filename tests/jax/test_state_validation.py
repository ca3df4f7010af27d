"""JAX state loading refuses foreign and damaged states (issue 18, item 7), and the
jitted update's rule for impossible episodes (negative lengths, unknown task ids)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402

from syllabus_like.jax import EpisodeBatch, SequentialCurriculum, state_from_bytes, state_to_bytes  # noqa: E402
from syllabus_like.jax.serialization import check_sequential_state  # noqa: E402

TWO = SequentialCurriculum([[0], [1]], ["episodes>=2"], 5, return_buffer_size=4)
FIVE = SequentialCurriculum([[0], [1], [2], [3], [4]], ["episodes>=1"] * 4, 5, return_buffer_size=4)


def _played(curriculum, episodes: int):
    state = curriculum.init(jax.random.key(0))
    for index in range(episodes):
        state, tasks = curriculum.sample(state, jax.random.key(index), 1)
        state = curriculum.update(state, EpisodeBatch(tasks, [float(index)], [3]))
    return state


def _check(curriculum):
    return lambda tree: check_sequential_state(curriculum, tree)


def test_a_five_stage_state_at_stage_four_is_refused_by_a_two_stage_curriculum():
    blob = state_to_bytes(_played(FIVE, 5))
    state_from_bytes(blob, like=TWO.init(jax.random.key(0)))  # same shapes: only a check can tell
    with pytest.raises(ValueError, match=r"'stage' must be in \[0, 2\), got 4"):
        state_from_bytes(blob, like=TWO.init(jax.random.key(0)), check=_check(TWO))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stage": -7}, "'stage'"),
        ({"episodes": -1, "total_episodes": -1}, "'episodes' must be non-negative"),
        ({"total_steps": 0, "steps": 5}, "'steps' exceeds 'total_steps'"),
        ({"num_returns": 9}, "'num_returns' must be at most 4"),
        ({"mean_return": jnp.float32(123.0)}, "'mean_return'"),
        ({"done": jnp.bool_(True)}, "'done' may be True only on the last stage"),
        ({"num_switches": jnp.int32(-1)}, "'num_switches' must be non-negative"),
    ],
)
def test_counters_out_of_range_are_refused_naming_the_field(changes, field):
    state = _played(TWO, 3).replace(**changes)
    with pytest.raises(ValueError, match=field):
        state_from_bytes(state_to_bytes(state), like=TWO.init(jax.random.key(0)), check=_check(TWO))


def test_a_corrupted_byte_raises_value_error_not_bad_zip_file():
    blob = bytearray(state_to_bytes((_played(TWO, 3), jax.random.key(1))))
    like = (TWO.init(jax.random.key(0)), jax.random.key(0))
    offsets = range(0, len(blob), max(1, len(blob) // 200))
    for offset in offsets:
        damaged = bytearray(blob)
        damaged[offset] ^= 0xFF
        try:
            state_from_bytes(bytes(damaged), like=like)
        except ValueError:
            pass  # zipfile.BadZipFile, zlib.error, KeyError, ... would fail the test


def _archive(header) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, __syllabus_like_header__=np.asarray(json.dumps(header)), leaf0=np.zeros(3))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "header",
    [
        [],
        {"format": "syllabus_like.jax.state/1"},
        {"format": "syllabus_like.jax.state/1", "leaves": [{"kind": "array"}]},
        {"format": "syllabus_like.jax.state/1", "leaves": [{"path": "[0]", "kind": "key"}]},
        {
            "format": "syllabus_like.jax.state/1",
            "leaves": [{"path": "", "kind": "array"}, {"path": "", "kind": "array"}],
        },
    ],
)
def test_hand_made_headers_raise_value_error(header):
    with pytest.raises(ValueError):
        state_from_bytes(_archive(header), like=jnp.zeros(3))
    assert not isinstance(zipfile.BadZipFile(), ValueError)  # what used to escape


COUNTERS = ("stage", "steps", "episodes", "tasks", "total_steps", "total_episodes", "total_tasks", "num_returns")


@settings(max_examples=30, deadline=None)
@given(
    episodes=st.integers(0, 6),
    field=st.sampled_from([*COUNTERS, "returns", "mean_return"]),
    integer=st.integers(-(2**31), 2**31 - 1),
    real=st.floats(-1e6, 1e6, width=32),
    slot=st.integers(0, 3),
)
def test_any_mutation_loads_exactly_or_raises_value_error_naming_the_field(episodes, field, integer, real, slot):
    state = _played(TWO, episodes)
    if field == "returns":
        mutated = state.replace(returns=state.returns.at[slot].set(real))
    elif field == "mean_return":
        mutated = state.replace(mean_return=jnp.float32(real))
    else:
        mutated = state.replace(**{field: jnp.int32(integer)})
    try:
        loaded = state_from_bytes(state_to_bytes(mutated), like=TWO.init(jax.random.key(0)), check=_check(TWO))
    except ValueError as error:
        named = {field, "mean_return", "returns", "num_returns", "stage"} | {
            f"total_{field}",
            field.removeprefix("total_"),
        }
        assert any(f"'{name}'" in str(error) for name in named), str(error)
    else:
        for saved, restored in zip(jax.tree.leaves(mutated), jax.tree.leaves(loaded), strict=False):
            np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))


# ------------------------------------------------------------- update's rules


def test_a_negative_length_counts_as_zero_steps_and_never_wraps():
    hold = SequentialCurriculum([[0], [1]], ["episodes>=100"], 5, return_buffer_size=4)
    state = hold.init(jax.random.key(0))
    state = hold.update(state, EpisodeBatch([0, 0], [1.0, 1.0], [-5, 3]))
    assert int(state.total_steps) == 3 and int(state.steps) == 3
    assert int(state.total_episodes) == 2


def test_episodes_with_unknown_task_ids_are_ignored_entirely():
    state = TWO.init(jax.random.key(0))
    state = TWO.update(state, EpisodeBatch([7, -1, 0], [100.0, 100.0, 1.0], [4, 4, 2]))
    assert int(state.total_episodes) == 1 and int(state.total_steps) == 2
    assert int(state.episodes) == 1 and float(state.mean_return) == 1.0
