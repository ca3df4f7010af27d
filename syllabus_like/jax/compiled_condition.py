"""Stopping conditions compiled to array code.

:func:`compile_condition` turns the AST of :mod:`syllabus_like.conditions`
into a :class:`CompiledCondition`: an equinox Module that maps a metrics
pytree (``dict`` name -> array) to a bool array, under ``jax.jit``, ``vmap``
and ``lax.scan``. The structure of the condition (which metric, which
operator, how they combine) is static; every threshold is an array leaf, so
:meth:`CompiledCondition.with_thresholds` changes them without recompiling.

Semantics are the Python ones, exactly:

* a comparison on a metric absent from the dict, or whose ``present`` mask is
  False, is False (so ``!(x > 1)`` is True until ``x`` is reported);
* Python compares ``float(metric)`` (a float64) with the threshold (a
  float64). A float32 metric ``x`` is compared with the two float32
  neighbours of the threshold ``v`` (``lo = max{f32 <= v}``,
  ``hi = min{f32 >= v}``): ``x <= v  <=>  x <= lo``, ``x >= v  <=>  x >= hi``,
  ``x < v  <=>  x < hi``, ``x > v  <=>  x > lo``, ``x == v  <=>  hi <= x <= lo``.
  These comparisons are done on order-preserving integer keys of the float
  bits, because XLA on CPU flushes subnormal floats to zero; NaN compares
  unequal to everything, as in Python.
  An integer metric (up to 32 bits) is compared with ``floor(v)`` / ``ceil(v)``
  split into 16-bit words, which is exact for every int32 and uint32 value.
  64-bit metrics (only with ``jax_enable_x64``) are compared in float64, as
  Python does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from syllabus_like.conditions import And, Comparison, Condition, Node, Not, Or, parse_condition

__all__ = ["CompiledCondition", "compile_condition"]

# Static description of the AST: ("cmp", index, metric, op) | ("not", child)
# | ("and", children) | ("or", children), with ``index`` into the threshold arrays.
_Structure = tuple

_WORD = 1 << 16
_INT_LOW = -(2**31) - 1  # thresholds are clamped one past the int32 range, so
_INT_HIGH = 2**31  # "always true" / "always false" stay exact


def _float32_neighbours(value: float) -> tuple[np.float32, np.float32]:
    """The largest float32 <= value and the smallest float32 >= value."""
    with np.errstate(over="ignore"):
        nearest = np.float32(value)
    if float(nearest) == value:
        return nearest, nearest
    if float(nearest) < value:
        return nearest, np.nextafter(nearest, np.float32(np.inf))
    return np.nextafter(nearest, np.float32(-np.inf)), nearest


def _order_key(value: np.float32) -> int:
    """An int32 that orders like the float32 ``value`` (``-0.0`` and ``0.0`` share key 0)."""
    bits = int(np.asarray(value, dtype=np.float32).view(np.int32))
    return bits if bits >= 0 else -(2**31) - bits


def _traced_order_key(values: Float[Array, "*s"]) -> Int[Array, "*s"]:
    """:func:`_order_key` in array code."""
    bits = jax.lax.bitcast_convert_type(values.astype(jnp.float32), jnp.int32)
    return jnp.where(bits >= 0, bits, jnp.int32(-(2**31)) - bits)


def _is_nan_bits(values: Float[Array, "*s"]) -> Bool[Array, "*s"]:
    bits = jax.lax.bitcast_convert_type(values.astype(jnp.float32), jnp.int32)
    return jnp.bitwise_and(bits, 0x7FFFFFFF) > 0x7F800000


def _clamped_int(value: float, rounding: Callable[[float], int]) -> int:
    if math.isinf(value):
        return _INT_HIGH if value > 0 else _INT_LOW
    return min(max(rounding(value), _INT_LOW), _INT_HIGH)


def _split_words(value: int) -> tuple[int, int]:
    """``value == high * 2**16 + low`` with ``0 <= low < 2**16`` (exact in int32)."""
    return value >> 16, value & (_WORD - 1)


def _threshold_arrays(values: Sequence[float]) -> tuple[Array, Array, Array]:
    """Exact comparison bounds for concrete (Python / numpy) threshold values."""
    float_bounds = np.zeros((len(values), 2), dtype=np.int32)
    int_bounds = np.zeros((len(values), 4), dtype=np.int32)
    for index, raw in enumerate(values):
        value = float(raw)
        if math.isnan(value):
            raise ValueError(f"threshold {index} is NaN; a comparison threshold must be a number or ±inf")
        float_bounds[index] = [_order_key(bound) for bound in _float32_neighbours(value)]
        floor_high, floor_low = _split_words(_clamped_int(value, math.floor))
        ceil_high, ceil_low = _split_words(_clamped_int(value, math.ceil))
        int_bounds[index] = (floor_high, floor_low, ceil_high, ceil_low)
    with np.errstate(over="ignore"):  # beyond float32 range -> ±inf, as intended
        exact = np.asarray(values, dtype=np.float64).astype(jnp.result_type(float))
    return jnp.asarray(float_bounds), jnp.asarray(int_bounds), jnp.asarray(exact)


def _traced_threshold_arrays(values: Float[Array, " n"]) -> tuple[Array, Array, Array]:
    """Bounds for thresholds that are already (traced) float arrays: exact for their own value."""
    values = jnp.asarray(values)
    as_float32 = values.astype(jnp.float32)
    key = _traced_order_key(as_float32)
    float_bounds = jnp.stack([key, key], axis=-1)
    limit = float(2**31 - 1)

    def words(rounded: Array) -> list[Array]:
        clamped = jnp.clip(rounded, -limit, limit).astype(jnp.int32)
        return [jnp.right_shift(clamped, 16), jnp.bitwise_and(clamped, _WORD - 1)]

    int_bounds = jnp.stack(words(jnp.floor(as_float32)) + words(jnp.ceil(as_float32)), axis=-1)
    return float_bounds, int_bounds.astype(jnp.int32), values.astype(jnp.result_type(float))


def _structure(node: Node, comparisons: list[Comparison]) -> _Structure:
    if isinstance(node, Comparison):
        comparisons.append(node)
        return ("cmp", len(comparisons) - 1, node.metric, node.op)
    if isinstance(node, Not):
        return ("not", _structure(node.operand, comparisons))
    if isinstance(node, And):
        return ("and", tuple(_structure(op, comparisons) for op in node.operands))
    if isinstance(node, Or):
        return ("or", tuple(_structure(op, comparisons) for op in node.operands))
    raise TypeError(f"not a condition node: {node!r}")


def _lexicographic(high: Array, low: Array, bound_high: Array, bound_low: Array, op: str) -> Array:
    """``(high, low) op (bound_high, bound_low)`` for op in ``<=``, ``>=``."""
    if op == "<=":
        return (high < bound_high) | ((high == bound_high) & (low <= bound_low))
    return (high > bound_high) | ((high == bound_high) & (low >= bound_low))


class CompiledCondition(eqx.Module):
    """A :class:`~syllabus_like.conditions.Condition` as a jittable function.

    Call it with a metrics dict (name -> array; arrays broadcast together) and
    optionally a ``present`` dict (name -> bool array) marking where a metric
    has a value; the result is a bool array.

    Attributes:
        structure: the static AST (see module docstring).
        comparisons: ``(metric, op)`` of each comparison, in threshold order.
        float_bounds: ``[n, 2]`` order keys of the float32 neighbours of each threshold.
        int_bounds: ``[n, 4]`` int32 words of ``floor`` and ``ceil`` of each threshold.
        thresholds: ``[n]`` the thresholds in the default float dtype.

    It works inside jitted code (the thresholds are traced leaves, so new
    thresholds reuse the program) and passed to ``jax.jit`` itself:
    ``jax.jit`` keys its cache on the function's hash, and a Module's
    dataclass hash would hash its array fields, which are unhashable; a
    compiled condition hashes by identity instead.
    """

    __hash__ = object.__hash__

    structure: _Structure = eqx.field(static=True)
    comparisons: tuple[tuple[str, str], ...] = eqx.field(static=True)
    float_bounds: Int[Array, "n 2"]
    int_bounds: Int[Array, "n 4"]
    thresholds: Float[Array, " n"]

    @property
    def metrics(self) -> frozenset[str]:
        """The metric names this condition reads."""
        return frozenset(metric for metric, _ in self.comparisons)

    def with_thresholds(self, values: Sequence[float] | ArrayLike) -> CompiledCondition:
        """The same condition with new thresholds (one per comparison, in order); no recompilation.

        Concrete values (Python floats, numpy arrays) get exact float64
        semantics; traced arrays are taken at their own (float32) value.
        """
        if isinstance(values, jax.core.Tracer):
            if values.shape != (len(self.comparisons),):
                raise ValueError(f"expected {len(self.comparisons)} thresholds, got shape {values.shape}")
            float_bounds, int_bounds, exact = _traced_threshold_arrays(values)
        else:
            flat = np.asarray(values, dtype=np.float64).reshape(-1)
            if flat.shape != (len(self.comparisons),):
                raise ValueError(
                    f"expected {len(self.comparisons)} thresholds (one per comparison: "
                    f"{self.comparisons}), got {np.shape(values)}"
                )
            float_bounds, int_bounds, exact = _threshold_arrays(list(flat))
        return CompiledCondition(self.structure, self.comparisons, float_bounds, int_bounds, exact)

    def __call__(
        self,
        metrics: Mapping[str, ArrayLike],
        present: Mapping[str, ArrayLike] | None = None,
    ) -> Bool[Array, ...]:
        if not isinstance(metrics, Mapping):
            raise TypeError(f"metrics must be a mapping of name -> array, got {type(metrics).__name__}")
        return self._evaluate(self.structure, metrics, present or {})

    def _evaluate(self, node: _Structure, metrics: Mapping[str, ArrayLike], present: Mapping[str, ArrayLike]) -> Array:
        kind = node[0]
        if kind == "cmp":
            _, index, metric, op = node
            if metric not in metrics or metrics[metric] is None:
                return jnp.zeros((), dtype=bool)
            result = self._compare(jnp.asarray(metrics[metric]), index, op)
            if metric in present:
                result = result & jnp.asarray(present[metric], dtype=bool)
            return result
        if kind == "not":
            return ~self._evaluate(node[1], metrics, present)
        children = [self._evaluate(child, metrics, present) for child in node[1]]
        combined = children[0]
        for child in children[1:]:
            combined = (combined & child) if kind == "and" else (combined | child)
        return combined

    def could_hold(
        self,
        lower: Mapping[str, ArrayLike],
        upper: Mapping[str, ArrayLike],
        maybe_absent: Mapping[str, ArrayLike] | None = None,
    ) -> Bool[Array, ""]:
        """Whether the condition can hold anywhere in a region of metric values (a scalar bool).

        The region: each metric ``m`` lies in ``[lower[m], upper[m]]``, and is
        also missing at some points where ``maybe_absent[m]`` is True. An empty
        interval (``lower > upper``, or a NaN bound) means ``m`` is never
        present; a metric not in ``lower`` is missing everywhere. Callers use
        this to skip evaluating the condition point by point (e.g. after every
        episode of a batch) when it cannot fire.

        The answer is conservative: False only when the condition is False at
        every point of the region; it may be True when it is not, because it
        treats metrics as varying independently and does not bound ``==`` or
        ``!=``. Ordered comparisons are monotone in the metric, so checking the
        two ends of each interval is exact for a single comparison.
        """
        can_hold, _ = self._could(self.structure, lower, upper, maybe_absent or {})
        return can_hold

    def _could(
        self,
        node: _Structure,
        lower: Mapping[str, ArrayLike],
        upper: Mapping[str, ArrayLike],
        maybe_absent: Mapping[str, ArrayLike],
    ) -> tuple[Array, Array]:
        """``(can be True, can be False)`` of ``node`` over the region described in :meth:`could_hold`."""
        kind = node[0]
        if kind == "cmp":
            _, index, metric, op = node
            if metric not in lower or lower[metric] is None:
                return jnp.asarray(False), jnp.asarray(True)
            if op in ("==", "!="):
                return jnp.asarray(True), jnp.asarray(True)
            low, high = jnp.asarray(lower[metric]), jnp.asarray(upper[metric])
            nonempty = low <= high
            at_low, at_high = self._compare(low, index, op), self._compare(high, index, op)
            can_be_false = ~nonempty | ~at_low | ~at_high
            if metric in maybe_absent:
                can_be_false = can_be_false | jnp.asarray(maybe_absent[metric], dtype=bool)
            return nonempty & (at_low | at_high), can_be_false
        if kind == "not":
            can_be_true, can_be_false = self._could(node[1], lower, upper, maybe_absent)
            return can_be_false, can_be_true
        children = [self._could(child, lower, upper, maybe_absent) for child in node[1]]
        trues = jnp.stack([true for true, _ in children])
        falses = jnp.stack([false for _, false in children])
        if kind == "and":
            return jnp.all(trues), jnp.any(falses)
        return jnp.any(trues), jnp.all(falses)

    def _compare(self, value: Array, index: int, op: str) -> Array:
        if value.dtype == jnp.bool_:
            value = value.astype(jnp.int32)
        if value.dtype.itemsize == 8:
            # Only reachable with jax_enable_x64: compare as float64, as Python does.
            exact = self.thresholds[index].astype(jnp.float64)
            return _PYTHON_OPS[op](value.astype(jnp.float64), exact)
        if jnp.issubdtype(value.dtype, jnp.integer):
            return self._compare_int(value, index, op)
        if not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(f"metric values must be numbers, got dtype {value.dtype}")
        x = _traced_order_key(value)
        number = ~_is_nan_bits(value)
        lo, hi = self.float_bounds[index, 0], self.float_bounds[index, 1]
        if op == "<=":
            return number & (x <= lo)
        if op == ">=":
            return number & (x >= hi)
        if op == "<":
            return number & (x < hi)
        if op == ">":
            return number & (x > lo)
        equal = number & (x >= hi) & (x <= lo)
        return equal if op == "==" else ~equal

    def _compare_int(self, value: Array, index: int, op: str) -> Array:
        high = jnp.right_shift(value, 16).astype(jnp.int32)
        low = jnp.bitwise_and(value, _WORD - 1).astype(jnp.int32)
        floor_high, floor_low, ceil_high, ceil_low = (self.int_bounds[index, i] for i in range(4))
        at_most_floor = _lexicographic(high, low, floor_high, floor_low, "<=")
        at_least_ceil = _lexicographic(high, low, ceil_high, ceil_low, ">=")
        if op == "<=":
            return at_most_floor
        if op == ">=":
            return at_least_ceil
        if op == "<":
            return ~at_least_ceil
        if op == ">":
            return ~at_most_floor
        equal = at_most_floor & at_least_ceil
        return equal if op == "==" else ~equal


_PYTHON_OPS: dict[str, Callable[[Array, Array], Array]] = {
    "<": jnp.less,
    "<=": jnp.less_equal,
    ">": jnp.greater,
    ">=": jnp.greater_equal,
    "==": jnp.equal,
    "!=": jnp.not_equal,
}


def compile_condition(
    condition: Condition | Node | str,
    metrics: Sequence[str] | None = None,
) -> CompiledCondition:
    """Compile a stopping condition to a jittable :class:`CompiledCondition`.

    Args:
        condition: a :class:`Condition`, one of its AST nodes, or condition text
            (parsed with :func:`~syllabus_like.conditions.parse_condition`).
        metrics: when given with text, the metric names the text may use.

    Example::

        done = compile_condition("episodes >= 500 & episode_return > 0.8")
        done({"episodes": jnp.int32(600), "episode_return": jnp.float32(0.9)})  # Array(True)
    """
    if isinstance(condition, str):
        condition = parse_condition(condition, metrics=metrics)
    root = condition.root if isinstance(condition, Condition) else condition
    if not isinstance(root, (Comparison, Not, And, Or)):
        raise TypeError(
            f"compile_condition needs a Condition, an AST node or condition text, got {condition!r} "
            f"({type(condition).__name__})"
        )
    comparisons: list[Comparison] = []
    structure = _structure(root, comparisons)
    float_bounds, int_bounds, exact = _threshold_arrays([c.value for c in comparisons])
    return CompiledCondition(
        structure=structure,
        comparisons=tuple((c.metric, c.op) for c in comparisons),
        float_bounds=float_bounds,
        int_bounds=int_bounds,
        thresholds=exact,
    )
