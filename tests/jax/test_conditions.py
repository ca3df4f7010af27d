"""compile_condition: the Condition AST as array code, with Python's exact semantics."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syllabus_like.conditions import And, Comparison, Condition, Not, Or, parse_condition
from syllabus_like.jax import CompiledCondition, compile_condition

METRICS = ("a", "b", "c")
OPS = ("<", "<=", ">", ">=", "==", "!=")


def _python(condition: Condition, values: dict[str, float]) -> bool:
    return condition(values)


# ----------------------------------------------------------------- strategies
float32_values = st.floats(width=32, allow_nan=True, allow_infinity=True)
int32_values = st.integers(min_value=-(2**31), max_value=2**31 - 1)


@st.composite
def thresholds(draw: st.DrawFn) -> float:
    """Thresholds that often sit exactly on, or right next to, a float32 or an integer."""
    base = draw(st.one_of(st.floats(width=32, allow_nan=False), st.integers(-(2**33), 2**33).map(float)))
    nudge = draw(st.sampled_from(["none", "up", "down", "tenth"]))
    if nudge == "up":
        return float(np.nextafter(base, np.inf))
    if nudge == "down":
        return float(np.nextafter(base, -np.inf))
    if nudge == "tenth" and math.isfinite(base):
        return base + 0.1
    return base


@st.composite
def nodes(draw: st.DrawFn, depth: int = 0):
    if depth >= 3 or draw(st.booleans()):
        return Comparison(draw(st.sampled_from(METRICS)), draw(st.sampled_from(OPS)), draw(thresholds()))
    kind = draw(st.sampled_from(["not", "and", "or"]))
    if kind == "not":
        return Not(draw(nodes(depth + 1)))
    operands = tuple(draw(st.lists(nodes(depth + 1), min_size=2, max_size=3)))
    return And(operands) if kind == "and" else Or(operands)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    root=nodes(),
    float_values=st.lists(float32_values, min_size=4, max_size=4),
    int_values=st.lists(int32_values, min_size=4, max_size=4),
    absent=st.sampled_from([(), ("a",), ("b", "c")]),
    present_b=st.lists(st.booleans(), min_size=4, max_size=4),
    use_ints=st.booleans(),
)
def test_compiled_matches_python_condition(root, float_values, int_values, absent, present_b, use_ints):
    """Random ASTs and float32 / int32 metric values (incl. NaN, inf, boundaries): same answers."""
    condition = Condition(root)
    compiled = compile_condition(condition)
    # Metric "a" is float32, "b" float32 or int32, "c" int32; each a vector of 4 samples.
    b_values = int_values if use_ints else float_values[::-1]
    arrays = {
        "a": jnp.asarray(float_values, jnp.float32),
        "b": jnp.asarray(b_values, jnp.int32 if use_ints else jnp.float32),
        "c": jnp.asarray(int_values[::-1], jnp.int32),
    }
    # Python sees exactly the numbers JAX holds: read them back from the arrays.
    concrete = {name: np.asarray(values) for name, values in arrays.items()}
    metrics = {name: values for name, values in arrays.items() if name not in absent}
    got = np.asarray(compiled(metrics, present={"b": jnp.asarray(present_b)}))
    for i in range(4):
        values = {
            name: float(concrete[name][i]) for name in METRICS if name not in absent and (name != "b" or present_b[i])
        }
        assert bool(np.broadcast_to(got, (4,))[i]) == _python(condition, values), (str(condition), values)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    root=nodes(),
    float_points=st.lists(st.floats(width=32, allow_nan=False), min_size=2, max_size=2),
    int_points=st.lists(int32_values, min_size=2, max_size=2),
    fractions=st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6),
    absent_a=st.booleans(),
)
def test_could_hold_is_true_wherever_the_condition_holds(root, float_points, int_points, fractions, absent_a):
    """Random ASTs over intervals ("a", "b" float32, "c" int32): any point where it holds makes could_hold True."""
    compiled = compile_condition(Condition(root))
    a_low, a_high = sorted(float_points)
    c_low, c_high = sorted(int_points)
    lower = {"a": jnp.float32(a_low), "b": jnp.float32(a_low), "c": jnp.int32(c_low)}
    upper = {"a": jnp.float32(a_high), "b": jnp.float32(a_high), "c": jnp.int32(c_high)}
    could = bool(compiled.could_hold(lower, upper, {"a": absent_a}))
    # Points inside the region: the corners, and points between them.
    points = [(a_low, a_high, c_low), (a_high, a_low, c_high)]
    for i in range(0, 6, 3):
        a, b, c = (fractions[i + k] for k in range(3))
        points.append(
            (
                np.float32(a_low + a * (a_high - a_low)) if np.isfinite(a_high - a_low) else a_low,
                np.float32(a_low + b * (a_high - a_low)) if np.isfinite(a_high - a_low) else a_high,
                int(c_low + c * (c_high - c_low)),
            )
        )
    for a, b, c in points:
        for a_present in (True, False) if absent_a else (True,):
            values = {"b": jnp.float32(b), "c": jnp.int32(c)} | ({"a": jnp.float32(a)} if a_present else {})
            if bool(compiled(values)):
                assert could, (str(Condition(root)), values, lower, upper)


def test_could_hold_answers_false_when_no_point_can_satisfy():
    check = compile_condition("episodes >= 100 & episode_return > 0.8")
    lower = {"episodes": jnp.int32(10), "episode_return": jnp.float32(0.1)}
    upper = {"episodes": jnp.int32(99), "episode_return": jnp.float32(0.9)}
    assert not bool(check.could_hold(lower, upper))  # episodes never reaches 100
    assert bool(check.could_hold(lower, upper | {"episodes": jnp.int32(100)}))
    assert not bool(check.could_hold(lower, upper | {"episodes": jnp.int32(100), "episode_return": jnp.float32(0.75)}))
    # Float thresholds keep Python's float64 semantics: float32(0.1) > 0.1.
    assert bool(compile_condition("x > 0.1").could_hold({"x": jnp.float32(0.0)}, {"x": jnp.float32(0.1)}))
    assert not bool(compile_condition("x > 0.1").could_hold({"x": jnp.float32(0.0)}, {"x": jnp.float32(0.09)}))
    # A metric missing everywhere, or an empty interval, makes its comparisons False ...
    assert not bool(compile_condition("y > 1").could_hold({}, {}))
    assert not bool(compile_condition("y > 1").could_hold({"y": jnp.float32(5.0)}, {"y": jnp.float32(2.0)}))
    # ... so their negation holds, and a metric that may be missing makes "!(y > 1)" possible.
    assert bool(compile_condition("!(y > 1)").could_hold({}, {}))
    inside = ({"y": jnp.float32(2.0)}, {"y": jnp.float32(3.0)})
    assert not bool(compile_condition("!(y > 1)").could_hold(*inside))
    assert bool(compile_condition("!(y > 1)").could_hold(*inside, maybe_absent={"y": jnp.bool_(True)}))
    # Equality is not bounded: always possibly true.
    assert bool(compile_condition("y == 7").could_hold(*inside))
    assert not bool(compile_condition("y < 2 | y > 3").could_hold(*inside))
    assert bool(compile_condition("y <= 2 | y > 3").could_hold(*inside))


def test_float32_metric_against_inexact_threshold_matches_python():
    # float32(0.1) is 0.10000000149...; Python compares it, as a float64, with 0.1.
    x = jnp.float32(0.1)
    for op, expected in [(">", True), (">=", True), ("<", False), ("<=", False), ("==", False), ("!=", True)]:
        text = f"x {op} 0.1"
        assert bool(compile_condition(text)({"x": x})) is expected, text
        assert parse_condition(text)({"x": float(x)}) is expected


def test_integer_metrics_are_exact_beyond_float32_precision():
    big = 2**24 + 1  # not representable in float32
    compiled = compile_condition("steps >= 16777217 & steps < 16777218")
    assert bool(compiled({"steps": jnp.int32(big)}))
    assert not bool(compiled({"steps": jnp.int32(big - 1)}))
    assert bool(compile_condition("n > 2147483646.5")({"n": jnp.int32(2**31 - 1)}))
    assert not bool(compile_condition("n >= 1e999")({"n": jnp.int32(2**31 - 1)}))
    assert bool(compile_condition("n > -1e999")({"n": jnp.int32(-(2**31))}))
    assert bool(compile_condition("flag == 1")({"flag": jnp.bool_(True)}))


def test_missing_metric_makes_comparisons_false_even_under_not():
    compiled = compile_condition("!(x > 1) & y != 0")
    assert not bool(compiled({}))  # y missing -> "y != 0" False
    assert bool(compiled({"y": jnp.float32(2.0)}))  # x missing -> "x > 1" False -> negation True
    present = {"y": jnp.array([True, False])}
    assert np.array_equal(compiled({"y": jnp.array([2.0, 2.0])}, present), [True, False])


def test_broadcasts_over_metric_arrays_and_works_under_jit_and_vmap():
    compiled = compile_condition("episodes >= 3 | episode_return > 0.5")
    episodes = jnp.arange(6)
    returns = jnp.linspace(0.0, 1.0, 6)

    @jax.jit
    def run(condition: CompiledCondition, episodes, returns):
        return condition({"episodes": episodes, "episode_return": returns})

    expected = [e >= 3 or r > 0.5 for e, r in zip(range(6), np.asarray(returns), strict=False)]
    assert np.array_equal(run(compiled, episodes, returns), expected)
    per_item = jax.vmap(lambda e, r: compiled({"episodes": e, "episode_return": r}))(episodes, returns)
    assert np.array_equal(per_item, expected)


def test_changing_thresholds_does_not_recompile():
    traces = []

    @eqx.filter_jit
    def holds(condition, episodes):
        traces.append(1)
        return condition({"episodes": episodes})

    compiled = compile_condition("episodes >= 10")
    assert bool(holds(compiled, jnp.int32(12)))
    stricter = compiled.with_thresholds([20])
    assert not bool(holds(stricter, jnp.int32(12)))
    assert bool(holds(stricter.with_thresholds(np.array([11.5])), jnp.int32(12)))
    assert len(traces) == 1


def test_thresholds_can_be_traced_values():
    compiled = compile_condition("x > 1 & y <= 5")
    values = jnp.array([[0.0, 5.0], [2.0, 5.0], [0.0, 4.0]])
    results = jax.vmap(lambda v: compiled.with_thresholds(v)({"x": 1.5, "y": jnp.int32(5)}))(values)
    assert np.array_equal(results, [True, False, False])


def test_structure_and_metrics_are_exposed():
    compiled = compile_condition("a < 1 | !(b == 2)")
    assert compiled.comparisons == (("a", "<"), ("b", "=="))
    assert compiled.metrics == frozenset({"a", "b"})
    assert compile_condition(parse_condition("a < 1")).comparisons == (("a", "<"),)


def test_bad_input_is_rejected_with_clear_messages():
    with pytest.raises(TypeError, match="needs a Condition, an AST node or condition text, got 3"):
        compile_condition(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown metric 'z'"):
        compile_condition("z > 1", metrics=["x"])
    with pytest.raises(ValueError, match="threshold 1 is NaN"):
        compile_condition("x > 1 & y > 2").with_thresholds([1.0, float("nan")])
    with pytest.raises(ValueError, match=r"expected 2 thresholds \(one per comparison"):
        compile_condition("x > 1 & y > 2").with_thresholds([1.0])
    with pytest.raises(TypeError, match="metrics must be a mapping"):
        compile_condition("x > 1")([1.0])  # type: ignore[arg-type]


def test_a_compiled_condition_survives_plain_jax_jit():
    condition = compile_condition(parse_condition("episodes>=3 & episode_return>0.5"))
    jitted = jax.jit(condition)
    metrics = {"episodes": jnp.asarray([2, 3, 4]), "episode_return": jnp.asarray([0.9, 0.9, 0.1])}
    assert jitted(metrics).tolist() == [False, True, False]
    assert jitted(metrics).tolist() == condition(metrics).tolist()
    # New thresholds are a new function: jit'ing it gives that function's answers, not a stale cache entry.
    looser = condition.with_thresholds([1, 0.0])
    assert jax.jit(looser)(metrics).tolist() == [True, True, True]
    assert hash(condition) != hash(looser) and condition in {condition}
