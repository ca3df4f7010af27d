"""load_state_dict of the Python curricula: checked, all-or-nothing (issue 18, item 6),
and SequentialCurriculum's returns window with non-finite returns (item 2)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syllabus_like import (
    BoxTaskSpace,
    Constant,
    DiscreteTaskSpace,
    DomainRandomization,
    SequentialCurriculum,
)
from syllabus_like.curricula.recent_returns import RecentReturns


def _sequential(loop: bool = False, seed: int = 0) -> SequentialCurriculum:
    space = DiscreteTaskSpace(4)
    conditions = ["episodes>=3", "episodes>=2"] if loop else ["episodes>=3"]
    return SequentialCurriculum(
        [[0, 1], DomainRandomization(DiscreteTaskSpace(4), seed=1)],
        conditions,
        space,
        loop=loop,
        return_buffer_size=5,
        seed=seed,
    )


def _nested() -> SequentialCurriculum:
    space = DiscreteTaskSpace(4)
    inner = SequentialCurriculum([[0, 1], [2, 3]], ["episodes>=2"], space, return_buffer_size=5, seed=3)
    return SequentialCurriculum([inner, [2, 3]], ["episodes>=4"], space, return_buffer_size=5, seed=4)


def _played(curriculum, episodes: int = 7):
    for index in range(episodes):
        task = curriculum.sample(1)[0]
        curriculum.update_on_episode(float(index), 3, task)
    return curriculum


FACTORIES = {
    "constant": lambda: Constant(DiscreteTaskSpace(4), 2, seed=0),
    "dr-discrete": lambda: DomainRandomization(DiscreteTaskSpace(4), seed=0),
    "dr-box": lambda: DomainRandomization(BoxTaskSpace(0.0, 1.0, (2,)), seed=0),
    "sequential": _sequential,
    "sequential-loop": lambda: _sequential(loop=True),
    "nested": _nested,
}


def _same(a, b) -> bool:
    """Equality of states, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


# ------------------------------------------------------------ the cases


def test_a_failed_load_leaves_the_curriculum_exactly_as_it_was():
    curriculum = _played(_sequential())
    before = curriculum.state_dict()
    state = _played(_sequential(seed=9), 2).state_dict()
    state["curricula"][1]["spare_uniforms"] = [5.0]  # caught only deep inside
    with pytest.raises(ValueError, match=r"curricula\[1\].*spare_uniforms"):
        curriculum.load_state_dict(state)
    assert _same(curriculum.state_dict(), before)


@pytest.mark.parametrize(("stage", "loop"), [(-1, False), (2, False), (99, True), (True, False), (1.0, False)])
def test_a_stage_outside_the_curriculum_is_refused(stage, loop):
    curriculum = _sequential(loop=loop)
    state = curriculum.state_dict()
    state["stage"] = stage
    with pytest.raises(ValueError, match=r"'stage' must be an int in \[0, 2\)"):
        curriculum.load_state_dict(state)
    assert curriculum.stage == 0


def test_spare_draws_outside_zero_one_are_refused():
    curriculum = DomainRandomization(DiscreteTaskSpace(3), seed=0)
    state = curriculum.state_dict()
    state["spare_uniforms"] = [5.0]
    with pytest.raises(ValueError, match=r"'spare_uniforms' must be a list of at most 64 floats in \[0, 1\)"):
        curriculum.load_state_dict(state)


@pytest.mark.parametrize("state", [None, [], "state", 3])
def test_a_state_that_is_not_a_dict_is_refused_clearly(state):
    with pytest.raises(ValueError, match="state must be a dict returned by state_dict"):
        DomainRandomization(DiscreteTaskSpace(3)).load_state_dict(state)


@pytest.mark.parametrize("target", [DiscreteTaskSpace(3), BoxTaskSpace(0.0, 1.0, (6,))])
def test_a_state_over_another_task_space_is_refused(target):
    state = DomainRandomization(DiscreteTaskSpace(6), seed=0).state_dict()
    with pytest.raises(ValueError, match="'task_space': the state was saved over 'DiscreteTaskSpace\\(6\\)'"):
        DomainRandomization(target).load_state_dict(state)


def test_a_plain_sequential_state_is_refused_by_a_nested_one_before_anything_changes():
    nested = _played(_nested(), 3)
    before = nested.state_dict()
    with pytest.raises(ValueError, match=r"curricula\[0\].*'type'.*DomainRandomization"):
        nested.load_state_dict(_played(_sequential(), 3).state_dict())
    assert _same(nested.state_dict(), before)


def test_missing_and_unknown_fields_are_named():
    curriculum = _sequential()
    state = curriculum.state_dict()
    del state["episodes"]
    state["extra"] = 1
    with pytest.raises(ValueError, match=r"missing \['episodes'\], unknown \['extra'\]"):
        curriculum.load_state_dict(state)


def test_a_round_trip_continues_exactly():
    for factory in FACTORIES.values():
        original = _played(factory(), 6)
        restored = factory()
        restored.load_state_dict(copy.deepcopy(original.state_dict()))
        assert _same(restored.state_dict(), original.state_dict())
        assert [restored.sample(3) for _ in range(3)].__repr__() == [original.sample(3) for _ in range(3)].__repr__()


# ------------------------------------------------- property: any mutation


def _paths(state, prefix=()):
    """Every (path, value) of the nested state, leaves and containers alike."""
    yield prefix, state
    if isinstance(state, dict):
        for key, value in state.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(state, list):
        for index, value in enumerate(state):
            yield from _paths(value, (*prefix, index))


REPLACEMENTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.floats(0, 1, exclude_max=True), max_size=3),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.mark.parametrize("name", sorted(FACTORIES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutation_loads_exactly_or_raises_value_error_leaving_the_curriculum_unchanged(name, data):
    factory = FACTORIES[name]
    state = _played(factory(), data.draw(st.integers(0, 8), label="episodes")).state_dict()
    paths = [path for path, _ in _paths(state) if path]
    path = data.draw(st.sampled_from(paths), label="path")
    mutated = copy.deepcopy(state)
    container = mutated
    for key in path[:-1]:
        container = container[key]
    action = data.draw(st.sampled_from(["replace", "delete"]), label="action")
    if action == "delete":
        del container[path[-1]]
    else:
        container[path[-1]] = data.draw(REPLACEMENTS, label="value")

    target = _played(factory(), 2)
    before = target.state_dict()
    try:
        target.load_state_dict(mutated)
    except ValueError as error:
        assert _same(target.state_dict(), before)
        named = {str(key) for key in path if isinstance(key, str)} | {"rng", "type", "curricula", "missing"}
        assert any(word in str(error) for word in named), (path, str(error))
    else:
        assert _same(target.state_dict(), mutated), (path, mutated)


# ----------------------------------------------------- item 2: non-finite returns


def test_plus_and_minus_infinity_in_one_window_give_a_nan_mean_and_never_raise():
    curriculum = SequentialCurriculum(
        [[0], [1]], ["episodes>=12 & episode_return>0"], DiscreteTaskSpace(2), return_buffer_size=10
    )
    curriculum.update_on_episode(math.inf, 1, 0)
    assert curriculum.stage_metrics()["episode_return"] == math.inf
    for episode_return in [-math.inf] + [1.0] * 7:
        curriculum.update_on_episode(episode_return, 1, 0)
        assert math.isnan(curriculum.stage_metrics()["episode_return"])
        assert curriculum.stage == 0
    curriculum.update_on_episode(1.0, 1, 0)  # the tenth: fsum over the window no longer raises
    assert math.isnan(curriculum.stage_metrics()["episode_return"])
    curriculum.update_on_episode(1.0, 1, 0)  # +inf left the window, -inf is in it
    assert curriculum.stage_metrics()["episode_return"] == -math.inf
    curriculum.update_on_episode(1.0, 1, 0)  # both gone
    assert curriculum.stage == 1


def test_returns_near_the_float_limit_have_a_finite_mean():
    curriculum = SequentialCurriculum([[0], [1]], ["episodes>=100"], DiscreteTaskSpace(2), return_buffer_size=10)
    for _ in range(25):
        curriculum.update_on_episode(1.7e308, 1, 0)
        assert curriculum.stage_metrics()["episode_return"] == pytest.approx(1.7e308)


def test_a_state_with_non_finite_returns_loads_and_round_trips():
    curriculum = _sequential()
    state = curriculum.state_dict()
    state["returns"] = [math.inf, -math.inf, math.nan, 1.0]
    curriculum.load_state_dict(state)
    assert math.isnan(curriculum.stage_metrics()["episode_return"])
    assert _same(curriculum.state_dict()["returns"], state["returns"])


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 6),
    values=st.lists(
        st.one_of(st.floats(-1e6, 1e6), st.sampled_from([math.inf, -math.inf, math.nan, 1.7e308, -1.7e308])),
        max_size=30,
    ),
)
def test_the_window_mean_matches_numpy_over_the_window(size, values):
    window = RecentReturns(size)
    for index, value in enumerate(values):
        window.append(value)
        recent = np.array(values[max(0, index + 1 - size) : index + 1], dtype=np.float64)
        has_nan, has_plus, has_minus = np.isnan(recent).any(), (recent == math.inf).any(), (recent == -math.inf).any()
        expected = (
            math.nan
            if has_nan or (has_plus and has_minus)
            else math.inf
            if has_plus
            else -math.inf
            if has_minus
            else None
        )
        if expected is None:  # all finite: the mean, even where the float sum overflows
            expected = math.fsum(v / len(recent) for v in recent)
            # The running sum's rounding since its last exact resum (at most 2 * size values back) is the bound.
            since_resum = [abs(v) for v in values[max(0, index + 1 - 2 * size) : index + 1] if math.isfinite(v)]
            assert window.mean() == pytest.approx(expected, rel=1e-9, abs=1e-12 * max(since_resum, default=0.0))
        elif math.isnan(expected):
            assert math.isnan(window.mean())
        else:
            assert window.mean() == expected
