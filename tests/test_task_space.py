"""Behaviour of the task spaces: sizes, encodings, membership, sampling, errors.

The round-trip properties are checked with hypothesis over randomly built
spaces (nested tuples and dicts with finite and infinite members), so every
combination of space types is exercised, not only the hand-picked ones.
"""

from __future__ import annotations

import random
import re
from typing import Any

import gymnasium
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syllabus_like.task_space import (
    BoxTaskSpace,
    DictTaskSpace,
    DiscreteTaskSpace,
    MultiDiscreteTaskSpace,
    SubsetTaskSpace,
    TaskSpace,
    TaskSpaceError,
    TupleTaskSpace,
)

PROPERTY = settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------- helpers


def assert_same_task(actual: Any, expected: Any) -> None:
    """Deep equality for tasks, which may hold float arrays inside tuples and dicts."""
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        assert isinstance(actual, np.ndarray), f"expected an array, got {actual!r}"
        expected_array = np.asarray(expected, dtype=np.float64)
        assert actual.shape == expected_array.shape
        assert np.array_equal(actual, expected_array)
    elif isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected, strict=False):
            assert_same_task(a, e)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (actual, expected)
        for key in expected:
            assert_same_task(actual[key], expected[key])
    else:
        assert type(actual) is type(expected) and actual == expected, (actual, expected)


def same_task(a: Any, b: Any) -> bool:
    try:
        assert_same_task(a, b)
    except AssertionError:
        return False
    return True


def global_random_state() -> tuple:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return name, keys.copy(), pos, has_gauss, cached, random.getstate()


def assert_global_random_state_is(before: tuple) -> None:
    after = global_random_state()
    assert after[0] == before[0]
    assert np.array_equal(after[1], before[1]), "numpy's global RNG was used"
    assert after[2:] == before[2:], "numpy's or Python's global RNG was used"


# ------------------------------------------------------ hypothesis strategies

hashable_scalars = st.one_of(
    st.integers(-50, 50),
    st.text(alphabet="abcxyz_", min_size=0, max_size=4),
)
hashable_tasks = st.one_of(
    hashable_scalars,
    st.tuples(st.integers(0, 5), st.text(alphabet="ab", max_size=2)),
)

discrete_spaces = st.one_of(
    st.integers(1, 6).map(DiscreteTaskSpace),
    st.lists(hashable_tasks, min_size=1, max_size=6, unique=True).map(DiscreteTaskSpace),
)

bounds = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def box_spaces(draw: st.DrawFn) -> BoxTaskSpace:
    shape = draw(st.sampled_from([(), (1,), (2,), (2, 2)]))
    size = int(np.prod(shape))
    lows = draw(st.lists(bounds, min_size=size, max_size=size))
    widths = draw(st.lists(st.floats(0, 1e3), min_size=size, max_size=size))
    low = np.reshape(lows, shape)
    high = low + np.reshape(widths, shape)
    if draw(st.booleans()) and shape:
        return BoxTaskSpace(low, high)  # shape inferred from array bounds
    if draw(st.booleans()):
        return BoxTaskSpace(float(lows[0]), float(lows[0] + widths[0]), shape)  # scalar bounds
    return BoxTaskSpace(low, high, shape)


multi_discrete_spaces = st.lists(
    st.one_of(st.integers(1, 3), st.lists(hashable_scalars, min_size=1, max_size=3, unique=True)),
    min_size=1,
    max_size=3,
).map(MultiDiscreteTaskSpace)

leaf_spaces = st.one_of(discrete_spaces, box_spaces(), multi_discrete_spaces)

any_spaces = st.recursive(
    leaf_spaces,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(TupleTaskSpace),
        st.dictionaries(st.sampled_from(["a", "b", "goal", "x/y"]), children, min_size=1, max_size=3).map(
            DictTaskSpace
        ),
    ),
    max_leaves=5,
)

finite_spaces = any_spaces.filter(lambda space: space.num_tasks is not None)


def tasks_of(space: TaskSpace) -> st.SearchStrategy:
    """A strategy for tasks of ``space``, built independently of the space's own code."""
    if isinstance(space, DiscreteTaskSpace):
        return st.sampled_from(space.tasks)
    if isinstance(space, BoxTaskSpace):
        elements = [st.floats(float(lo), float(hi)) for lo, hi in zip(space.low.flat, space.high.flat, strict=False)]
        return st.tuples(*elements).map(lambda values: np.array(values, dtype=np.float64).reshape(space.shape))
    if isinstance(space, TupleTaskSpace):
        return st.tuples(*(tasks_of(member) for member in space.spaces))
    if isinstance(space, DictTaskSpace):
        return st.fixed_dictionaries({key: tasks_of(member) for key, member in space.spaces.items()})
    raise AssertionError(f"no task strategy for {space!r}")


# ----------------------------------------------------------- discrete spaces


def test_discrete_from_int() -> None:
    space = DiscreteTaskSpace(4)
    assert space.num_tasks == 4
    assert space.tasks == [0, 1, 2, 3]
    assert [space.encode(t) for t in range(4)] == [0, 1, 2, 3]
    assert [space.decode(i) for i in range(4)] == [0, 1, 2, 3]
    assert 3 in space and 4 not in space and -1 not in space
    assert repr(space) == "DiscreteTaskSpace(4)"


def test_discrete_from_numpy_int_and_range() -> None:
    assert DiscreteTaskSpace(np.int64(3)).tasks == [0, 1, 2]
    assert DiscreteTaskSpace(range(5, 8)).tasks == [5, 6, 7]
    from_array = DiscreteTaskSpace(np.array([4, 7]))
    assert from_array.tasks == [4, 7] and all(type(t) is int for t in from_array.tasks)


def test_discrete_from_strings_and_tuples() -> None:
    words = DiscreteTaskSpace(["easy", "medium", "hard"])
    assert words.num_tasks == 3
    assert words.encode("hard") == 2 and words.decode(1) == "medium"
    assert "medium" in words and "impossible" not in words

    pairs = DiscreteTaskSpace([(0, 1), (1, 0), (2, 2)])
    assert pairs.encode((1, 0)) == 1 and pairs.decode(2) == (2, 2)
    assert (0, 1) in pairs and [0, 1] not in pairs  # a list is not the tuple task


def test_encoding_never_guesses() -> None:
    space = DiscreteTaskSpace([2, 0, 1])
    assert space.encode(0) == 1
    assert space.decode(0) == 2
    assert space.encode(2) == 0 and space.decode(2) == 1
    assert space.encode(1) == 2 and space.decode(1) == 0
    with pytest.raises(TaskSpaceError):
        space.encode(3)  # 3 is neither a task nor treated as "already encoded"


def test_discrete_tasks_is_a_copy() -> None:
    space = DiscreteTaskSpace(["a", "b"])
    space.tasks.append("c")
    assert space.tasks == ["a", "b"] and "c" not in space


def test_discrete_repr_does_not_hide_float_tasks() -> None:
    assert repr(DiscreteTaskSpace([0.0, 1.0])) == "DiscreteTaskSpace([0.0, 1.0])"


# ---------------------------------------------------------------- box spaces


def test_box_scalar_bounds() -> None:
    space = BoxTaskSpace(-1.0, 2.0)
    assert space.shape == ()
    assert space.num_tasks is None and space.tasks is None and not space.is_finite
    assert 0.5 in space and -1.0 in space and 2.0 in space
    assert 2.0001 not in space and -1.5 not in space
    encoded = space.encode(0.25)
    assert isinstance(encoded, np.ndarray) and encoded.dtype == np.float64 and encoded.shape == ()
    assert float(encoded) == 0.25
    assert float(space.decode(encoded)) == 0.25


def test_box_scalar_bounds_with_shape() -> None:
    space = BoxTaskSpace(0, 1, shape=(3,))
    assert space.shape == (3,)
    assert np.array_equal(space.low, np.zeros(3)) and np.array_equal(space.high, np.ones(3))
    assert [0.0, 0.5, 1.0] in space
    assert [0.0, 0.5, 1.5] not in space
    assert [0.0, 0.5] not in space  # wrong length
    assert np.zeros((3, 1)) not in space  # wrong shape


def test_box_array_bounds_are_elementwise() -> None:
    space = BoxTaskSpace([0.0, -10.0], [1.0, 10.0])
    assert space.shape == (2,)
    assert [1.0, -10.0] in space
    assert [5.0, 0.0] not in space  # first element above its own high
    assert [0.5, 11.0] not in space
    task = np.array([0.3, -7.5])
    assert np.array_equal(space.decode(space.encode(task)), task)


def test_box_encode_copies() -> None:
    space = BoxTaskSpace(0, 1, shape=(2,))
    task = np.array([0.1, 0.2])
    encoded = space.encode(task)
    encoded[0] = 0.9
    assert task[0] == 0.1
    decoded = space.decode(encoded)
    decoded[1] = 0.0
    assert encoded[1] == 0.2


def test_box_with_equal_bounds_has_one_point() -> None:
    space = BoxTaskSpace(3.0, 3.0, shape=(2,))
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert np.array_equal(space.sample(rng), [3.0, 3.0])


def test_box_sampling_with_huge_bounds_stays_inside() -> None:
    space = BoxTaskSpace(-1.7e308, 1.7e308, shape=(50,))
    task = space.sample(np.random.default_rng(0))
    assert np.all(np.isfinite(task)) and task in space
    assert task.min() < -1e307 and task.max() > 1e307  # spread over the range, not stuck at a bound


def test_box_sample_is_an_array_of_the_space_shape() -> None:
    for space in (BoxTaskSpace(0, 1), BoxTaskSpace(0, 1, (2, 3))):
        task = space.sample(np.random.default_rng(1))
        assert isinstance(task, np.ndarray) and task.shape == space.shape and task.dtype == np.float64


# ------------------------------------------------------------ product spaces


def test_multi_discrete_order_is_row_major() -> None:
    space = MultiDiscreteTaskSpace([3, ["a", "b"]])
    assert space.num_tasks == 6
    assert space.tasks == [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (2, "a"), (2, "b")]
    assert space.encode((1, "b")) == 3
    assert space.decode(4) == (2, "a")
    assert space.values_per_dimension == [[0, 1, 2], ["a", "b"]]
    assert (2, "b") in space and (3, "a") not in space and (0,) not in space and (0, "a", 0) not in space


def test_multi_discrete_from_numpy_nvec() -> None:
    space = MultiDiscreteTaskSpace(np.array([2, 3]))
    assert space.num_tasks == 6 and space.tasks[-1] == (1, 2)


def test_tuple_of_finite_spaces() -> None:
    space = TupleTaskSpace([DiscreteTaskSpace(["a", "b", "c"]), DiscreteTaskSpace([10, 20])])
    assert space.num_tasks == 6
    assert space.encode(("b", 20)) == 1 * 2 + 1
    assert space.decode(4) == ("c", 10)
    assert ("c", 20) in space and ("c", 30) not in space and ("c",) not in space
    assert ["c", 20] in space  # a list with the right items is accepted as the tuple task


def test_dict_of_finite_spaces() -> None:
    space = DictTaskSpace({"level": DiscreteTaskSpace(3), "wind": DiscreteTaskSpace(["off", "on"])})
    assert space.keys == ("level", "wind")
    assert space.num_tasks == 6
    assert space.encode({"level": 2, "wind": "on"}) == 5
    assert space.encode({"wind": "on", "level": 2}) == 5  # key order of the task is irrelevant
    assert space.decode(1) == {"level": 0, "wind": "on"}
    assert list(space.decode(1)) == ["level", "wind"]  # decoded dicts follow the space's key order
    assert space.tasks[0] == {"level": 0, "wind": "off"}
    assert {"level": 0} not in space  # missing key
    assert {"level": 0, "wind": "on", "extra": 1} not in space
    assert {"level": 3, "wind": "on"} not in space
    assert (0, "on") not in space


def test_nested_with_infinite_members() -> None:
    space = TupleTaskSpace(
        [
            DiscreteTaskSpace(["a", "b"]),
            DictTaskSpace({"gravity": BoxTaskSpace(1.0, 20.0), "level": DiscreteTaskSpace(4)}),
        ]
    )
    assert space.num_tasks is None and space.tasks is None
    task = ("b", {"gravity": np.array(9.8), "level": 3})
    encoded = space.encode(task)
    assert encoded[0] == 1
    assert encoded[1]["level"] == 3 and float(encoded[1]["gravity"]) == 9.8
    assert_same_task(space.decode(encoded), task)
    assert ("b", {"gravity": 30.0, "level": 3}) not in space
    assert ("c", {"gravity": 3.0, "level": 3}) not in space


def test_nested_finite_tuple_and_dict() -> None:
    space = DictTaskSpace({"pair": MultiDiscreteTaskSpace([2, 2]), "name": DiscreteTaskSpace(["x", "y", "z"])})
    assert space.num_tasks == 12
    assert len(space.tasks) == 12
    assert space.decode(11) == {"pair": (1, 1), "name": "z"}
    assert [space.encode(t) for t in space.tasks] == list(range(12))


def test_huge_product_encodes_exactly() -> None:
    space = TupleTaskSpace([DiscreteTaskSpace(100)] * 12)
    assert space.num_tasks == 100**12  # beyond int64
    last = (99,) * 12
    assert space.encode(last) == 100**12 - 1
    assert space.decode(100**12 - 1) == last
    task = (7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3)
    assert space.encode(task) == 7 * 100**11 + 3
    assert space.decode(7 * 100**11 + 3) == task
    sample = space.sample(np.random.default_rng(0))
    assert sample in space


# ------------------------------------------------------- property round trips


@PROPERTY
@given(st.data())
def test_decode_of_encode_is_identity(data: st.DataObject) -> None:
    space = data.draw(any_spaces, label="space")
    task = data.draw(tasks_of(space), label="task")
    assert space.contains(task) and task in space
    encoded = space.encode(task)
    assert_same_task(space.decode(encoded), task)
    # The encoding is canonical: encoding the decoded task gives the same encoding back.
    assert_same_task(space.encode(space.decode(encoded)), encoded)


@PROPERTY
@given(st.data())
def test_encode_of_decode_is_identity_for_every_index(data: st.DataObject) -> None:
    space = data.draw(finite_spaces, label="space")
    index = data.draw(st.integers(0, space.num_tasks - 1), label="index")
    task = space.decode(index)
    assert task in space
    assert space.encode(task) == index


@PROPERTY
@given(finite_spaces)
def test_tasks_lists_every_task_once_in_encoding_order(space: TaskSpace) -> None:
    tasks = space.tasks
    assert len(tasks) == space.num_tasks
    assert [space.encode(task) for task in tasks] == list(range(space.num_tasks))
    for index in (0, space.num_tasks - 1):
        assert_same_task(space.decode(index), tasks[index])


@PROPERTY
@given(finite_spaces)
def test_finite_decode_rejects_indices_outside_range(space: TaskSpace) -> None:
    for bad in (space.num_tasks, -1, space.num_tasks + 7):
        with pytest.raises(TaskSpaceError, match=re.escape(f"[0, {space.num_tasks})")):
            space.decode(bad)


@PROPERTY
@given(any_spaces, st.integers(0, 2**32 - 1))
def test_sample_stays_in_space_and_is_reproducible(space: TaskSpace, seed: int) -> None:
    before = global_random_state()
    first = [space.sample(np.random.default_rng(seed)) for _ in range(2)]
    assert same_task(first[0], first[1])  # same seed, same task
    stream_a = np.random.default_rng(seed)
    stream_b = np.random.default_rng(seed)
    tasks_a = [space.sample(stream_a) for _ in range(5)]
    tasks_b = [space.sample(stream_b) for _ in range(5)]
    for a, b in zip(tasks_a, tasks_b, strict=False):
        assert_same_task(a, b)
        assert a in space
        encoded = space.encode(a)
        assert_same_task(space.decode(encoded), a)
    space.seed(seed)
    own_a = [space.sample() for _ in range(5)]
    space.seed(seed)
    own_b = [space.sample() for _ in range(5)]
    for a, b in zip(own_a, own_b, strict=False):
        assert_same_task(a, b)
        assert a in space
    assert_global_random_state_is(before)


@PROPERTY
@given(any_spaces)
def test_contains_rejects_junk_without_raising(space: TaskSpace) -> None:
    # None of these can be a task of any space the strategies build.
    junk = [
        None,
        "not a task!",
        b"x",
        object(),
        [object()],
        {"a": object()},
        {},
        (),
        1j,
        float("nan"),
        np.zeros((7, 3, 2)),
    ]
    for value in junk:
        assert space.contains(value) is False
        assert (value in space) is False
        with pytest.raises(TaskSpaceError):
            space.encode(value)


# ------------------------------------------------------------------ sampling


def test_seed_reproduces_and_differs_between_seeds() -> None:
    space = DiscreteTaskSpace(1000)
    space.seed(7)
    first = [space.sample() for _ in range(20)]
    space.seed(7)
    assert [space.sample() for _ in range(20)] == first
    space.seed(8)
    assert [space.sample() for _ in range(20)] != first


def test_explicit_generator_does_not_consume_own_generator() -> None:
    space = DiscreteTaskSpace(1000)
    space.seed(3)
    expected = [space.sample() for _ in range(5)]
    space.seed(3)
    space.sample(np.random.default_rng(99))  # draws from the given generator only
    assert [space.sample() for _ in range(5)] == expected


def test_discrete_sampling_is_uniform() -> None:
    space = DiscreteTaskSpace(["a", "b", "c"])
    rng = np.random.default_rng(0)
    counts = {task: 0 for task in space.tasks}
    for _ in range(3000):
        counts[space.sample(rng)] += 1
    assert all(900 < count < 1100 for count in counts.values()), counts


def test_box_sampling_covers_the_box() -> None:
    space = BoxTaskSpace([0.0, 10.0], [1.0, 20.0])
    rng = np.random.default_rng(0)
    samples = np.stack([space.sample(rng) for _ in range(2000)])
    assert np.all(samples >= space.low) and np.all(samples <= space.high)
    assert np.allclose(samples.mean(axis=0), [0.5, 15.0], atol=0.3)
    assert samples[:, 0].min() < 0.05 and samples[:, 0].max() > 0.95


def test_product_sampling_reaches_every_task() -> None:
    space = MultiDiscreteTaskSpace([2, ["x", "y", "z"]])
    rng = np.random.default_rng(0)
    seen = {space.sample(rng) for _ in range(300)}
    assert seen == set(space.tasks)


def test_spaces_never_touch_global_random_state() -> None:
    np.random.seed(1234)
    random.seed(1234)
    before = global_random_state()
    spaces = [
        DiscreteTaskSpace(5),
        BoxTaskSpace(0, 1, (3,)),
        MultiDiscreteTaskSpace([2, 3]),
        TupleTaskSpace([DiscreteTaskSpace(2), BoxTaskSpace(-1, 1)]),
        DictTaskSpace({"a": DiscreteTaskSpace(["p", "q"]), "b": BoxTaskSpace(0, 5, (2,))}),
    ]
    for space in spaces:
        space.sample()
        space.seed(5)
        space.seed()
        space.sample()
        space.sample(np.random.default_rng(0))
    assert_global_random_state_is(before)


def test_sample_rejects_non_generator() -> None:
    space = DiscreteTaskSpace(3)
    for bad in (42, np.random.RandomState(0), random.Random(0)):
        with pytest.raises(TypeError, match="numpy.random.Generator"):
            space.sample(bad)


# --------------------------------------------------------- errors at runtime


def test_task_space_error_is_a_value_error() -> None:
    assert issubclass(TaskSpaceError, ValueError)


@pytest.mark.parametrize(
    "space, task",
    [
        (DiscreteTaskSpace([2, 0, 1]), 3),
        (DiscreteTaskSpace(["easy", "hard"]), "medium"),
        (DiscreteTaskSpace([(0, 1)]), (1, 0)),
        (BoxTaskSpace(0.0, 1.0), 1.5),
        (BoxTaskSpace(0.0, 1.0, (2,)), [0.5, 0.5, 0.5]),
        (MultiDiscreteTaskSpace([2, 2]), (0, 2)),
        (TupleTaskSpace([DiscreteTaskSpace(2), BoxTaskSpace(0, 1)]), (1, 2.0)),
        (DictTaskSpace({"level": DiscreteTaskSpace(3)}), {"level": 5}),
        (DictTaskSpace({"level": DiscreteTaskSpace(3)}), {"stage": 1}),
    ],
)
def test_encode_outside_space_names_task_and_space(space: TaskSpace, task: Any) -> None:
    with pytest.raises(TaskSpaceError) as info:
        space.encode(task)
    message = str(info.value)
    assert repr(task) in message
    assert repr(space) in message
    assert not space.contains(task)


@pytest.mark.parametrize(
    "space, encoded",
    [
        (DiscreteTaskSpace(3), 3),
        (DiscreteTaskSpace(3), -1),
        (DiscreteTaskSpace(3), 1.0),  # floats are not indices
        (DiscreteTaskSpace(3), True),  # neither are bools
        (DiscreteTaskSpace(["a", "b"]), "a"),  # a task is not an encoding
        (MultiDiscreteTaskSpace([2, 2]), (0, 1)),
        (DictTaskSpace({"a": DiscreteTaskSpace(2)}), {"a": 0}),
        (BoxTaskSpace(0.0, 1.0), 2.0),
        (BoxTaskSpace(0.0, 1.0, (2,)), np.zeros(3)),
        (TupleTaskSpace([DiscreteTaskSpace(2), BoxTaskSpace(0, 1)]), (0,)),
        (TupleTaskSpace([DiscreteTaskSpace(2), BoxTaskSpace(0, 1)]), ("a", 0.5)),
        (DictTaskSpace({"g": BoxTaskSpace(0, 1)}), {"h": 0.5}),
    ],
)
def test_decode_of_bad_encoding_raises(space: TaskSpace, encoded: Any) -> None:
    with pytest.raises(TaskSpaceError) as info:
        space.decode(encoded)
    assert "DiscreteTaskSpace" in str(info.value) or repr(space) in str(info.value)


def test_decode_messages_name_encoding_and_space() -> None:
    space = DiscreteTaskSpace(["a", "b"])
    with pytest.raises(
        TaskSpaceError, match=r"encoding 'a' is not an index in \[0, 2\) of DiscreteTaskSpace\(\['a', 'b'\]\)"
    ):
        space.decode("a")
    box = BoxTaskSpace(0.0, 1.0)
    with pytest.raises(
        TaskSpaceError, match=re.escape("encoding 2.0 is not in BoxTaskSpace(low=0.0, high=1.0, shape=())")
    ):
        box.decode(2.0)


def test_numpy_integers_are_valid_indices() -> None:
    space = DiscreteTaskSpace(["a", "b", "c"])
    assert space.decode(np.int64(2)) == "c"
    assert space.encode("c") == 2 and type(space.encode("c")) is int


# ------------------------------------------------------ constructor errors


@pytest.mark.parametrize(
    "build, error, pattern",
    [
        (lambda: DiscreteTaskSpace(0), ValueError, r"at least one task, got n=0"),
        (lambda: DiscreteTaskSpace(-3), ValueError, r"at least one task, got n=-3"),
        (lambda: DiscreteTaskSpace([]), ValueError, r"at least one task, got an empty sequence"),
        (lambda: DiscreteTaskSpace([1, 2, 1]), ValueError, r"duplicate task 1 at positions 0 and 2"),
        (lambda: DiscreteTaskSpace(["a", "a"]), ValueError, r"duplicate task 'a'"),
        (lambda: DiscreteTaskSpace([[0, 1], [1, 0]]), TypeError, r"hashable, got \[0, 1\] at position 0"),
        (lambda: DiscreteTaskSpace([(1, [2])]), TypeError, r"hashable, got \(1, \[2\]\) at position 0"),
        (lambda: DiscreteTaskSpace("abc"), TypeError, r"int or a sequence of hashable tasks, got 'abc'"),
        (lambda: DiscreteTaskSpace(2.5), TypeError, r"int or a sequence of hashable tasks, got 2.5"),
        (lambda: DiscreteTaskSpace(True), TypeError, r"int or a sequence"),
        (lambda: BoxTaskSpace(1.0, 0.0), ValueError, r"low <= high, got low=1.0, high=0.0"),
        (lambda: BoxTaskSpace([0, 2], [1, 1]), ValueError, r"low <= high"),
        (lambda: BoxTaskSpace(0.0, np.inf), ValueError, r"bounds must be finite, got low=0.0, high=inf"),
        (lambda: BoxTaskSpace(-np.inf, 0.0), ValueError, r"bounds must be finite"),
        (lambda: BoxTaskSpace(np.nan, 1.0), ValueError, r"bounds must be finite"),
        (lambda: BoxTaskSpace([0, 0], [1, 1, 1]), ValueError, r"low \(2,\) and high \(3,\) do not broadcast"),
        (lambda: BoxTaskSpace([0, 0], [1, 1], shape=(3,)), ValueError, r"do not broadcast to shape \(3,\)"),
        (
            lambda: BoxTaskSpace(0, 1, shape=(-1,)),
            TypeError,
            r"shape must be a tuple of non-negative ints, got \(-1,\)",
        ),
        (lambda: BoxTaskSpace(0, 1, shape=3), TypeError, r"shape must be a tuple of non-negative ints, got 3"),
        (lambda: BoxTaskSpace(0, 1, shape=(2.5,)), TypeError, r"shape must be a tuple"),
        (lambda: BoxTaskSpace("low", 1), TypeError, r"bounds must be numbers .* got low='low'"),
        (lambda: MultiDiscreteTaskSpace([]), ValueError, r"MultiDiscreteTaskSpace needs at least one member space"),
        (lambda: MultiDiscreteTaskSpace([2, []]), ValueError, r"at least one task"),
        (lambda: MultiDiscreteTaskSpace([2, [1, 1]]), ValueError, r"duplicate task 1"),
        (lambda: MultiDiscreteTaskSpace("ab"), TypeError, r"list of value lists .* got 'ab'"),
        (lambda: MultiDiscreteTaskSpace(3), TypeError, r"list of value lists .* got 3"),
        (lambda: TupleTaskSpace([]), ValueError, r"TupleTaskSpace needs at least one member space"),
        (lambda: TupleTaskSpace([DiscreteTaskSpace(2), 3]), TypeError, r"members must be TaskSpace instances, got 3"),
        (lambda: TupleTaskSpace([gymnasium.spaces.Discrete(2)]), TypeError, r"members must be TaskSpace instances"),
        (lambda: TupleTaskSpace(DiscreteTaskSpace(2)), TypeError, r"sequence of TaskSpace, got DiscreteTaskSpace\(2\)"),
        (lambda: DictTaskSpace({}), ValueError, r"DictTaskSpace needs at least one member space"),
        (lambda: DictTaskSpace({"a": [1, 2]}), TypeError, r"members must be TaskSpace instances, got \[1, 2\]"),
        (lambda: DictTaskSpace([DiscreteTaskSpace(2)]), TypeError, r"mapping of name -> TaskSpace"),
    ],
)
def test_constructor_errors(build: Any, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        build()


def test_box_construction_copies_bounds() -> None:
    low = np.array([0.0, 0.0])
    space = BoxTaskSpace(low, 1.0)
    low[0] = 5.0
    assert space.low[0] == 0.0 and [0.1, 0.1] in space


# ---------------------------------------------------------------- equality


def test_equality_compares_structure() -> None:
    assert DiscreteTaskSpace(3) == DiscreteTaskSpace([0, 1, 2])
    assert DiscreteTaskSpace([1, 0]) != DiscreteTaskSpace([0, 1])
    assert BoxTaskSpace(0, 1, (2,)) == BoxTaskSpace([0, 0], [1, 1])
    assert BoxTaskSpace(0, 1, (2,)) != BoxTaskSpace(0, 2, (2,))
    assert TupleTaskSpace([DiscreteTaskSpace(2)]) == TupleTaskSpace([DiscreteTaskSpace(2)])
    assert DictTaskSpace({"a": DiscreteTaskSpace(2)}) != DictTaskSpace({"b": DiscreteTaskSpace(2)})


# ------------------------------------------------------------ from_gymnasium


def test_from_gymnasium_discrete_keeps_start() -> None:
    gym_space = gymnasium.spaces.Discrete(4, start=2)
    space = TaskSpace.from_gymnasium(gym_space)
    assert isinstance(space, DiscreteTaskSpace)
    assert space.tasks == [2, 3, 4, 5]
    gym_space.seed(0)
    for _ in range(10):
        assert gym_space.sample() in space


def test_from_gymnasium_multi_discrete() -> None:
    gym_space = gymnasium.spaces.MultiDiscrete([2, 3], start=[1, 0])
    space = TaskSpace.from_gymnasium(gym_space)
    assert isinstance(space, MultiDiscreteTaskSpace)
    assert space.values_per_dimension == [[1, 2], [0, 1, 2]]
    assert space.num_tasks == 6
    gym_space.seed(0)
    for _ in range(10):
        assert tuple(gym_space.sample()) in space


def test_from_gymnasium_box() -> None:
    gym_space = gymnasium.spaces.Box(
        low=np.array([0.0, -1.0], dtype=np.float32), high=np.array([1.0, 1.0], dtype=np.float32)
    )
    space = TaskSpace.from_gymnasium(gym_space)
    assert space == BoxTaskSpace([0.0, -1.0], [1.0, 1.0])
    gym_space.seed(0)
    assert gym_space.sample() in space


def test_from_gymnasium_box_with_infinite_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        TaskSpace.from_gymnasium(gymnasium.spaces.Box(low=-np.inf, high=np.inf, shape=(2,)))


def test_from_gymnasium_tuple_and_dict() -> None:
    gym_space = gymnasium.spaces.Tuple(
        (
            gymnasium.spaces.Discrete(3),
            gymnasium.spaces.Dict(
                {"size": gymnasium.spaces.Discrete(2), "gravity": gymnasium.spaces.Box(1.0, 2.0, shape=())}
            ),
        )
    )
    space = TaskSpace.from_gymnasium(gym_space)
    assert isinstance(space, TupleTaskSpace) and space.num_tasks is None
    assert space.spaces[0] == DiscreteTaskSpace(3)
    inner = space.spaces[1]
    assert isinstance(inner, DictTaskSpace)
    assert set(inner.keys) == {"size", "gravity"}
    assert inner.spaces["size"] == DiscreteTaskSpace(2)
    assert inner.spaces["gravity"] == BoxTaskSpace(1.0, 2.0)
    gym_space.seed(0)
    task = gym_space.sample()
    assert (task[0], dict(task[1])) in space

    finite = TaskSpace.from_gymnasium(
        gymnasium.spaces.Dict({"a": gymnasium.spaces.Discrete(2), "b": gymnasium.spaces.Discrete(3)})
    )
    assert isinstance(finite, DictTaskSpace) and finite.num_tasks == 6


def test_from_gymnasium_rejects_unsupported_space() -> None:
    with pytest.raises(TypeError, match=r"cannot build a task space from .*Text.*expected Discrete"):
        TaskSpace.from_gymnasium(gymnasium.spaces.Text(5))


# ------------------------------------------------- one-pass encoding (speed)


class _CountingBox(BoxTaskSpace):
    """A scalar box that counts how often a task is tested against it."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__(low, high)
        self.tests = 0

    def _encode_if_member(self, task: Any) -> Any:
        self.tests += 1
        return super()._encode_if_member(task)


def test_encoding_a_nested_task_tests_each_part_once() -> None:
    gravity, length = _CountingBox(1.0, 25.0), _CountingBox(0.1, 2.0)
    tasks = [{"gravity": 9.8, "length": 0.5}, {"gravity": 3.7, "length": 1.0}]
    space = SubsetTaskSpace(DictTaskSpace({"gravity": gravity, "length": length}), tasks)
    gravity.tests = length.tests = 0
    assert space.encode(space.decode(1)) == 1
    assert (gravity.tests, length.tests) == (1, 1)
    with pytest.raises(TaskSpaceError):
        space.encode({"gravity": 30.0, "length": 0.5})
    assert (gravity.tests, length.tests) == (2, 1)  # the first bad part ends the test


class _EvenNumbers(TaskSpace):
    """A user space written the documented way: contains and _encode, no _encode_if_member."""

    num_tasks = 5

    def contains(self, task: Any) -> bool:
        return type(task) is int and task in (0, 2, 4, 6, 8)

    def _encode(self, task: Any) -> int:
        return task // 2

    def _decode(self, encoded: int) -> int:
        return 2 * encoded


def test_user_space_with_contains_and_encode_works_alone_and_nested() -> None:
    evens = _EvenNumbers()
    assert evens.encode(6) == 3 and 6 in evens and 7 not in evens
    with pytest.raises(TaskSpaceError, match=r"task 7 is not in"):
        evens.encode(7)
    pair = TupleTaskSpace([evens, DiscreteTaskSpace(["a", "b"])])
    assert pair.encode((4, "b")) == 2 * 2 + 1
    assert (3, "a") not in pair
    assert SubsetTaskSpace(evens, [8, 0]).encode(0) == 1


def test_user_space_without_encode_says_what_to_implement() -> None:
    class NoEncode(_EvenNumbers):
        _encode = TaskSpace._encode

    with pytest.raises(NotImplementedError, match=r"NoEncode must implement _encode or _encode_if_member"):
        NoEncode().encode(2)


def test_user_space_with_neither_way_to_encode_says_what_to_implement() -> None:
    class Empty(TaskSpace):
        num_tasks = 1

        def _decode(self, encoded: int) -> int:
            return encoded

    for test in (lambda space: space.encode(0), lambda space: 0 in space):
        with pytest.raises(
            NotImplementedError, match=r"Empty must implement _encode_if_member, or contains and _encode"
        ):
            test(Empty())


_SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(width=32).map(np.float32),
    st.floats().map(np.float64),
    st.floats().map(lambda value: np.array(value)),
    st.floats(width=32).map(lambda value: np.array(value, dtype=np.float32)),
    st.integers(-30, 30),
    st.booleans(),
)


@PROPERTY
@given(value=_SCALARS, low=st.floats(-20, 20), span=st.floats(0, 20))
def test_scalar_box_shortcut_agrees_with_the_array_test(value: Any, low: float, span: float) -> None:
    """A scalar box tests float tasks without numpy; the answer must be the array test's."""
    space = BoxTaskSpace(low, low + span)
    array = np.asarray(value, dtype=np.float64)
    expected = bool(np.all((array >= space.low) & (array <= space.high)))
    assert space.contains(value) is expected
    if expected:
        encoded = space.encode(value)
        assert isinstance(encoded, np.ndarray) and encoded.dtype == np.float64 and encoded.shape == ()
        assert encoded == array and encoded is not value
    else:
        with pytest.raises(TaskSpaceError):
            space.encode(value)


def test_a_discrete_space_that_encodes_its_own_way_is_asked_by_encode():
    class OddOnly(DiscreteTaskSpace):
        def _encode_if_member(self, task):
            return (
                super()._encode_if_member(task)
                if isinstance(task, int) and task % 2
                else super()._encode_if_member(None)
            )

    space = OddOnly(5)
    assert space.encode(3) == 3
    with pytest.raises(TaskSpaceError, match="task 2 is not in"):
        space.encode(2)
    assert not space.contains(2)
