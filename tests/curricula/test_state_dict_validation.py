"""load_state_dict of the Python curricula: checked, all-or-nothing (issue 18, item 6),
and SequentialCurriculum's returns window with non-finite returns (item 2)."""

from __future__ import annotations

import copy
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syllabus_like import (
    ALPGMM,
    BoxTaskSpace,
    Constant,
    DiscreteTaskSpace,
    DomainRandomization,
    Learnability,
    LearningProgress,
    PrioritizedLevelReplay,
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
        # Varied successes and scores: the auto-curricula's estimates and buffers move.
        curriculum.update_on_episode(float(index), 3, task, progress=(index % 4) / 3, score=float(index * 7 % 5))
    return curriculum


def _plr(robust: bool = False, seed: int = 0) -> PrioritizedLevelReplay:
    return PrioritizedLevelReplay(DiscreteTaskSpace(6), buffer_size=4, robust=robust, seed=seed)


def _alpgmm(seed: int = 0) -> ALPGMM:
    # fit_rate 4: the first fit (the end of the bootstrap) after 4 episodes, another after 8.
    return ALPGMM(BoxTaskSpace(0.0, 1.0, (2,)), fit_rate=4, max_components=3, seed=seed)


FACTORIES = {
    "constant": lambda: Constant(DiscreteTaskSpace(4), 2, seed=0),
    "dr-discrete": lambda: DomainRandomization(DiscreteTaskSpace(4), seed=0),
    "dr-box": lambda: DomainRandomization(BoxTaskSpace(0.0, 1.0, (2,)), seed=0),
    "sequential": _sequential,
    "sequential-loop": lambda: _sequential(loop=True),
    "nested": _nested,
    "plr": _plr,
    "plr-robust": lambda: _plr(robust=True),
    "learning-progress": lambda: LearningProgress(DiscreteTaskSpace(5), seed=0),
    "learnability-topk": lambda: Learnability(DiscreteTaskSpace(5), top_k=2, seed=0),
    "learnability-dist": lambda: Learnability(DiscreteTaskSpace(5), sampling="dist", seed=0),
    "alpgmm": _alpgmm,
}


def _same(a, b) -> bool:
    """Equality of states, NaN equal to NaN; an array equals the numbers it holds (ALPGMM loads lists too)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return a.size == b.size == 0 or np.array_equal(a, b, equal_nan=True)
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


# ------------------------------------- the auto-curricula: checked before anything changes


def _set(path, value):
    """A mutation setting ``state[path[0]][path[1]]...`` to ``value`` (a callable value gets the old one)."""

    def mutate(state):
        container = state
        for key in path[:-1]:
            container = container[key]
        container[path[-1]] = value(container[path[-1]]) if callable(value) else value

    return mutate


def _non_psd(covariances):
    covariances = np.array(covariances)
    covariances[0, 0, 0] = -1.0
    return covariances


BAD_FIELDS = {
    # PrioritizedLevelReplay (buffer_size 4 over 6 tasks)
    "plr score_at type": ("plr", _set(("score_at",), "high"), r"'score_at' must be a list of 4 floats"),
    "plr score_at item": ("plr", _set(("score_at", 0), 1), r"'score_at': item 0, 1, is not a float"),
    "plr score_at float32": ("plr", _set(("score_at", 0), 0.1), r"'score_at': item 0.*not a float32 value"),
    "plr level_at length": ("plr", _set(("level_at",), lambda v: v[:-1]), r"'level_at' must be a list of 4 ints"),
    "plr level_at range": ("plr", _set(("level_at", 0), 6), r"'level_at'.*0 \.\. 5 or -1"),
    "plr levels": ("plr", _set(("levels",), lambda v: v[:-1]), r"'levels' .*must hold the levels of 'level_at'"),
    "plr levels order": ("plr", _set(("levels",), lambda v: v[::-1]), r"'levels' must list the levels best score"),
    "plr free_homes": ("plr", _set(("free_homes",), [0]), r"'free_homes' must list the empty homes"),
    "plr last_played_at": ("plr", _set(("last_played_at", 0), 10**6), r"'last_played_at'.*'episode_count' = 7"),
    "plr episode_count type": ("plr", _set(("episode_count",), 7.0), r"'episode_count' must be an int"),
    "plr episode_count range": ("plr", _set(("episode_count",), -1), r"'episode_count' must be an int of at least 0"),
    "plr trained_on type": ("plr-robust", _set(("trained_on",), [1]), r"'trained_on' must map tasks in 0 \.\. 5"),
    "plr trained_on key": ("plr-robust", _set(("trained_on",), {"0": True}), r"'trained_on' must map tasks"),
    "plr trained_on range": ("plr-robust", _set(("trained_on",), {6: True}), r"'trained_on' must map tasks"),
    "plr outside_tasks": ("plr", _set(("outside_tasks",), [0, 1]), r"'outside_tasks' must be None or list"),
    "plr spare_uniforms": ("plr", _set(("spare_uniforms",), [1.5]), r"'spare_uniforms' must be a list"),
    # LearningProgress (5 tasks)
    "lp fast type": ("learning-progress", _set(("fast",), 3), r"'fast' must be a list of 5 floats \(num_tasks=5\)"),
    "lp slow length": ("learning-progress", _set(("slow",), lambda v: v + [0.0]), r"'slow' must be a list of 5"),
    "lp fast range": ("learning-progress", _set(("fast", 0), 1.5), r"'fast': item 0, 1.5, is outside \[0.0, 1.0\]"),
    "lp fast nan": ("learning-progress", _set(("fast", 0), math.nan), r"'fast': item 0, nan, is not finite"),
    "lp seen type": ("learning-progress", _set(("seen",), [1, 0, 0, 0, 0]), r"'seen' must be a list of 5 bools"),
    "lp sums type": ("learning-progress", _set(("sums",), 3), r"'sums' must be \[sum of LP"),
    "lp sums inf": ("learning-progress", _set(("sums", 0), math.inf), r"'sums' must be \[sum of LP"),
    "lp sums count": ("learning-progress", _set(("sums", 2), 5), r"'sums'.*an int in \[0, 5\)"),
    "lp sums value": ("learning-progress", _set(("sums", 1), 2.5), r"'sums': the sum of LP\^2, 2.5, does not match"),
    # Learnability (5 tasks)
    "la success type": ("learnability-topk", _set(("success",), None), r"'success' must be a list of 5 floats"),
    "la success length": ("learnability-topk", _set(("success",), [0.5]), r"'success' must be a list of 5 floats"),
    "la success range": ("learnability-dist", _set(("success", 1), -0.5), r"'success': item 1, -0.5, is outside"),
    "la seen length": ("learnability-dist", _set(("seen",), [True]), r"'seen' must be a list of 5 bools"),
    "la spare_uniforms": ("learnability-topk", _set(("spare_uniforms",), [0.5] * 257), r"at most 256 floats"),
    # ALPGMM (a Box of 2 dimensions, 7 episodes: a mixture fitted)
    "alp tasks type": ("alpgmm", _set(("tasks",), "tasks"), r"'tasks' must hold real numbers"),
    "alp tasks dimensions": ("alpgmm", _set(("tasks",), np.zeros((7, 3))), r"'tasks' must have shape \(n, 2\)"),
    "alp tasks range": ("alpgmm", _set(("tasks",), lambda v: v + 2.0), r"'tasks' must hold the played tasks scaled"),
    "alp outcomes length": ("alpgmm", _set(("outcomes",), lambda v: v[:-1]), r"'outcomes' must have shape \(7,\)"),
    "alp outcomes inf": ("alpgmm", _set(("outcomes",), lambda v: v + math.inf), r"'outcomes' must hold finite"),
    "alp alps range": ("alpgmm", _set(("alps",), lambda v: v - 5.0), r"'alps' must hold absolute learning progr"),
    "alp seen_range": ("alpgmm", _set(("seen_range",), [0.0, 1.0]), r"'seen_range' must be \[lowest outcome"),
    "alp mixture type": ("alpgmm", _set(("mixture",), [1.0]), r"'mixture' must be None or a dict of arrays"),
    "alp weights": ("alpgmm", _set(("mixture", "weights"), [0.0, 0.0]), r"mixture\['weights'\]"),
    "alp means shape": ("alpgmm", _set(("mixture", "means"), lambda v: v[:, :-1]), r"mixture\['means'\].*shape"),
    "alp covariances": ("alpgmm", _set(("mixture", "covariances"), _non_psd), r"covariance 0 is not symmetric pos"),
    "alp mixture alps": ("alpgmm", _set(("mixture", "alps"), lambda v: v + 1.0), r"mixture\['alps'\]\" must be"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_a_bad_field_of_an_auto_curriculum_is_named_and_changes_nothing(case):
    name, mutate, message = BAD_FIELDS[case]
    # From a curriculum seeded otherwise: a load that went half-way would change the generator.
    state = _played(_reseeded(name), 7).state_dict()
    mutate(state)
    target = _played(FACTORIES[name](), 3)
    before = target.state_dict()
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(state)
    assert _same(target.state_dict(), before)
    assert repr(target.sample(4)) == repr(_played(FACTORIES[name](), 3).sample(4))


def _reseeded(name):
    curriculum = FACTORIES[name]()
    curriculum._rng = np.random.default_rng(9)  # only its generator differs
    return curriculum


@pytest.mark.parametrize("name", ["plr", "plr-robust", "learning-progress", "learnability-topk", "alpgmm"])
def test_an_auto_curriculum_state_loads_into_a_fresh_one_and_continues_exactly(name):
    original = _played(_reseeded(name), 8)
    state = original.state_dict()
    restored = FACTORIES[name]()
    restored.load_state_dict(copy.deepcopy(state))
    assert _same(restored.state_dict(), state)
    assert repr(restored.sample(5)) == repr(original.sample(5))
    _played(restored, 3)
    _played(original, 3)
    assert _same(restored.state_dict(), original.state_dict())


def test_the_alpgmm_state_tested_is_past_its_bootstrap():
    state = _played(_alpgmm(), 7).state_dict()
    assert state["mixture"] is not None and len(state["mixture"]["weights"]) >= 2
    assert state["tasks"].shape == (7, 2)


def test_alpgmm_loads_lists_as_before():
    state = _played(_alpgmm(), 5).state_dict()
    listed = {**state, "tasks": state["tasks"].tolist(), "outcomes": state["outcomes"].tolist()}
    listed["mixture"] = {name: array.tolist() for name, array in state["mixture"].items()}
    restored = _alpgmm()
    restored.load_state_dict(listed)
    assert _same(restored.state_dict(), state)


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
@example(size=2, values=[5e-324, 5e-324])  # subnormals: the mean is 5e-324, not 0
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
            # Exact (fractions), then rounded once: dividing each value first would round subnormals to 0.
            expected = float(sum(Fraction(float(v)) for v in recent) / len(recent))
            # The running sum's rounding since its last exact resum (at most 2 * size values back) is the bound.
            since_resum = [abs(v) for v in values[max(0, index + 1 - 2 * size) : index + 1] if math.isfinite(v)]
            assert window.mean() == pytest.approx(expected, rel=1e-9, abs=1e-12 * max(since_resum, default=0.0))
        elif math.isnan(expected):
            assert math.isnan(window.mean())
        else:
            assert window.mean() == expected
