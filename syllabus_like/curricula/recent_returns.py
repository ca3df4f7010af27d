"""The mean of the last ``size`` episode returns, in constant time per episode."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from math import isfinite

__all__ = ["RecentReturns"]


class RecentReturns:
    """A sliding window of returns whose mean costs O(1) to read.

    A :class:`~syllabus_like.SequentialCurriculum` reads the mean before
    every ``sample`` and after every episode; ``numpy.mean`` over a full
    window of 1000 costs ~30 us, ten times a CartPole reset. The window keeps
    a running sum instead, and recomputes it exactly (``math.fsum``, over the
    window at once) once per ``size`` appends, so rounding never builds up
    beyond one window's worth.

    Returns are data, never an error. Non-finite returns are kept in the
    window as given and counted apart from the running sum, and the mean
    follows IEEE arithmetic: NaN while a NaN, or both +inf and -inf, are in
    the window; +inf (-inf) while +inf (-inf) is and the other is not.
    Finite returns whose sum overflows a float (returns near 1e308) still
    have a finite mean, computed from the window scaled by a power of two.
    """

    def __init__(self, size: int, values: Iterable[float] = ()) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._size = size
        self.load(values)

    def load(self, values: Iterable[float]) -> None:
        """Replace the window by the last ``size`` of ``values``."""
        self._values.clear()
        self._values.extend(float(value) for value in values)
        self._nan = sum(1 for value in self._values if math.isnan(value))
        self._positive_inf = sum(1 for value in self._values if value == math.inf)
        self._negative_inf = sum(1 for value in self._values if value == -math.inf)
        self._non_finite = self._nan + self._positive_inf + self._negative_inf
        self._resum()

    def clear(self) -> None:
        """Empty the window (same as ``load(())``)."""
        self.load(())

    def _resum(self) -> None:
        """Recompute the running sum of the finite values exactly (the counts of the others are exact)."""
        values: Iterable[float] = self._values
        if self._non_finite:
            values = [value for value in values if isfinite(value)]
        try:
            self._sum = math.fsum(values)
        except OverflowError:
            self._sum = math.inf  # the slow, exact path in mean()
        self._appends_since_resum = 0

    def _count(self, value: float, delta: int) -> None:
        if math.isnan(value):
            self._nan += delta
        elif value > 0:
            self._positive_inf += delta
        else:
            self._negative_inf += delta
        self._non_finite += delta

    def append(self, value: float) -> None:
        values = self._values
        if len(values) == self._size:
            oldest = values[0]
            if isfinite(oldest):
                self._sum -= oldest
            else:
                self._count(oldest, -1)
        values.append(value)
        if isfinite(value):
            self._sum += value
        else:
            self._count(value, +1)
        self._appends_since_resum += 1
        if self._appends_since_resum >= self._size:
            self._resum()

    def mean(self) -> float | None:
        """The mean of the window, or None while it is empty (see the class docstring for non-finite returns)."""
        count = len(self._values)
        if not count:
            return None
        if self._non_finite:
            if self._nan or (self._positive_inf and self._negative_inf):
                return math.nan
            return math.inf if self._positive_inf else -math.inf
        total = self._sum
        if isfinite(total):
            return total / count
        return self._overflowing_mean()

    def _overflowing_mean(self) -> float:
        """The mean of finite returns whose sum overflows: sum them scaled by 2**-k, k with 2**k >= len."""
        count = len(self._values)
        scale = 2.0 ** -math.ceil(math.log2(count))
        return math.fsum(value * scale for value in self._values) / (count * scale)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[float]:
        return iter(self._values)
