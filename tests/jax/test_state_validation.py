"""JAX state loading refuses foreign and damaged states (issue 18, item 7), and the
jitted update's rule for impossible episodes (negative lengths, unknown task ids)."""

from __future__ import annotations

import functools
import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from syllabus_like.jax import (  # noqa: E402
    EpisodeBatch,
    Learnability,
    LearningProgress,
    PrioritizedLevelReplay,
    SequentialCurriculum,
    load_state,
    save_state,
    state_from_bytes,
    state_to_bytes,
)
from syllabus_like.jax.curricula.sequential import SequentialState  # noqa: E402
from syllabus_like.jax.serialization import check_sequential_state  # noqa: E402

TWO = SequentialCurriculum([[0], [1]], ["episodes>=2"], 5, return_buffer_size=4)
FIVE = SequentialCurriculum([[0], [1], [2], [3], [4]], ["episodes>=1"] * 4, 5, return_buffer_size=4)


# Jitted once per curriculum and shape: called eagerly, every update's while loop would be compiled
# anew, and hundreds of XLA compilations in one process have crashed it.
_sample = eqx.filter_jit(lambda curriculum, state, key, n: curriculum.sample(state, key, n))
_update = eqx.filter_jit(lambda curriculum, state, batch: curriculum.update(state, batch))


def _played(curriculum, episodes: int):
    state = curriculum.init(jax.random.key(0))
    for index in range(episodes):
        state, tasks = _sample(curriculum, state, jax.random.key(index), 1)
        state = _update(curriculum, state, EpisodeBatch(tasks, jnp.asarray([float(index)]), jnp.asarray([3])))
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


COUNTERS = SequentialState.COUNTERS


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


# --------------------------------------------- loading with the curriculum itself


def test_given_the_curriculum_the_loader_refuses_a_foreign_state_without_being_asked(tmp_path):
    save_state(tmp_path / "five.npz", _played(FIVE, 5))
    with pytest.raises(ValueError, match=r"'stage' must be in \[0, 2\), got 4"):
        load_state(tmp_path / "five.npz", TWO)
    save_state(tmp_path / "two.npz", _played(TWO, 3))
    loaded = load_state(tmp_path / "two.npz", TWO)
    assert int(loaded.total_episodes) == 3


@functools.cache
def _plr_and_state():
    plr = PrioritizedLevelReplay(6, 4, replay_prob=0.5)
    state = plr.init(jax.random.key(0))
    for index in range(5):
        state, tasks = _sample(plr, state, jax.random.key(index), 2)
        scores = jnp.asarray([float(index), 0.5])
        state = _update(plr, state, EpisodeBatch(tasks, jnp.asarray([1.0, 2.0]), jnp.asarray([3, 3]), score=scores))
    assert int((state.levels >= 0).sum()) >= 2
    return plr, state


def _with_first_buffered(state, field, value):
    slot = int(np.flatnonzero(np.asarray(state.levels) >= 0)[0])
    return state.__class__(**{**vars(state), field: getattr(state, field).at[slot].set(value)})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda state: _with_first_buffered(state, "levels", 9), "'levels' must hold task ids in \\[0, 6\\)"),
        (lambda state: _with_first_buffered(state, "scores", jnp.nan), "'scores' must be finite"),
        (lambda state: _with_first_buffered(state, "last_played", 10**6), "'last_played' must lie in"),
        (lambda state: _with_first_buffered(state, "max_returns", jnp.nan), "'max_returns' must not be NaN"),
        (
            lambda state: state.__class__(**{**vars(state), "slot_of_task": jnp.full_like(state.slot_of_task, -1)}),
            "'slot_of_task' does not give each buffered level's slot",
        ),
        (
            lambda state: state.__class__(**{**vars(state), "levels": jnp.full_like(state.levels, 2)}),
            "'levels' holds a task in two slots",
        ),
        (lambda state: state.__class__(**{**vars(state), "episode_count": jnp.int32(-1)}), "'episode_count'"),
    ],
)
def test_a_damaged_plr_buffer_is_refused_naming_the_field(mutate, message):
    plr, state = _plr_and_state()
    with pytest.raises(ValueError, match=message):
        state_from_bytes(state_to_bytes(mutate(state)), like=plr)


def test_a_loaded_plr_state_rebuilds_its_draw_table_instead_of_trusting_it():
    plr, state = _plr_and_state()
    tampered = state.__class__(**{**vars(state), "draw_cdf": jnp.zeros_like(state.draw_cdf)})
    loaded = state_from_bytes(state_to_bytes(tampered), like=plr)
    np.testing.assert_array_equal(np.asarray(loaded.draw_cdf), np.asarray(plr.validate_state(state).draw_cdf))
    # The table the jitted update built, up to float rounding (a rebuild outside jit may round differently).
    built, rebuilt = np.asarray(state.draw_cdf, np.int64), np.asarray(loaded.draw_cdf, np.int64)
    assert np.abs(rebuilt - built).max() <= 1e-5 * built.max() and built.max() > 0
    for name in ("levels", "scores", "last_played", "slot_of_task", "episode_count"):
        np.testing.assert_array_equal(np.asarray(getattr(loaded, name)), np.asarray(getattr(state, name)))


def test_a_batch_of_states_vmapped_over_seeds_is_checked_state_by_state():
    plr = PrioritizedLevelReplay(6, 4, replay_prob=0.5)
    states = jax.vmap(plr.init)(jax.random.split(jax.random.key(0), 3))
    loaded = state_from_bytes(state_to_bytes(states), like=states, check=plr.validate_state)
    assert loaded.levels.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(plr.validate_state(states).draw_cdf), np.asarray(states.draw_cdf))
    damaged = states.__class__(**{**vars(states), "levels": states.levels.at[2, 0].set(9)})
    with pytest.raises(ValueError, match="'levels' must hold task ids"):
        plr.validate_state(damaged)


@pytest.mark.parametrize(
    ("curriculum", "field"),
    [(LearningProgress(4), "fast"), (LearningProgress(4), "slow"), (Learnability(4), "success")],
)
def test_success_estimates_outside_zero_one_are_refused(curriculum, field):
    state = curriculum.init(jax.random.key(0))
    state = curriculum.update(state, EpisodeBatch([0, 1], [1.0, 0.0], [2, 2], progress=[1.0, 0.0]))
    with pytest.raises(ValueError, match=f"'{field}' must hold rates in \\[0, 1\\], got \\[7.0\\]"):
        bad = state.__class__(**{**vars(state), field: getattr(state, field).at[0].set(7.0)})
        state_from_bytes(state_to_bytes(bad), like=curriculum)
    loaded = state_from_bytes(state_to_bytes(state), like=curriculum)
    np.testing.assert_array_equal(np.asarray(getattr(loaded, field)), np.asarray(getattr(state, field)))
    np.testing.assert_array_equal(np.asarray(loaded.cdf), np.asarray(state.cdf))


PLR_FIELDS = ("levels", "scores", "last_played", "max_returns", "slot_of_task", "episode_count")


@settings(max_examples=40, deadline=None)
@given(
    field=st.sampled_from(PLR_FIELDS),
    index=st.integers(0, 5),
    integer=st.integers(-(2**31), 2**31 - 1),
    real=st.one_of(st.floats(-1e6, 1e6, width=32), st.just(float("nan")), st.just(float("inf"))),
)
def test_any_mutation_of_a_plr_state_loads_as_given_or_raises_value_error_naming_the_field(field, index, integer, real):
    plr, state = _plr_and_state()
    leaf = getattr(state, field)
    value = real if jnp.issubdtype(leaf.dtype, jnp.floating) else integer
    new_leaf = jnp.asarray(value, leaf.dtype) if leaf.ndim == 0 else leaf.at[index % leaf.shape[0]].set(value)
    mutated = state.__class__(**{**vars(state), field: new_leaf})
    try:
        loaded = state_from_bytes(state_to_bytes(mutated), like=plr)
    except ValueError as error:
        assert any(f"'{name}'" in str(error) for name in PLR_FIELDS), str(error)
    else:  # what was given, with the draw table rebuilt from it
        for name in PLR_FIELDS:
            np.testing.assert_array_equal(np.asarray(getattr(loaded, name)), np.asarray(getattr(mutated, name)))
        np.testing.assert_array_equal(np.asarray(loaded.draw_cdf), np.asarray(plr.validate_state(mutated).draw_cdf))


@functools.cache
def _success_curriculum_and_state(name):
    curriculum = LearningProgress(4) if name == "LearningProgress" else Learnability(4)
    state = curriculum.init(jax.random.key(0))
    batch = EpisodeBatch(
        jnp.asarray([0, 1, 1]),
        jnp.asarray([1.0, 0.0, 1.0]),
        jnp.asarray([2, 2, 2]),
        progress=jnp.asarray([1.0, 0.0, 0.5]),
    )
    return curriculum, _update(curriculum, state, batch)


SUCCESS_FIELDS = {"LearningProgress": ("fast", "slow", "seen"), "Learnability": ("success", "seen")}


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(sorted(SUCCESS_FIELDS)),
    which=st.integers(0, 2),
    index=st.integers(0, 3),
    real=st.one_of(st.floats(-2.0, 2.0, width=32), st.just(float("nan")), st.just(float("-inf"))),
)
def test_any_mutation_of_a_success_estimate_loads_as_given_or_raises_naming_the_field(name, which, index, real):
    curriculum, state = _success_curriculum_and_state(name)
    field = SUCCESS_FIELDS[name][which % len(SUCCESS_FIELDS[name])]
    leaf = getattr(state, field)
    value = bool(real > 0) if leaf.dtype == jnp.bool_ else real
    mutated = state.__class__(**{**vars(state), field: leaf.at[index].set(value)})
    try:
        loaded = state_from_bytes(state_to_bytes(mutated), like=curriculum)
    except ValueError as error:
        assert f"'{field}'" in str(error) and not 0.0 <= real <= 1.0, str(error)
    else:
        for kept in SUCCESS_FIELDS[name]:
            np.testing.assert_array_equal(np.asarray(getattr(loaded, kept)), np.asarray(getattr(mutated, kept)))


# ------------------------------------------------------------- update's rules


def test_a_negative_length_counts_as_zero_steps_and_never_wraps():
    hold = SequentialCurriculum([[0], [1]], ["episodes>=100"], 5, return_buffer_size=4)
    state = hold.init(jax.random.key(0))
    state = hold.update(state, EpisodeBatch([0, 0], [1.0, 1.0], [-5, 3]))
    assert int(state.total_steps) == 3 and int(state.steps) == 3
    assert int(state.total_episodes) == 2


def test_episodes_with_unknown_task_ids_are_ignored_entirely():
    state = TWO.init(jax.random.key(0))
    state = TWO.update(
        state, EpisodeBatch([7, -1, 0, 9], [100.0, 100.0, 1.0, 5.0], [4, 4, 2, 1], done=[True, True, True, False])
    )
    assert int(state.total_episodes) == 1 and int(state.total_steps) == 2
    assert int(state.episodes) == 1 and float(state.mean_return) == 1.0
    assert int(state.ignored_episodes) == 2 == int(TWO.metrics(state)["ignored_episodes"])  # not the unfinished one
