"""The stopping-condition language.

A condition such as ``"episodes>=500 & episode_return>0.8"`` decides when a
sequential curriculum moves to its next stage. The same text means the same
thing everywhere in the library: the Python curricula evaluate the AST below
directly, and the JAX backend compiles the very same AST to array code.

Grammar (``&`` binds tighter than ``|``; ``!`` binds tightest)::

    condition   := or_expr END
    or_expr     := and_expr ( "|" and_expr )*
    and_expr    := unary ( "&" unary )*
    unary       := "!" unary | "(" or_expr ")" | comparison
    comparison  := NAME OP NUMBER
    OP          := "<" | "<=" | ">" | ">=" | "=" | "==" | "!="
    NAME        := [A-Za-z_][A-Za-z0-9_./]*        e.g. episodes, eval/success_rate, a.b
    NUMBER      := [+-]? digits [. digits] [e [+-] digits]   underscores allowed between digits

Digits are ASCII ``0-9``; ``.5`` and ``5.`` are numbers too.

Nesting is limited to :data:`MAX_NESTING_DEPTH` levels, so that parsing,
evaluating, printing and comparing a condition never exhausts the stack. Each
``!`` opens a level, and so does each ``(`` that does not directly follow a
``!`` (``!(...)`` is one level). ``str`` never nests deeper than the text it
was parsed from, so the canonical form always parses again.

``=`` and ``==`` mean the same. A comparison on a metric that has no value yet
(absent from the mapping, or ``None``) is False, so ``!(x > 1)`` is True until
``x`` is reported.

The AST is public and immutable: :class:`Comparison`, :class:`Not`,
:class:`And` and :class:`Or` are frozen dataclasses, and :class:`Condition`
wraps the root node. Building a node checks and normalises it (``=`` becomes
``==``, values become floats, NaN is refused, nested ``And`` / ``Or`` of the
same kind are flattened), so every AST, parsed or hand-built, prints to text
that parses back to an equal AST.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import cast

__all__ = [
    "And",
    "Comparison",
    "Condition",
    "ConditionSyntaxError",
    "Node",
    "Not",
    "Or",
    "COMPARISON_OPERATORS",
    "MAX_NESTING_DEPTH",
    "parse_condition",
]

#: Canonical operator spelling -> Python function. ``=`` is read as ``==``.
COMPARISON_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

#: Deepest nesting of ``!`` / ``(`` a condition may have; deeper text is a syntax error.
MAX_NESTING_DEPTH = 100

_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_./]*"
_NAME_REGEX = re.compile(_NAME_PATTERN)


class ConditionSyntaxError(ValueError):
    """Raised for condition text that does not parse.

    ``position`` is the 0-based index of the offending character in ``text``;
    the message shows the text around it (at most :data:`ERROR_WINDOW`
    characters either side, ``...`` marking what is cut) with a caret under
    it, so that a long text does not make a long message. ``text`` keeps the
    whole input.
    """

    def __init__(self, reason: str, text: str, position: int) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        start = max(0, position - ERROR_WINDOW)
        end = min(len(text), position + ERROR_WINDOW + 1)
        before = "..." if start > 0 else ""
        after = "..." if end < len(text) else ""
        # Tabs and newlines are shown as single spaces so the caret lines up.
        shown = before + "".join(" " if character.isspace() else character for character in text[start:end]) + after
        pointer = " " * (len(before) + position - start) + "^"
        super().__init__(f"{reason} (at position {position})\n    {shown}\n    {pointer}")


#: Characters of the text shown on each side of the caret in a ConditionSyntaxError.
ERROR_WINDOW = 40


def _quoted(token_text: str) -> str:
    """A token for an error message: quoted, and cut to the error window so a huge token stays short."""
    if len(token_text) <= 2 * ERROR_WINDOW:
        return repr(token_text)
    return repr(token_text[: 2 * ERROR_WINDOW - 3] + "...")


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Comparison:
    """``metric op value``; ``op`` is one of :data:`COMPARISON_OPERATORS`."""

    metric: str
    op: str
    value: float

    def __post_init__(self) -> None:
        # Hand-built nodes are checked as strictly as parsed ones, so that every
        # AST prints to text that parses back to an equal AST.
        if not isinstance(self.metric, str) or _NAME_REGEX.fullmatch(self.metric) is None:
            raise ValueError(f"metric must be a name matching {_NAME_PATTERN}, got {self.metric!r}")
        op = "==" if self.op == "=" else self.op
        if op not in COMPARISON_OPERATORS:
            raise ValueError(f"op must be one of {', '.join(COMPARISON_OPERATORS)}, got {self.op!r}")
        if isinstance(self.value, (str, bytes, bool)):
            raise TypeError(f"value must be a number, got {self.value!r}")
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            raise TypeError(f"value must be a number, got {self.value!r}") from None
        if math.isnan(value):
            raise ValueError("value must not be NaN: no metric value compares meaningfully with it")
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "value", value)

    def evaluate(self, values: Mapping[str, float]) -> bool:
        observed = values.get(self.metric)
        if observed is None:
            return False
        if isinstance(observed, (str, bytes)):
            raise TypeError(f"metric {self.metric!r} must be a number, got {observed!r} ({type(observed).__name__})")
        try:
            observed = float(observed)
        except (TypeError, ValueError):
            raise TypeError(
                f"metric {self.metric!r} must be a number, got {observed!r} ({type(observed).__name__})"
            ) from None
        return bool(COMPARISON_OPERATORS[self.op](observed, self.value))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {_format_number(self.value)}"


@dataclass(frozen=True)
class Not:
    """Logical negation of ``operand``."""

    operand: Node

    def __post_init__(self) -> None:
        _check_node(self.operand, "Not operand")

    def evaluate(self, values: Mapping[str, float]) -> bool:
        return not self.operand.evaluate(values)

    def __str__(self) -> str:
        return f"!({self.operand})"


@dataclass(frozen=True)
class And:
    """True when every operand is true. Always has two or more operands."""

    operands: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "operands", _flatten(self.operands, And))

    def evaluate(self, values: Mapping[str, float]) -> bool:
        return all(op.evaluate(values) for op in self.operands)

    def __str__(self) -> str:
        return " & ".join(f"({op})" if isinstance(op, Or) else str(op) for op in self.operands)


@dataclass(frozen=True)
class Or:
    """True when any operand is true. Always has two or more operands."""

    operands: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "operands", _flatten(self.operands, Or))

    def evaluate(self, values: Mapping[str, float]) -> bool:
        return any(op.evaluate(values) for op in self.operands)

    def __str__(self) -> str:
        return " | ".join(str(op) for op in self.operands)


Node = Comparison | Not | And | Or


def _check_node(node: object, role: str) -> None:
    if not isinstance(node, (Comparison, Not, And, Or)):
        raise TypeError(f"{role} must be a Comparison, Not, And or Or node, got {node!r}")


def _flatten(operands: object, kind: type) -> tuple[Node, ...]:
    """Operands of an ``And`` / ``Or`` with nested nodes of the same kind spliced in.

    ``a & (b & c)`` and ``(a & b) & c`` both become ``And((a, b, c))``: the
    canonical form, which is also what ``str`` followed by parsing produces.
    """
    if isinstance(operands, (str, bytes)) or not isinstance(operands, (tuple, list)):
        raise TypeError(f"{kind.__name__} operands must be a tuple of nodes, got {operands!r}")
    flat: list[Node] = []
    for operand in operands:
        _check_node(operand, f"{kind.__name__} operand")
        if isinstance(operand, kind):
            flat.extend(operand.operands)  # type: ignore[attr-defined]
        else:
            flat.append(operand)
    if len(flat) < 2:
        raise ValueError(f"{kind.__name__} needs two or more operands, got {len(flat)}")
    return tuple(flat)


def _format_number(value: float) -> str:
    """Shortest text that reads back as exactly ``value``."""
    value = float(value)
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _printed_depth(root: Node) -> int:
    """Nesting levels of ``str(root)``, counted as the parser counts them.

    Iterative, so that a hand-built AST of any depth gets an error, not a
    RecursionError.
    """
    deepest = 0
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Not):
            stack.append((node.operand, depth + 1))  # printed as "!(...)": one level
        elif isinstance(node, And):
            stack.extend((op, depth + isinstance(op, Or)) for op in node.operands)  # "(a | b)"
        elif isinstance(node, Or):
            stack.extend((op, depth) for op in node.operands)
    return deepest


def _collect_metrics(node: Node) -> frozenset[str]:
    if isinstance(node, Comparison):
        return frozenset((node.metric,))
    if isinstance(node, Not):
        return _collect_metrics(node.operand)
    return frozenset().union(*(_collect_metrics(op) for op in node.operands))


@dataclass(frozen=True)
class Condition:
    """A parsed condition: call it with a mapping of metric values.

    Two conditions are equal when their ASTs are equal; ``str(condition)`` is
    a canonical form that parses back to an equal condition.
    """

    root: Node

    def __post_init__(self) -> None:
        _check_node(self.root, "Condition root")
        depth = _printed_depth(self.root)
        if depth > MAX_NESTING_DEPTH:
            raise ValueError(
                f"condition is nested too deeply ({depth} levels, at most {MAX_NESTING_DEPTH}): "
                "its text would not parse"
            )

    def __call__(self, values: Mapping[str, float]) -> bool:
        """Whether the condition holds for ``values`` (metric name -> number or None)."""
        if not isinstance(values, Mapping):
            raise TypeError(f"condition values must be a mapping of metric name -> number, got {values!r}")
        return self.root.evaluate(values)

    @property
    def metrics(self) -> frozenset[str]:
        """The metric names this condition reads."""
        return _collect_metrics(self.root)

    def __str__(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"Condition({str(self)!r})"

    def bind(self, readers: Mapping[str, Callable[[], float | None]]) -> Callable[[], bool]:
        """This condition as a function of no argument that reads live values through ``readers``.

        ``readers`` maps each metric the condition reads to a function returning
        its current value, or None while it has none (the comparison is then
        False, as in :meth:`__call__`). A curriculum that checks its condition
        after every episode binds it once to its own counters and windows, so a
        check reads only the metrics the condition names and builds no mapping.
        The readers must return numbers: unlike :meth:`__call__`, nothing is
        type-checked per call. KeyError names a metric without a reader.
        """
        missing = sorted(self.metrics - set(readers))
        if missing:
            raise KeyError(f"no reader for the metrics {missing} of condition {str(self)!r}")
        try:
            return _compile_bound(self.root, readers)
        except (SyntaxError, RecursionError, MemoryError):  # nested beyond what Python compiles
            return _bind_node(self.root, readers)


def _compile_bound(root: Node, readers: Mapping[str, Callable[[], float | None]]) -> Callable[[], bool]:
    """``root`` compiled to one Python function of no argument (see :meth:`Condition.bind`).

    A curriculum checks its condition after every episode. Evaluated node by
    node, ``a > 1 & b < 2`` costs five Python calls; compiled to the single
    expression ``(x := read_a()) is not None and x > 1 and ...`` it costs one
    call plus the readers'. Only names made here enter the generated text:
    readers and thresholds are passed in as variables, never printed.
    """
    namespace: dict[str, object] = {}

    def expression(node: Node) -> str:
        if isinstance(node, Comparison):
            index = len(namespace) // 2
            namespace[f"read{index}"] = readers[node.metric]
            namespace[f"threshold{index}"] = node.value
            return f"((value := read{index}()) is not None and value {node.op} threshold{index})"
        if isinstance(node, Not):
            return f"(not {expression(node.operand)})"
        joiner = " and " if isinstance(node, And) else " or "
        return "(" + joiner.join(expression(operand) for operand in node.operands) + ")"

    source = f"def bound_condition():\n    return {expression(root)}\n"
    exec(compile(source, "<bound condition>", "exec"), namespace)  # noqa: S102 - text built from the AST above
    return cast(Callable[[], bool], namespace["bound_condition"])


def _bind_node(node: Node, readers: Mapping[str, Callable[[], float | None]]) -> Callable[[], bool]:
    """The closure that evaluates ``node`` with values from ``readers`` (see :meth:`Condition.bind`)."""
    if isinstance(node, Comparison):
        read = readers[node.metric]
        compare = COMPARISON_OPERATORS[node.op]
        threshold = node.value

        def comparison() -> bool:
            observed = read()
            return observed is not None and compare(observed, threshold)

        return comparison
    if isinstance(node, Not):
        operand = _bind_node(node.operand, readers)
        return lambda: not operand()
    operands = tuple(_bind_node(op, readers) for op in node.operands)
    if isinstance(node, And):
        if len(operands) == 2:
            first, second = operands
            return lambda: first() and second()
        return lambda: all(operand() for operand in operands)
    if len(operands) == 2:
        first, second = operands
        return lambda: first() or second()
    return lambda: any(operand() for operand in operands)


# ----------------------------------------------------------------------- tokens

_TOKEN_PATTERNS = [
    ("SPACE", r"\s+"),
    (
        "NUMBER",
        r"[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9](?:_?[0-9])*)?",
    ),
    ("NAME", _NAME_PATTERN),
    ("OP", r"<=|>=|==|!=|<|>|="),
    ("NOT", r"!"),
    ("AND", r"&"),
    ("OR", r"\|"),
    ("LPAREN", r"\("),
    ("RPAREN", r"\)"),
]
_TOKEN_REGEX = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _TOKEN_PATTERNS))

_TOKEN_DESCRIPTIONS = {
    "NUMBER": "a number",
    "NAME": "a metric name",
    "OP": "a comparison operator (<, <=, >, >=, ==, !=)",
    "NOT": "'!'",
    "AND": "'&'",
    "OR": "'|'",
    "LPAREN": "'('",
    "RPAREN": "')'",
    "END": "the end of the condition",
}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_REGEX.match(text, position)
        if match is None:
            raise ConditionSyntaxError(f"unexpected character {text[position]!r}", text, position)
        kind = match.lastgroup
        assert kind is not None
        if kind != "SPACE":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("END", "", len(text)))
    return tokens


# ----------------------------------------------------------------------- parser


class _Parser:
    """Recursive-descent parser over the token list; one method per grammar rule."""

    def __init__(self, text: str, known_metrics: frozenset[str] | None) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.known_metrics = known_metrics

    def _peek(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _expect(self, kind: str, context: str) -> _Token:
        token = self._peek()
        if token.kind != kind:
            self._fail(f"expected {_TOKEN_DESCRIPTIONS[kind]} {context}", token)
        return self._advance()

    def _fail(self, reason: str, token: _Token) -> None:
        found = "the end of the condition" if token.kind == "END" else _quoted(token.text)
        raise ConditionSyntaxError(f"{reason}, found {found}", self.text, token.position)

    def parse(self) -> Node:
        if self._peek().kind == "END":
            raise ConditionSyntaxError("empty condition", self.text, 0)
        node = self._or_expr()
        token = self._peek()
        if token.kind != "END":
            self._fail("expected '&', '|' or the end of the condition", token)
        return node

    def _or_expr(self) -> Node:
        operands = [self._and_expr()]
        while self._peek().kind == "OR":
            self._advance()
            operands.append(self._and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and_expr(self) -> Node:
        operands = [self._unary()]
        while self._peek().kind == "AND":
            self._advance()
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _unary(self) -> Node:
        token = self._peek()
        if token.kind not in ("NOT", "LPAREN"):
            return self._comparison()
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise ConditionSyntaxError(
                f"condition is nested too deeply (more than {MAX_NESTING_DEPTH} levels of '!' and '(')",
                self.text,
                token.position,
            )
        if token.kind == "NOT":
            self._advance()
            # "!(" is one level, matching how str() prints a negation.
            node: Node = Not(self._group() if self._peek().kind == "LPAREN" else self._unary())
        else:
            node = self._group()
        self.depth -= 1
        return node

    def _group(self) -> Node:
        opening = self._advance()
        node = self._or_expr()
        self._expect("RPAREN", f"to close the '(' opened at position {opening.position}")
        return node

    def _comparison(self) -> Comparison:
        name = self._peek()
        if name.kind != "NAME":
            self._fail("expected a metric name, '!' or '('", name)
        self._advance()
        if self.known_metrics is not None and name.text not in self.known_metrics:
            valid = ", ".join(sorted(self.known_metrics)) or "(none)"
            raise ConditionSyntaxError(
                f"unknown metric {_quoted(name.text)}; valid metrics are: {valid}", self.text, name.position
            )
        op = self._expect("OP", f"after metric {name.text!r}")
        number = self._expect("NUMBER", f"after {op.text!r}")
        value = float(number.text)
        canonical_op = "==" if op.text == "=" else op.text
        return Comparison(name.text, canonical_op, value)


def parse_condition(text: str, metrics: Collection[str] | None = None) -> Condition:
    """Parse condition ``text`` into a :class:`Condition`.

    Args:
        text: the condition, e.g. ``"episodes>=500 & episode_return>0.8"``.
        metrics: when given, the names a condition may use; any other name is
            rejected here, at parse time, with the list of valid ones.

    Raises:
        ConditionSyntaxError: for any malformed text or unknown metric.
        TypeError: when ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"condition must be a string, got {text!r} ({type(text).__name__})")
    if isinstance(metrics, str):
        raise TypeError(f"metrics must be a collection of names, not the string {metrics!r}")
    known = None if metrics is None else frozenset(metrics)
    try:
        return Condition(_Parser(text, known).parse())
    except RecursionError:  # only when called with the stack already nearly full
        raise ConditionSyntaxError("condition is nested too deeply", text, 0) from None
