"""SubsetTaskSpace: a few tasks of a bigger space, hashable or not."""

import numpy as np
import pytest

from syllabus_like import (
    BoxTaskSpace,
    DictTaskSpace,
    DiscreteTaskSpace,
    SubsetTaskSpace,
    TaskSpaceError,
    TupleTaskSpace,
)


def test_subset_of_discrete_space_encodes_by_position():
    parent = DiscreteTaskSpace(["a", "b", "c", "d"])
    subset = SubsetTaskSpace(parent, ["d", "b"])
    assert subset.num_tasks == 2 and subset.tasks == ["d", "b"]
    assert subset.encode("b") == 1 and subset.decode(0) == "d"
    assert "b" in subset and "a" not in subset and "zzz" not in subset


def test_subset_of_unhashable_tasks():
    parent = DictTaskSpace({"g": BoxTaskSpace(0.0, 20.0), "n": DiscreteTaskSpace(3)})
    tasks = [{"g": np.array(9.8), "n": 1}, {"g": np.array(3.7), "n": 2}]
    subset = SubsetTaskSpace(parent, tasks)
    assert subset.encode({"g": 3.7, "n": 2}) == 1
    decoded = subset.decode(0)
    assert decoded["n"] == 1 and float(decoded["g"]) == 9.8
    decoded["n"] = 2  # decoding hands out copies
    assert subset.decode(0)["n"] == 1
    assert {"g": 9.8, "n": 2} not in subset
    rng = np.random.default_rng(0)
    assert all(subset.sample(rng) in subset for _ in range(10))


def test_subset_validation_names_the_problem():
    parent = DiscreteTaskSpace(3)
    with pytest.raises(TaskSpaceError, match=r"task 7 is not in DiscreteTaskSpace\(3\)"):
        SubsetTaskSpace(parent, [0, 7])
    with pytest.raises(ValueError, match="duplicate task 1 at positions 0 and 2"):
        SubsetTaskSpace(parent, [1, 2, 1])
    with pytest.raises(ValueError, match="non-empty sequence"):
        SubsetTaskSpace(parent, [])
    with pytest.raises(TypeError, match="parent must be a TaskSpace"):
        SubsetTaskSpace([0, 1], [0])
    with pytest.raises(TaskSpaceError, match="not in SubsetTaskSpace"):
        SubsetTaskSpace(parent, [0, 1]).encode(2)


class _Level:
    """A hashable task object with mutable state, as a user's DiscreteTaskSpace might hold."""

    def __init__(self, name):
        self.name, self.notes = name, []

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return isinstance(other, _Level) and other.name == self.name


def test_decoded_tasks_are_deep_copies_at_every_level():
    level = _Level("maze")
    numbers = DictTaskSpace({"g": BoxTaskSpace(0.0, 20.0, shape=(2,)), "n": DiscreteTaskSpace(3)})
    parent = TupleTaskSpace([numbers, DiscreteTaskSpace([level])])
    subset = SubsetTaskSpace(parent, [({"g": [9.8, 1.0], "n": 1}, level)])
    first = subset.decode(0)
    first[0]["g"][0] = 0.0
    first[0]["n"] = 2
    first[1].notes.append("changed")
    second = subset.decode(0)
    assert second[0]["g"].tolist() == [9.8, 1.0] and second[0]["n"] == 1
    assert second[1] == level and second[1].notes == [] and second[1] is not first[1]
