"""Behaviour of the stopping-condition language: grammar, evaluation, errors.

Hypothesis builds random ASTs together with a randomly spaced, randomly
parenthesised text for each, written by this file (not by ``str``), so the
parser is checked against an independent rendering; ``str`` is then checked
to print every AST back to text that parses to an equal condition.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syllabus_like.conditions import (
    MAX_NESTING_DEPTH,
    And,
    Comparison,
    Condition,
    ConditionSyntaxError,
    Not,
    Or,
    parse_condition,
)

PROPERTY = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])


def cmp(metric: str, op: str, value: float) -> Comparison:
    return Comparison(metric, op, value)


# --------------------------------------------------------------- operators


@pytest.mark.parametrize(
    "op, results",
    [
        # truth of "x OP 1" for x = 0, 1, 2
        ("<", (True, False, False)),
        ("<=", (True, True, False)),
        (">", (False, False, True)),
        (">=", (False, True, True)),
        ("=", (False, True, False)),
        ("==", (False, True, False)),
        ("!=", (True, False, True)),
    ],
)
def test_every_comparison_operator(op: str, results: tuple[bool, bool, bool]) -> None:
    condition = parse_condition(f"x {op} 1")
    assert tuple(condition({"x": x}) for x in (0, 1, 2)) == results
    assert tuple(condition({"x": float(x)}) for x in (0, 1, 2)) == results


def test_single_and_double_equals_mean_the_same() -> None:
    assert parse_condition("x = 3") == parse_condition("x == 3")
    assert parse_condition("x=3").root == Comparison("x", "==", 3.0)
    assert str(parse_condition("x=3")) == "x == 3"


# ------------------------------------------------------ precedence & grouping


def test_and_binds_tighter_than_or() -> None:
    condition = parse_condition("a > 0 | b > 0 & c > 0")
    assert condition.root == Or((cmp("a", ">", 0), And((cmp("b", ">", 0), cmp("c", ">", 0)))))
    left_and = parse_condition("a > 0 & b > 0 | c > 0")
    assert left_and.root == Or((And((cmp("a", ">", 0), cmp("b", ">", 0))), cmp("c", ">", 0)))
    for a, b, c in itertools.product((0, 1), repeat=3):
        values = {"a": a, "b": b, "c": c}
        assert condition(values) == bool(a or (b and c))
        assert left_and(values) == bool((a and b) or c)


def test_parentheses_override_precedence() -> None:
    condition = parse_condition("(a > 0 | b > 0) & c > 0")
    assert condition.root == And((Or((cmp("a", ">", 0), cmp("b", ">", 0))), cmp("c", ">", 0)))
    for a, b, c in itertools.product((0, 1), repeat=3):
        assert condition({"a": a, "b": b, "c": c}) == bool((a or b) and c)


def test_not_binds_tightest() -> None:
    condition = parse_condition("!a > 0 & b > 0")
    assert condition.root == And((Not(cmp("a", ">", 0)), cmp("b", ">", 0)))
    negated_group = parse_condition("!(a > 0 & b > 0)")
    assert negated_group.root == Not(And((cmp("a", ">", 0), cmp("b", ">", 0))))
    for a, b in itertools.product((0, 1), repeat=2):
        assert condition({"a": a, "b": b}) == bool((not a) and b)
        assert negated_group({"a": a, "b": b}) == (not (a and b))


def test_double_negation_and_redundant_parentheses() -> None:
    assert parse_condition("!!x > 1").root == Not(Not(cmp("x", ">", 1)))
    assert parse_condition("((((x > 1))))") == parse_condition("x > 1")
    assert parse_condition("!(!(x > 1))")({"x": 2}) is True


def test_chains_are_flattened_whatever_the_grouping() -> None:
    flat = And((cmp("a", ">", 1), cmp("b", ">", 1), cmp("c", ">", 1)))
    assert parse_condition("a>1 & b>1 & c>1").root == flat
    assert parse_condition("(a>1 & b>1) & c>1").root == flat
    assert parse_condition("a>1 & (b>1 & c>1)").root == flat
    assert parse_condition("a>1 | (b>1 | c>1)").root == Or(flat.operands)


def test_truth_tables_of_and_or_not() -> None:
    cases = {
        "a == 1 & b == 1": lambda a, b: a and b,
        "a == 1 | b == 1": lambda a, b: a or b,
        "!a == 1": lambda a, b: not a,
        "!(a == 1 | b == 1)": lambda a, b: not (a or b),
        "!a == 1 | !b == 1": lambda a, b: (not a) or (not b),
        "a != 1 & b != 1": lambda a, b: (not a) and (not b),
    }
    for text, expected in cases.items():
        condition = parse_condition(text)
        for a, b in itertools.product((0, 1), repeat=2):
            assert condition({"a": a, "b": b}) == bool(expected(a, b)), (text, a, b)


def test_long_flat_chain_does_not_recurse() -> None:
    text = " & ".join(f"m{i} >= {i}" for i in range(3000))
    condition = parse_condition(text)
    assert len(condition.root.operands) == 3000
    values = {f"m{i}": i for i in range(3000)}
    assert condition(values) is True
    values["m2999"] = 0
    assert condition(values) is False


# ------------------------------------------------------------------ whitespace


@pytest.mark.parametrize(
    "text",
    [
        "episodes>=500&episode_return>0.8",
        "episodes >= 500 & episode_return > 0.8",
        "   episodes>=  500   &episode_return   >0.8   ",
        "\tepisodes\n>=\r\n500\t&\fepisode_return\v>\u00a00.8\u2003",
        "(episodes>=500)&(episode_return>0.8)",
    ],
)
def test_whitespace_anywhere_or_nowhere(text: str) -> None:
    expected = And((cmp("episodes", ">=", 500), cmp("episode_return", ">", 0.8)))
    assert parse_condition(text).root == expected


# --------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "number, value",
    [
        ("0", 0.0),
        ("42", 42.0),
        ("007", 7.0),
        ("-3", -3.0),
        ("+3", 3.0),
        ("-0.5", -0.5),
        (".5", 0.5),
        ("-.25", -0.25),
        ("5.", 5.0),
        ("1e6", 1e6),
        ("1E6", 1e6),
        ("2.5e-3", 0.0025),
        ("-2.5E+3", -2500.0),
        ("1_000", 1000.0),
        ("1_000_000.000_5", 1000000.0005),
        ("1e1_0", 1e10),
        ("1e999", math.inf),
        ("-1e999", -math.inf),
        ("12345678901234567890", 12345678901234567890.0),
    ],
)
def test_number_forms(number: str, value: float) -> None:
    condition = parse_condition(f"x=={number}")
    assert condition.root == Comparison("x", "==", value)
    assert isinstance(condition.root.value, float)
    assert parse_condition(str(condition)) == condition


def test_numbers_compare_with_their_exact_value() -> None:
    condition = parse_condition("x == 0.1")
    assert condition({"x": 0.1}) and not condition({"x": 0.1 + 1e-12})
    assert parse_condition("steps >= 1e6")({"steps": 1_000_000})
    assert not parse_condition("steps >= 1_000")({"steps": 999})
    assert parse_condition("x < 1e999")({"x": 1e308})


# ----------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    ["episodes", "episode_return", "eval/success_rate", "a.b", "_private", "x1", "A_B/c.d/e_2", "e", "E1"],
)
def test_metric_names(name: str) -> None:
    condition = parse_condition(f"{name}>1")
    assert condition.metrics == frozenset({name})
    assert condition({name: 2}) and not condition({name: 1})
    assert str(condition) == f"{name} > 1"


def test_metrics_lists_every_name_once() -> None:
    condition = parse_condition("a > 1 & !(b < 2 | a.b == 3) | b != 0 | eval/x >= 1")
    assert condition.metrics == frozenset({"a", "b", "a.b", "eval/x"})
    assert isinstance(condition.metrics, frozenset)


# ---------------------------------------------------------------- missing data


def test_missing_metric_makes_comparison_false() -> None:
    for op in ("<", "<=", ">", ">=", "==", "!="):
        condition = parse_condition(f"x {op} 0")
        assert condition({}) is False
        assert condition({"x": None}) is False
        assert condition({"y": 0}) is False


def test_missing_metric_inside_not_and_or() -> None:
    assert parse_condition("!(x > 1)")({}) is True  # documented: True until x is reported
    assert parse_condition("!(x > 1)")({"x": None}) is True
    assert parse_condition("x > 1 | y > 1")({"y": 2}) is True
    assert parse_condition("x > 1 & y > 1")({"y": 2}) is False


def test_values_may_be_numpy_scalars_or_bools() -> None:
    condition = parse_condition("x >= 1 & y == 1 & z < 0.5")
    assert condition({"x": np.float32(1.0), "y": True, "z": np.array(0.25)}) is True
    assert condition({"x": np.int64(0), "y": True, "z": np.array(0.25)}) is False


@pytest.mark.parametrize("bad", ["high", "1.5", b"1", [1, 2], {"v": 1}, object(), np.array([1.0, 2.0])])
def test_non_numeric_metric_value_is_a_type_error_naming_the_metric(bad: Any) -> None:
    condition = parse_condition("other >= 0 & episode_return > 0.5")
    with pytest.raises(TypeError, match=r"metric 'episode_return' must be a number, got"):
        condition({"other": 1, "episode_return": bad})


def test_condition_needs_a_mapping() -> None:
    condition = parse_condition("x > 1")
    for bad in ([("x", 2)], 2, "x"):
        with pytest.raises(TypeError, match="mapping of metric name -> number"):
            condition(bad)


# --------------------------------------------------------- canonical printing


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("x>1", "x > 1"),
        ("x=1", "x == 1"),
        ("x>=1.50", "x >= 1.5"),
        ("x<-0.5", "x < -0.5"),
        ("x<1e6", "x < 1000000"),
        ("x<1e-7", "x < 1e-07"),
        ("x<1e999", "x < 1e999"),
        ("x>-1e999", "x > -1e999"),
        ("x<1e20", "x < 1e+20"),
        ("a>1&b<2|!(c=3)", "a > 1 & b < 2 | !(c == 3)"),
        ("(a>1|b>1)&c>1", "(a > 1 | b > 1) & c > 1"),
        ("!!a>1", "!(!(a > 1))"),
        ("!(a>1&b>1)", "!(a > 1 & b > 1)"),
        ("((a>1))", "a > 1"),
    ],
)
def test_str_is_canonical(text: str, canonical: str) -> None:
    condition = parse_condition(text)
    assert str(condition) == canonical
    assert parse_condition(canonical) == condition
    assert str(parse_condition(canonical)) == canonical
    assert repr(condition) == f"Condition({canonical!r})"


# -------------------------------------------------- hypothesis: random ASTs

names = st.sampled_from(["x", "episodes", "eval/success_rate", "a.b", "_k9", "E", "e1"])
ops = st.sampled_from(["<", "<=", ">", ">=", "=", "==", "!="])
spaces = st.text(alphabet=" \t\n", max_size=2)


@st.composite
def number_and_text(draw: st.DrawFn) -> tuple[float, str]:
    """A value and one of the several ways of writing it."""
    if draw(st.booleans()):
        integer = draw(st.integers(-(10**7), 10**7))
        form = draw(st.sampled_from(["{}", "{:_}", "{}.0", "{}e0", "{:+}"]))
        return float(integer), form.format(integer)
    value = draw(st.floats(allow_nan=False, allow_infinity=True))
    if math.isinf(value):
        return value, "1e999" if value > 0 else "-1e999"
    return value, repr(value)


@st.composite
def comparison_with_text(draw: st.DrawFn) -> tuple[Comparison, str]:
    name, op = draw(names), draw(ops)
    value, number = draw(number_and_text())
    text = f"{draw(spaces)}{name}{draw(spaces)}{op}{draw(spaces)}{number}{draw(spaces)}"
    return Comparison(name, op, value), text


def maybe_parenthesised(draw: st.DrawFn, text: str, required: bool) -> str:
    if required or draw(st.booleans()):
        return f"{draw(spaces)}({text}){draw(spaces)}"
    return text


def extend(children: st.SearchStrategy) -> st.SearchStrategy:
    @st.composite
    def negation(draw: st.DrawFn) -> tuple[Not, str]:
        node, text = draw(children)
        return Not(node), "!" + maybe_parenthesised(draw, text, isinstance(node, (And, Or)))

    @st.composite
    def conjunction(draw: st.DrawFn) -> tuple[And, str]:
        parts = draw(st.lists(children, min_size=2, max_size=3))
        texts = [maybe_parenthesised(draw, text, isinstance(node, Or)) for node, text in parts]
        return And(tuple(node for node, _ in parts)), "&".join(texts)

    @st.composite
    def disjunction(draw: st.DrawFn) -> tuple[Or, str]:
        parts = draw(st.lists(children, min_size=2, max_size=3))
        texts = [maybe_parenthesised(draw, text, False) for node, text in parts]
        return Or(tuple(node for node, _ in parts)), "|".join(texts)

    return st.one_of(negation(), conjunction(), disjunction())


asts_with_text = st.recursive(comparison_with_text(), extend, max_leaves=8)
value_maps = st.dictionaries(
    st.sampled_from(["x", "episodes", "eval/success_rate", "a.b", "_k9", "E", "e1", "unused"]),
    st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=False), st.sampled_from([0.0, 1e999, -1e999])),
)


def reference(node: Any, values: dict) -> bool:
    """The meaning of an AST, written independently of the library's evaluate."""
    if isinstance(node, Comparison):
        observed = values.get(node.metric)
        if observed is None:
            return False
        return {
            "<": observed < node.value,
            "<=": observed <= node.value,
            ">": observed > node.value,
            ">=": observed >= node.value,
            "==": observed == node.value,
            "!=": observed != node.value,
        }[node.op]
    if isinstance(node, Not):
        return not reference(node.operand, values)
    if isinstance(node, And):
        return all(reference(operand, values) for operand in node.operands)
    return any(reference(operand, values) for operand in node.operands)


@PROPERTY
@given(asts_with_text, value_maps)
def test_parser_reads_independent_renderings(ast_and_text: tuple[Any, str], values: dict) -> None:
    node, text = ast_and_text
    condition = parse_condition(text)
    assert condition == Condition(node), text
    assert condition(values) == reference(node, values)


@PROPERTY
@given(asts_with_text, value_maps)
def test_str_parses_back_to_an_equal_condition(ast_and_text: tuple[Any, str], values: dict) -> None:
    condition = Condition(ast_and_text[0])
    canonical = str(condition)
    reparsed = parse_condition(canonical)
    assert reparsed == condition
    assert hash(reparsed) == hash(condition)
    assert str(reparsed) == canonical  # canonical: printing is a fixed point
    assert reparsed(values) == condition(values) == reference(condition.root, values)
    assert reparsed.metrics == condition.metrics


@PROPERTY
@given(asts_with_text, value_maps)
def test_bound_condition_means_the_same_and_reads_live_values(ast_and_text: tuple[Any, str], values: dict) -> None:
    condition = Condition(ast_and_text[0])
    live: dict = {}
    bound = condition.bind({name: (lambda name=name: live.get(name)) for name in condition.metrics})
    assert bound() == reference(condition.root, {})  # every metric without a value yet
    live.update(values)  # bound once, it sees later values
    assert bound() is reference(condition.root, values)


def test_a_bound_condition_is_one_compiled_function_and_deep_nesting_still_binds() -> None:
    shallow = parse_condition("episodes >= 3 & !(success_rate > 0.5 | x < 0)")
    live: dict = {"episodes": 3, "success_rate": 0.4, "x": 1.0}
    bound = shallow.bind({name: (lambda name=name: live.get(name)) for name in shallow.metrics})
    assert bound.__code__.co_filename == "<bound condition>"  # one generated function, not nested closures
    assert bound() is True
    live["x"] = -1.0
    assert bound() is False
    # Alternating & and | nested ~100 deep: more parentheses than Python compiles, so the
    # condition is bound node by node instead, with the same meaning.
    node = Comparison("a", ">", 1)
    for level in range(MAX_NESTING_DEPTH - 1):
        node = And((Or((node, Comparison("b", "<", level))), Comparison("c", ">=", 0)))
    deep = Condition(node)
    values = {"a": 2.0, "b": 1e9, "c": 0.0}
    bound_deep = deep.bind({name: (lambda name=name: values[name]) for name in deep.metrics})
    assert bound_deep.__code__.co_filename != "<bound condition>"
    assert bound_deep() is deep(values) is True
    values["a"] = 0.0
    assert bound_deep() is deep(values) is False


def test_bind_names_a_metric_without_a_reader() -> None:
    condition = parse_condition("episodes >= 3 & success_rate > 0.5")
    with pytest.raises(KeyError, match=r"no reader for the metrics \['success_rate'\]"):
        condition.bind({"episodes": lambda: 3})


# ------------------------------------------------------------- metrics= check


def test_metrics_argument_rejects_unknown_names_at_parse_time() -> None:
    text = "episodes >= 5 & episode_retrun > 0.5"
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text, metrics=["episodes", "episode_return", "steps"])
    error = info.value
    assert error.position == text.index("episode_retrun")
    assert "unknown metric 'episode_retrun'" in str(error)
    assert "valid metrics are: episode_return, episodes, steps" in str(error)


def test_metrics_argument_accepts_known_names_in_any_collection() -> None:
    text = "episodes >= 5 | !(eval/success_rate < 0.9)"
    expected = parse_condition(text)
    for known in (
        ["episodes", "eval/success_rate"],
        {"episodes", "eval/success_rate", "steps"},
        {"episodes": 0, "eval/success_rate": 0},
        ("eval/success_rate", "episodes"),
    ):
        assert parse_condition(text, metrics=known) == expected


def test_metrics_argument_checks_names_inside_groups() -> None:
    text = "a > 1 | !(b > 1 & (c > 1))"
    with pytest.raises(ConditionSyntaxError, match="unknown metric 'c'") as info:
        parse_condition(text, metrics={"a", "b"})
    assert info.value.position == text.index("c >")
    with pytest.raises(ConditionSyntaxError, match=r"valid metrics are: \(none\)"):
        parse_condition("a > 1", metrics=[])


def test_metrics_argument_must_not_be_a_string() -> None:
    with pytest.raises(TypeError, match="collection of names, not the string 'episodes'"):
        parse_condition("episodes > 1", metrics="episodes")


# --------------------------------------------------------------- syntax errors


SYNTAX_ERRORS = [
    # (text, position, words the message must contain)
    ("", 0, "empty condition"),
    ("   ", 0, "empty condition"),
    ("x", 1, "expected a comparison operator (<, <=, >, >=, ==, !=) after metric 'x', found the end"),
    ("x >", 3, "expected a number after '>', found the end of the condition"),
    ("x > y", 4, "expected a number after '>', found 'y'"),
    ("> 1", 0, "expected a metric name, '!' or '(', found '>'"),
    ("1 > x", 0, "expected a metric name, '!' or '(', found '1'"),
    ("x > 1 &", 7, "expected a metric name, '!' or '(', found the end"),
    ("x > 1 & & y > 2", 8, "found '&'"),
    ("x > 1 && y > 2", 7, "found '&'"),
    ("x > 1 || y > 2", 7, "found '|'"),
    ("x > 1 y > 2", 6, "expected '&', '|' or the end of the condition, found 'y'"),
    ("x > 1 and y > 2", 6, "found 'and'"),
    ("(x > 1", 6, "expected ')' to close the '(' opened at position 0"),
    ("a > 1 & ((b > 1) | c > 1", 24, "to close the '(' opened at position 8"),
    ("x > 1)", 5, "found ')'"),
    ("()", 1, "found ')'"),
    ("!", 1, "found the end of the condition"),
    ("x >> 1", 3, "expected a number after '>', found '>'"),
    ("x => 1", 3, "expected a number after '=', found '>'"),
    ("x <> 1", 3, "found '>'"),
    ("x ! 1", 2, "expected a comparison operator"),
    ("x > 1__0", 5, "found '__0'"),
    ("x > 1_", 5, "found '_'"),
    ("x > 1e", 5, "found 'e'"),
    ("x > 1.2.3", 7, "found '.3'"),
    ("x > _1", 4, "expected a number after '>', found '_1'"),
    ("x > - 1", 4, "unexpected character '-'"),
    ("x # 1", 2, "unexpected character '#'"),
    ("x \u2265 1", 2, "unexpected character '\u2265'"),
    ("x > \u0661", 4, "unexpected character '\u0661'"),  # non-ASCII digits are not numbers
    ("ép > 1", 0, "unexpected character 'é'"),
    ("x > 1 | (y < 2 & !)", 18, "expected a metric name, '!' or '(', found ')'"),
    ("a.b >= 1e3 & eval/x < .5 |", 26, "found the end"),
    ("x < 1\n& y", 9, "after metric 'y', found the end"),
    ("x < 1 & y < 2 & (z > 3 | !w > 4", 31, "to close the '(' opened at position 16"),
]


@pytest.mark.parametrize("text, position, words", SYNTAX_ERRORS)
def test_syntax_errors_point_at_the_fault(text: str, position: int, words: str) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.position == position
    assert error.text == text
    message = str(error)
    assert words in message
    assert f"(at position {position})" in message
    lines = message.split("\n")
    assert len(lines) == 3  # reason, the text (whitespace shown as spaces), the caret
    shown = "".join(" " if c.isspace() else c for c in text)
    assert lines[1] == "    " + shown
    assert lines[2] == "    " + " " * position + "^"
    if position < len(text) and not text[position].isspace():
        assert lines[1][4 + position] == text[position]


def test_syntax_error_is_a_value_error_with_reason() -> None:
    assert issubclass(ConditionSyntaxError, ValueError)
    with pytest.raises(ValueError) as info:
        parse_condition("x >")
    assert info.value.reason.startswith("expected a number")


@pytest.mark.parametrize("bad", [None, 5, 1.5, b"x > 1", ["x > 1"], Condition(Comparison("x", ">", 1))])
def test_non_string_input_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"condition must be a string, got"):
        parse_condition(bad)


# --------------------------------------------------------------- deep nesting


@pytest.mark.parametrize(
    "text, position",
    [
        ("(" * 5000 + "x > 1" + ")" * 5000, MAX_NESTING_DEPTH),
        ("!" * 5000 + "x > 1", MAX_NESTING_DEPTH),
        ("(" * 50000, MAX_NESTING_DEPTH),
        ("!(" * 3000 + "x > 1" + ")" * 3000, 2 * MAX_NESTING_DEPTH),  # "!(" is one level
        # "(" then "!(" pairs: level n >= 2 opens at the "!" at index 2n - 3
        ("(!" * 3000 + "x > 1" + ")" * 3000, 2 * (MAX_NESTING_DEPTH + 1) - 3),
        ("a > 1 & (" * 3000 + "x > 1" + ")" * 3000, len("a > 1 & (") * (MAX_NESTING_DEPTH + 1) - 1),
    ],
)
def test_deep_nesting_is_a_syntax_error_not_a_recursion_error(text: str, position: int) -> None:
    with pytest.raises(ConditionSyntaxError, match="nested too deeply") as info:
        parse_condition(text)
    assert info.value.position == position  # the first '!' / '(' past the limit


@pytest.mark.parametrize(
    "text",
    [
        "(" * MAX_NESTING_DEPTH + "x > 1" + ")" * MAX_NESTING_DEPTH,
        "!" * MAX_NESTING_DEPTH + "x > 1",
        "!(" * MAX_NESTING_DEPTH + "x > 1" + ")" * MAX_NESTING_DEPTH,
        "a > 1 & (b > 1 | " * MAX_NESTING_DEPTH + "x > 1" + ")" * MAX_NESTING_DEPTH,
        "!(a > 1 | " * (MAX_NESTING_DEPTH // 2) + "(!x > 1 & y > 1)" + ")" * (MAX_NESTING_DEPTH // 2),
    ],
)
def test_nesting_up_to_the_limit_works_everywhere(text: str) -> None:
    condition = parse_condition(text)
    values = {"a": 0, "b": 0, "x": 2, "y": 2}
    assert condition(values) in (True, False)
    again = parse_condition(str(condition))  # printing never nests deeper than the source
    assert again == condition and hash(again) == hash(condition)
    assert again(values) == condition(values)


def test_even_and_odd_negation_chains() -> None:
    assert parse_condition("!" * MAX_NESTING_DEPTH + "x > 1")({"x": 2}) is (MAX_NESTING_DEPTH % 2 == 0)
    assert parse_condition("!" * (MAX_NESTING_DEPTH - 1) + "x > 1")({"x": 2}) is (MAX_NESTING_DEPTH % 2 == 1)


def test_hand_built_condition_deeper_than_the_limit_is_refused() -> None:
    node: Any = Comparison("x", ">", 1)
    for _ in range(MAX_NESTING_DEPTH):
        node = Not(node)
    assert str(parse_condition(str(Condition(node)))) == str(Condition(node))
    for _ in range(10_000):  # building nodes never recurses
        node = Not(node)
    with pytest.raises(ValueError, match=rf"nested too deeply \(10100 levels, at most {MAX_NESTING_DEPTH}\)"):
        Condition(node)


# ------------------------------------------------------------------------ fuzz

GRAMMAR_ALPHABET = "abxyE_e./0123456789+-<>=!&|() \t"
TOKENS = [
    "x",
    "a.b",
    "eval/s",
    "e",
    "1",
    "-2.5",
    ".5",
    "1e6",
    "1_0",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "==",
    "!=",
    "!",
    "&",
    "|",
    "(",
    ")",
    " ",
    "_",
    "+",
    "-",
    "e",
    ".",
]


def check_parse_or_syntax_error(text: str) -> None:
    try:
        condition = parse_condition(text)
    except ConditionSyntaxError as error:
        assert 0 <= error.position <= len(text)
        shown, pointer = str(error).split("\n")[-2:]
        caret = pointer.index("^")
        assert pointer == " " * caret + "^"
        if error.position == len(text):  # the fault is the end of the text: the caret follows it
            assert caret == len(shown)
        else:  # the caret is under the offending character (whitespace is shown as a space)
            character = text[error.position]
            assert shown[caret] == (" " if character.isspace() else character)
        return
    # Whatever parses prints to canonical text that parses back to the same condition.
    assert parse_condition(str(condition)) == condition
    assert condition({}) in (True, False)


@FUZZ
@given(st.text(max_size=80))
def test_arbitrary_text_only_ever_raises_syntax_errors(text: str) -> None:
    check_parse_or_syntax_error(text)


@FUZZ
@given(st.text(alphabet=GRAMMAR_ALPHABET, max_size=60))
def test_text_from_the_grammar_alphabet_only_ever_raises_syntax_errors(text: str) -> None:
    check_parse_or_syntax_error(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_token_soup_only_ever_raises_syntax_errors(text: str) -> None:
    check_parse_or_syntax_error(text)


@FUZZ
@given(st.text(alphabet=GRAMMAR_ALPHABET, max_size=40), st.lists(st.sampled_from(["episodes", "a.b"]), max_size=2))
def test_fuzz_with_metric_whitelist(text: str, known: list[str]) -> None:
    try:
        condition = parse_condition(text, metrics=known)
    except ConditionSyntaxError:
        return
    assert condition.metrics <= set(known)


# ------------------------------------------------------------- the AST itself


def test_ast_nodes_are_immutable_and_hashable() -> None:
    condition = parse_condition("a > 1 & !(b < 2)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.root = Comparison("z", ">", 0)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.root.operands[0].value = 5.0  # type: ignore[misc]
    assert isinstance(condition.root.operands, tuple)
    lookup = {condition: "stage 1"}
    assert lookup[parse_condition("a>1&!(b<2)")] == "stage 1"


def test_hand_built_nodes_are_normalised() -> None:
    comparison = Comparison("x", "=", 3)
    assert comparison.op == "==" and comparison.value == 3.0 and isinstance(comparison.value, float)
    assert str(Condition(comparison)) == "x == 3"
    nested = And((Comparison("a", ">", 1), And([Comparison("b", ">", 1), Comparison("c", ">", 1)])))
    assert nested == parse_condition("a > 1 & b > 1 & c > 1").root
    assert isinstance(nested.operands, tuple)
    assert parse_condition(str(Condition(nested))).root == nested


@pytest.mark.parametrize(
    "build, error, pattern",
    [
        (lambda: Comparison("bad name", ">", 1), ValueError, r"metric must be a name matching .* got 'bad name'"),
        (lambda: Comparison("1x", ">", 1), ValueError, r"metric must be a name"),
        (lambda: Comparison(3, ">", 1), ValueError, r"metric must be a name"),
        (lambda: Comparison("x", "=>", 1), ValueError, r"op must be one of <, <=, >, >=, ==, !=, got '=>'"),
        (lambda: Comparison("x", ">", float("nan")), ValueError, r"must not be NaN"),
        (lambda: Comparison("x", ">", "1"), TypeError, r"value must be a number, got '1'"),
        (lambda: Comparison("x", ">", None), TypeError, r"value must be a number, got None"),
        (lambda: Comparison("x", ">", True), TypeError, r"value must be a number, got True"),
        (lambda: Not("x > 1"), TypeError, r"Not operand must be a Comparison, Not, And or Or node"),
        (lambda: And((Comparison("x", ">", 1),)), ValueError, r"And needs two or more operands, got 1"),
        (lambda: Or(()), ValueError, r"Or needs two or more operands, got 0"),
        (lambda: And((Comparison("x", ">", 1), 5)), TypeError, r"And operand must be a Comparison"),
        (lambda: Or(Comparison("x", ">", 1)), TypeError, r"Or operands must be a tuple of nodes"),
        (lambda: Condition("x > 1"), TypeError, r"Condition root must be a Comparison"),
    ],
)
def test_bad_hand_built_nodes_are_refused(build: Any, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        build()
