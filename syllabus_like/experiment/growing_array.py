"""An append-only numpy array with amortised O(1) appends.

:class:`~syllabus_like.experiment.LearningStats` gains one entry per episode;
re-allocating a numpy array on every append would make a long run quadratic,
and a Python list would make every stop check that slices the last few
entries convert the whole list. This buffer doubles its capacity when full and
hands out views of the filled part.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["GrowingArray"]


class GrowingArray:
    """A 1-D array of ``dtype`` that grows by :meth:`append`; :meth:`view` is the filled part (no copy)."""

    def __init__(self, dtype: type, values: Iterable[float] = ()) -> None:
        initial = np.asarray(list(values), dtype=dtype)
        self._data = np.empty(max(16, 2 * len(initial)), dtype=dtype)
        self._data[: len(initial)] = initial
        self._size = len(initial)

    def append(self, value: float) -> None:
        if self._size == len(self._data):
            grown = np.empty(2 * len(self._data), dtype=self._data.dtype)
            grown[: self._size] = self._data
            self._data = grown
        self._data[self._size] = value
        self._size += 1

    def view(self) -> np.ndarray:
        """The filled entries, as a read-only view (appends never change a view already handed out)."""
        filled = self._data[: self._size]
        filled.flags.writeable = False
        return filled

    def __len__(self) -> int:
        return self._size
