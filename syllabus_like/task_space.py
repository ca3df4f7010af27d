"""Task spaces: the set of tasks a curriculum chooses from.

Every space converts between a *task* (what the user wrote: an int, a string,
a tuple, a dict, an array) and its *encoding* (what curricula compute with):

* a finite space encodes each task as an ``int`` index in ``[0, num_tasks)``;
* :class:`BoxTaskSpace` encodes a task as a float64 array of its shape;
* a :class:`TupleTaskSpace` / :class:`DictTaskSpace` with an infinite member
  encodes a task as the tuple / dict of its members' encodings.

Encoding never guesses: ``encode`` only accepts tasks and ``decode`` only
accepts encodings, so ``DiscreteTaskSpace([2, 0, 1]).encode(0) == 1`` and
``.decode(0) == 2``. Anything outside the space raises :class:`TaskSpaceError`.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeGuard, cast

import numpy as np

__all__ = [
    "BoxTaskSpace",
    "DictTaskSpace",
    "DiscreteTaskSpace",
    "MultiDiscreteTaskSpace",
    "SubsetTaskSpace",
    "TaskSpace",
    "TaskSpaceError",
    "TupleTaskSpace",
    "encoding_key",
]


class TaskSpaceError(ValueError):
    """A task or encoding that does not belong to the space it was given to."""


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_index(value: Any) -> TypeGuard[int | np.integer[Any]]:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


#: What :meth:`TaskSpace._encode_if_member` returns for a task outside the space.
_NOT_IN_SPACE: Any = object()


def _float_scalar(value: Any) -> float | None:
    """``value`` as a Python float when it is a float scalar (Python, numpy, or a 0-d float array), else None."""
    kind = type(value)
    if kind is float:
        return cast(float, value)
    if kind is np.ndarray:
        return float(value) if value.ndim == 0 and value.dtype.kind == "f" else None
    return float(value) if isinstance(value, np.floating) else None


class TaskSpace(ABC):
    """Base class of all task spaces.

    Subclasses implement :meth:`_encode_if_member` (test and encode a task in
    one pass) or :meth:`contains` and :meth:`_encode`, and :meth:`_decode`,
    :meth:`_sample` and :attr:`num_tasks`; the public methods add validation.
    """

    def __init__(self) -> None:
        self._rng = np.random.default_rng()

    # ------------------------------------------------------------------ size
    @property
    @abstractmethod
    def num_tasks(self) -> int | None:
        """Number of tasks, or ``None`` when the space is infinite."""

    @property
    def is_finite(self) -> bool:
        return self.num_tasks is not None

    @property
    def tasks(self) -> list[Any] | None:
        """Every task in encoding order (finite spaces), else ``None``."""
        if self.num_tasks is None:
            return None
        return [self._decode(index) for index in range(self.num_tasks)]

    # -------------------------------------------------------------- encoding
    def contains(self, task: Any) -> bool:
        """Whether ``task`` (a decoded task) belongs to this space."""
        return self._encode_if_member(task) is not _NOT_IN_SPACE

    def __contains__(self, task: Any) -> bool:
        return self.contains(task)

    def encode(self, task: Any) -> Any:
        """The encoding of ``task``; raises :class:`TaskSpaceError` if it is not in the space."""
        encoded = self._encode_if_member(task)
        if encoded is _NOT_IN_SPACE:
            raise TaskSpaceError(f"task {_short(task)} is not in {self!r}")
        return encoded

    def decode(self, encoded: Any) -> Any:
        """The task whose encoding is ``encoded``; raises :class:`TaskSpaceError` otherwise."""
        num_tasks = self.num_tasks
        if num_tasks is None:
            return self._decode(encoded)
        index = int(encoded) if type(encoded) is not int and _is_index(encoded) else encoded
        if type(index) is not int or not 0 <= index < num_tasks:
            raise TaskSpaceError(f"encoding {_short(encoded)} is not an index in [0, {num_tasks}) of {self!r}")
        return self._decode(index)

    def _encode_if_member(self, task: Any) -> Any:
        """The encoding of ``task``, or ``_NOT_IN_SPACE`` when it is not in the space.

        Wrappers validate every task they apply, so this runs once per
        episode. The built-in spaces test and encode in one pass; for spaces
        made of other spaces that checks each part once instead of once per
        level of nesting.
        """
        if type(self).contains is TaskSpace.contains:  # it would ask this method back
            raise NotImplementedError(
                f"{type(self).__name__} must implement _encode_if_member, or contains and _encode"
            )
        return self._encode(task) if self.contains(task) else _NOT_IN_SPACE

    def _encode(self, task: Any) -> Any:
        """The encoding of ``task``, which :meth:`contains` accepted."""
        raise NotImplementedError(f"{type(self).__name__} must implement _encode or _encode_if_member")

    @abstractmethod
    def _decode(self, encoded: Any) -> Any: ...

    def _index_decoder(self) -> Callable[[int], Any]:
        """What decodes an index known to be in ``[0, num_tasks)`` (a curriculum's own draw):
        :meth:`_decode` without the range check, unless a subclass decodes its own way."""
        return self._decode if type(self).decode is TaskSpace.decode else self.decode

    # -------------------------------------------------------------- sampling
    def seed(self, seed: int | None = None) -> None:
        """Reseed the space's own generator (used by :meth:`sample` without ``rng``)."""
        self._rng = np.random.default_rng(seed)

    def sample(self, rng: np.random.Generator | None = None) -> Any:
        """A uniformly random task, drawn from ``rng`` or the space's own generator."""
        generator = self._rng if rng is None else rng
        if not isinstance(generator, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return self._sample(generator)

    def _sample(self, rng: np.random.Generator) -> Any:
        num_tasks = self.num_tasks
        assert num_tasks is not None, f"{type(self).__name__} is infinite and must implement _sample(rng)"
        return self._decode(int(rng.integers(num_tasks)))

    # ------------------------------------------------------------ conversion
    @staticmethod
    def from_gymnasium(space: Any) -> TaskSpace:
        """Build the task space matching a ``gymnasium.spaces`` space."""
        from gymnasium import spaces

        if isinstance(space, spaces.Discrete):
            start = int(space.start)
            return DiscreteTaskSpace(list(range(start, start + int(space.n))))
        if isinstance(space, spaces.MultiDiscrete):
            starts = np.broadcast_to(space.start, space.nvec.shape).ravel()
            return MultiDiscreteTaskSpace(
                [list(range(int(s), int(s) + int(n))) for s, n in zip(starts, space.nvec.ravel(), strict=False)]
            )
        if isinstance(space, spaces.Box):
            return BoxTaskSpace(space.low, space.high, space.shape)
        if isinstance(space, spaces.Tuple):
            return TupleTaskSpace([TaskSpace.from_gymnasium(s) for s in space.spaces])
        if isinstance(space, spaces.Dict):
            return DictTaskSpace({k: TaskSpace.from_gymnasium(s) for k, s in space.spaces.items()})
        raise TypeError(
            f"cannot build a task space from {space!r}; expected Discrete, MultiDiscrete, Box, Tuple or Dict"
        )


class DiscreteTaskSpace(TaskSpace):
    """A finite list of hashable tasks, or ``range(n)`` when given an int ``n``.

    The encoding of a task is its position in the list.
    """

    def __init__(self, n_or_tasks: int | Sequence[Hashable]) -> None:
        super().__init__()
        if _is_index(n_or_tasks):
            if int(n_or_tasks) <= 0:
                raise ValueError(f"DiscreteTaskSpace needs at least one task, got n={n_or_tasks}")
            task_list: list[Any] = list(range(int(n_or_tasks)))
        elif isinstance(n_or_tasks, (str, bytes)) or not isinstance(n_or_tasks, Sequence | np.ndarray | range):
            raise TypeError(
                f"DiscreteTaskSpace expects an int or a sequence of hashable tasks, got {_short(n_or_tasks)}"
            )
        else:
            task_list = [t.item() if isinstance(t, np.generic) else t for t in n_or_tasks]
            if not task_list:
                raise ValueError("DiscreteTaskSpace needs at least one task, got an empty sequence")
        self._index: dict[Hashable, int] = {}
        for position, task in enumerate(task_list):
            try:
                hash(task)
            except TypeError:  # also catches hashable containers of unhashable items, e.g. (1, [2])
                raise TypeError(f"tasks must be hashable, got {_short(task)} at position {position}") from None
            if task in self._index:
                raise ValueError(
                    f"duplicate task {task!r} at positions {self._index[task]} and {position}: "
                    "encodings would be ambiguous"
                )
            self._index[task] = position
        self._tasks = task_list

    @property
    def num_tasks(self) -> int:
        return len(self._tasks)

    @property
    def tasks(self) -> list[Any]:
        return list(self._tasks)

    def _encode_if_member(self, task: Any) -> Any:
        try:
            return self._index.get(task, _NOT_IN_SPACE)
        except TypeError:  # unhashable
            return _NOT_IN_SPACE

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that encodes its own way (_encode_if_member) is asked by encode, as in every space.
        if "_encode_if_member" in vars(cls) and "encode" not in vars(cls):
            cls.encode = TaskSpace.encode  # type: ignore[method-assign]

    def encode(self, task: Any) -> Any:
        # One dictionary lookup: wrappers validate every task they apply, once per episode.
        try:
            return self._index[task]
        except (KeyError, TypeError):  # not a task of this space, or unhashable
            raise TaskSpaceError(f"task {_short(task)} is not in {self!r}") from None

    def _decode(self, encoded: int) -> Any:
        return self._tasks[encoded]

    def __repr__(self) -> str:
        if all(type(task) is int and task == position for position, task in enumerate(self._tasks)):
            return f"DiscreteTaskSpace({len(self._tasks)})"
        return f"DiscreteTaskSpace({_short(self._tasks)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DiscreteTaskSpace) and self._tasks == other._tasks

    __hash__ = None  # type: ignore[assignment]


class BoxTaskSpace(TaskSpace):
    """Continuous tasks: float arrays with ``low <= task <= high`` element-wise.

    ``low`` and ``high`` are scalars or arrays; ``shape`` defaults to their
    broadcast shape. Bounds must be finite so that tasks can be sampled.
    """

    def __init__(self, low: Any, high: Any, shape: Sequence[int] | None = None) -> None:
        super().__init__()
        try:
            low_array = np.asarray(low, dtype=np.float64)
            high_array = np.asarray(high, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"BoxTaskSpace bounds must be numbers or arrays of numbers, got low={_short(low)}, high={_short(high)}"
            ) from None
        if shape is None:
            try:
                shape = np.broadcast_shapes(low_array.shape, high_array.shape)
            except ValueError:
                raise ValueError(
                    f"BoxTaskSpace low {low_array.shape} and high {high_array.shape} do not broadcast to a common shape"
                ) from None
        if (
            isinstance(shape, (str, bytes))
            or not isinstance(shape, Sequence)
            or not all(_is_index(d) and int(d) >= 0 for d in shape)
        ):
            raise TypeError(f"BoxTaskSpace shape must be a tuple of non-negative ints, got {shape!r}")
        self.shape = tuple(int(d) for d in shape)
        try:
            self.low = np.broadcast_to(low_array, self.shape).copy()
            self.high = np.broadcast_to(high_array, self.shape).copy()
        except ValueError:
            raise ValueError(
                f"BoxTaskSpace low {low_array.shape} and high {high_array.shape} do not broadcast to shape {self.shape}"
            ) from None
        if not (np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high))):
            raise ValueError(f"BoxTaskSpace bounds must be finite, got low={low!r}, high={high!r}")
        if np.any(self.low > self.high):
            raise ValueError(f"BoxTaskSpace needs low <= high, got low={low!r}, high={high!r}")
        # A scalar space checks plain float tasks without numpy (the usual parameterised-env task).
        self._scalar_bounds = (float(self.low), float(self.high)) if self.shape == () else None

    @property
    def num_tasks(self) -> None:
        return None

    def _as_array(self, task: Any) -> np.ndarray | None:
        try:
            array = np.asarray(task, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if array.shape != self.shape:
            if array.size == math.prod(self.shape) and array.ndim <= 1 and len(self.shape) <= 1:
                array = array.reshape(self.shape)
            else:
                return None
        return array

    def _encode_if_member(self, task: Any) -> Any:
        if self._scalar_bounds is not None:
            value = _float_scalar(task)
            if value is not None:
                low, high = self._scalar_bounds
                return np.array(value) if low <= value <= high else _NOT_IN_SPACE  # NaN fails both
        if isinstance(task, (str, bytes, dict)):
            return _NOT_IN_SPACE
        array = self._as_array(task)
        if array is None or not ((array >= self.low) & (array <= self.high)).all():
            return _NOT_IN_SPACE
        return array.copy()  # np.asarray may have returned the caller's own array

    def _decode(self, encoded: Any) -> np.ndarray:
        array = self._encode_if_member(encoded)
        if array is _NOT_IN_SPACE:
            raise TaskSpaceError(f"encoding {_short(encoded)} is not in {self!r}")
        return cast(np.ndarray, array)

    def _sample(self, rng: np.random.Generator) -> np.ndarray:
        half_span = self.high / 2 - self.low / 2  # never overflows, unlike high - low
        if np.all(half_span < np.finfo(np.float64).max / 2):
            task = rng.uniform(self.low, self.high, size=self.shape)
        else:
            # high - low overflows (bounds near +-1.8e308): step from low in two halves.
            fraction = rng.random(size=self.shape)
            task = self.low + half_span * fraction + half_span * fraction
        # Rounding can land one ulp outside [low, high]; the task must stay in the space.
        return np.asarray(np.clip(task, self.low, self.high), dtype=np.float64)

    def __repr__(self) -> str:
        low = self.low.flat[0] if np.all(self.low == self.low.flat[0]) else self.low.tolist()
        high = self.high.flat[0] if np.all(self.high == self.high.flat[0]) else self.high.tolist()
        return f"BoxTaskSpace(low={low}, high={high}, shape={self.shape})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BoxTaskSpace)
            and self.shape == other.shape
            and np.array_equal(self.low, other.low)
            and np.array_equal(self.high, other.high)
        )

    __hash__ = None  # type: ignore[assignment]


class _ProductTaskSpace(TaskSpace):
    """Shared logic of Tuple and Dict spaces: a product of member spaces.

    When every member is finite, a task encodes to one int (row-major
    mixed-radix index over the members' indices); otherwise to the
    structure of the members' encodings.
    """

    def __init__(self, members: Sequence[TaskSpace]) -> None:
        super().__init__()
        if not members:
            raise ValueError(f"{type(self).__name__} needs at least one member space")
        for member in members:
            if not isinstance(member, TaskSpace):
                raise TypeError(f"members must be TaskSpace instances, got {_short(member)}")
        self._members = list(members)
        sizes = [m.num_tasks for m in self._members]
        finite_sizes = [s for s in sizes if s is not None]
        self._sizes: list[int] | None = finite_sizes if len(finite_sizes) == len(sizes) else None

    @property
    def num_tasks(self) -> int | None:
        return None if self._sizes is None else math.prod(self._sizes)

    def _member_values(self, task: Any) -> list[Any] | None:
        """The task's per-member values, or None when its structure is wrong."""
        raise NotImplementedError

    def _assemble(self, values: list[Any]) -> Any:
        raise NotImplementedError

    def _encode_if_member(self, task: Any) -> Any:
        values = self._member_values(task)
        if values is None:
            return _NOT_IN_SPACE
        codes = []
        for member, value in zip(self._members, values, strict=False):
            code = member._encode_if_member(value)
            if code is _NOT_IN_SPACE:
                return _NOT_IN_SPACE
            codes.append(code)
        if self._sizes is None:
            return self._assemble(codes)
        # Row-major mixed radix in Python ints: exact however many tasks there are
        # (numpy's ravel_multi_index overflows past 2**63).
        index = 0
        for code, size in zip(codes, self._sizes, strict=False):
            index = index * size + code
        return index

    def _decode(self, encoded: Any) -> Any:
        if self._sizes is not None:
            codes: list[Any] = []
            remainder = int(encoded)
            for size in reversed(self._sizes):
                remainder, code = divmod(remainder, size)
                codes.append(code)
            codes.reverse()
        else:
            values = self._member_values(encoded)
            if values is None:
                raise TaskSpaceError(f"encoding {_short(encoded)} does not have the structure of {self!r}")
            codes = values
        return self._assemble([m.decode(c) for m, c in zip(self._members, codes, strict=False)])

    def _sample(self, rng: np.random.Generator) -> Any:
        return self._assemble([m.sample(rng) for m in self._members])

    def seed(self, seed: int | None = None) -> None:
        super().seed(seed)
        for member, child in zip(self._members, np.random.SeedSequence(seed).spawn(len(self._members)), strict=False):
            member.seed(int(child.generate_state(1)[0]))


class TupleTaskSpace(_ProductTaskSpace):
    """Tasks are tuples whose i-th item is a task of ``spaces[i]``."""

    def __init__(self, spaces: Sequence[TaskSpace]) -> None:
        if isinstance(spaces, TaskSpace) or not isinstance(spaces, Sequence):
            raise TypeError(f"TupleTaskSpace expects a sequence of TaskSpace, got {_short(spaces)}")
        super().__init__(list(spaces))
        self.spaces = tuple(self._members)

    def _member_values(self, task: Any) -> list[Any] | None:
        if not isinstance(task, (tuple, list)) or len(task) != len(self._members):
            return None
        return list(task)

    def _assemble(self, values: list[Any]) -> tuple[Any, ...]:
        return tuple(values)

    def __repr__(self) -> str:
        return f"TupleTaskSpace({list(self.spaces)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TupleTaskSpace) and list(self.spaces) == list(other.spaces)

    __hash__ = None  # type: ignore[assignment]


class DictTaskSpace(_ProductTaskSpace):
    """Tasks are dicts with exactly the keys of ``mapping``, each value a task of its space."""

    def __init__(self, mapping: Mapping[str, TaskSpace]) -> None:
        if not isinstance(mapping, Mapping):
            raise TypeError(f"DictTaskSpace expects a mapping of name -> TaskSpace, got {_short(mapping)}")
        self.keys = tuple(mapping)
        super().__init__([mapping[k] for k in self.keys])
        self.spaces = dict(zip(self.keys, self._members, strict=False))

    def _member_values(self, task: Any) -> list[Any] | None:
        if not isinstance(task, Mapping) or set(task) != set(self.keys):
            return None
        return [task[k] for k in self.keys]

    def _assemble(self, values: list[Any]) -> dict[str, Any]:
        return dict(zip(self.keys, values, strict=False))

    def __repr__(self) -> str:
        return f"DictTaskSpace({self.spaces!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DictTaskSpace) and self.spaces == other.spaces

    __hash__ = None  # type: ignore[assignment]


class MultiDiscreteTaskSpace(TupleTaskSpace):
    """Tuples with one value per dimension, chosen from that dimension's list.

    ``values_per_dimension`` holds, per dimension, a sequence of values or an
    int ``n`` meaning ``range(n)``. ``MultiDiscreteTaskSpace([3, ["a", "b"]])``
    has the six tasks ``(0, "a"), (0, "b"), ..., (2, "b")``.
    """

    def __init__(self, values_per_dimension: Sequence[int | Sequence[Hashable]]) -> None:
        if isinstance(values_per_dimension, np.ndarray) and values_per_dimension.ndim == 1:
            values_per_dimension = values_per_dimension.tolist()  # e.g. a gymnasium nvec
        if isinstance(values_per_dimension, (str, bytes)) or not isinstance(values_per_dimension, Sequence):
            raise TypeError(
                "MultiDiscreteTaskSpace expects a list of value lists (or ints) per dimension, "
                f"got {_short(values_per_dimension)}"
            )
        super().__init__([DiscreteTaskSpace(values) for values in values_per_dimension])
        self.values_per_dimension = [space.tasks for space in self.spaces]

    def __repr__(self) -> str:
        return f"MultiDiscreteTaskSpace({_short(self.values_per_dimension)})"


def encoding_key(encoded: Any) -> Hashable:
    """A hashable stand-in for an encoding (ints, float arrays, tuples/dicts of them).

    Equal encodings give equal keys, so a dict keyed by them finds a task
    whatever array object encodes it (used by :class:`SubsetTaskSpace` and
    :class:`~syllabus_like.wrappers.ReinitTaskWrapper`'s env cache).
    """
    if isinstance(encoded, np.ndarray):
        return (encoded.shape, encoded.tobytes())
    if isinstance(encoded, tuple):
        return tuple(encoding_key(e) for e in encoded)
    if isinstance(encoded, dict):
        return tuple((k, encoding_key(v)) for k, v in encoded.items())
    return cast(Hashable, encoded)


_IMMUTABLE_TYPES = frozenset({int, float, complex, bool, str, bytes, type(None)})


def _copy_task(task: Any) -> Any:
    """A deep copy of ``task``, so callers may change what they get.

    Runs once per episode: tasks made of dicts, tuples, numeric arrays and
    plain values are copied directly, anything else by ``copy.deepcopy``.
    """
    kind = type(task)
    if kind in _IMMUTABLE_TYPES:
        return task
    if kind is dict:
        return {key: _copy_task(value) for key, value in task.items()}
    if kind is tuple:
        return tuple(_copy_task(item) for item in task)
    if kind is np.ndarray and task.dtype != object:
        return task.copy()
    return copy.deepcopy(task)


class SubsetTaskSpace(TaskSpace):
    """A finite list of tasks taken from ``parent`` (tasks need not be hashable).

    Used for "these few tasks of the big space", e.g. one stage of a
    sequential curriculum. The encoding of a task is its position in ``tasks``.
    """

    def __init__(self, parent: TaskSpace, tasks: Sequence[Any]) -> None:
        super().__init__()
        if not isinstance(parent, TaskSpace):
            raise TypeError(f"parent must be a TaskSpace, got {_short(parent)}")
        if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Sequence) or len(tasks) == 0:
            raise ValueError(f"SubsetTaskSpace needs a non-empty sequence of tasks of {parent!r}, got {_short(tasks)}")
        self.parent = parent
        self._tasks = []
        self._index: dict[Hashable, int] = {}
        for position, task in enumerate(tasks):
            encoded = parent.encode(task)  # TaskSpaceError names the task and the parent
            key = encoding_key(encoded)
            if key in self._index:
                raise ValueError(f"duplicate task {_short(task)} at positions {self._index[key]} and {position}")
            self._index[key] = position
            self._tasks.append(parent.decode(encoded))

    @property
    def num_tasks(self) -> int:
        return len(self._tasks)

    def _encode_if_member(self, task: Any) -> Any:
        encoded = self.parent._encode_if_member(task)
        if encoded is _NOT_IN_SPACE:
            return _NOT_IN_SPACE
        return self._index.get(encoding_key(encoded), _NOT_IN_SPACE)

    def _decode(self, encoded: int) -> Any:
        return _copy_task(self._tasks[encoded])

    def __repr__(self) -> str:
        return f"SubsetTaskSpace({self.parent!r}, {_short(self._tasks)})"
