"""Curriculum base, Constant and DomainRandomization."""

import numpy as np
import pytest

from syllabus_like import (
    BoxTaskSpace,
    Constant,
    Curriculum,
    DictTaskSpace,
    DiscreteTaskSpace,
    DomainRandomization,
    SubsetTaskSpace,
    TaskSpaceError,
)


def test_sample_returns_list_of_k_decoded_tasks():
    space = DiscreteTaskSpace(["a", "b", "c"])
    curriculum = DomainRandomization(space, seed=0)
    for k in (0, 1, 5):
        tasks = curriculum.sample(k)
        assert isinstance(tasks, list) and len(tasks) == k
        assert all(task in {"a", "b", "c"} for task in tasks)
    assert curriculum.sample() in (["a"], ["b"], ["c"])


@pytest.mark.parametrize("k", [-1, 1.5, "2", True, None])
def test_sample_rejects_bad_k(k):
    with pytest.raises(ValueError, match="non-negative int k"):
        DomainRandomization(DiscreteTaskSpace(3)).sample(k)


def test_curriculum_requires_a_task_space():
    with pytest.raises(TypeError, match="needs a TaskSpace"):
        DomainRandomization([1, 2, 3])


def test_base_class_without_sample_says_what_to_implement():
    with pytest.raises(NotImplementedError, match="_sample"):
        Curriculum(DiscreteTaskSpace(2)).sample(1)


def test_domain_randomization_is_uniform_and_seeded():
    space = DiscreteTaskSpace(4)
    counts = np.bincount(DomainRandomization(space, seed=1).sample(8000), minlength=4)
    assert np.all(np.abs(counts / 8000 - 0.25) < 0.03)
    assert DomainRandomization(space, seed=7).sample(20) == DomainRandomization(space, seed=7).sample(20)
    assert DomainRandomization(space, seed=7).sample(20) != DomainRandomization(space, seed=8).sample(20)
    np.testing.assert_allclose(DomainRandomization(space).probabilities(), [0.25] * 4)


def test_domain_randomization_over_infinite_space():
    space = DictTaskSpace({"gravity": BoxTaskSpace(5.0, 15.0), "level": DiscreteTaskSpace(3)})
    curriculum = DomainRandomization(space, seed=3)
    tasks = curriculum.sample(50)
    assert all(task in space for task in tasks)
    assert len({float(t["gravity"]) for t in tasks}) == 50
    assert curriculum.probabilities() is None


def test_curricula_never_touch_global_numpy_rng():
    before = np.random.get_state()[1].copy()
    DomainRandomization(DiscreteTaskSpace(10)).sample(100)
    DomainRandomization(BoxTaskSpace(0, 1, (3,))).sample(10)
    assert np.array_equal(before, np.random.get_state()[1])


def test_constant_always_returns_its_task():
    space = DiscreteTaskSpace(["x", "y", "z"])
    curriculum = Constant(space, "y")
    assert curriculum.sample(3) == ["y", "y", "y"]
    np.testing.assert_array_equal(curriculum.probabilities(), [0, 1, 0])


def test_constant_rejects_task_outside_space_at_construction():
    with pytest.raises(TaskSpaceError, match=r"'w'.*DiscreteTaskSpace"):
        Constant(DiscreteTaskSpace(["x", "y"]), "w")


def test_state_dict_round_trip_continues_identically():
    space = DiscreteTaskSpace(100)
    original = DomainRandomization(space, seed=11)
    original.sample(17)
    state = original.state_dict()
    expected = original.sample(30)
    restored = DomainRandomization(space, seed=999)
    restored.load_state_dict(state)
    assert restored.sample(30) == expected


def test_domain_randomization_draws_follow_the_generator_stream_however_they_are_grouped():
    space = DiscreteTaskSpace(7)
    one_at_a_time = DomainRandomization(space, seed=3)
    singles = [one_at_a_time.sample(1)[0] for _ in range(200)]
    grouped = DomainRandomization(space, seed=3)
    mixed = grouped.sample(5) + grouped.sample(1) + grouped.sample(130) + grouped.sample(0)
    mixed += [grouped.sample(1)[0] for _ in range(64)]
    assert singles == mixed
    assert singles == (np.random.default_rng(3).random(200) * 7).astype(int).tolist()


def test_a_domain_randomization_subclass_that_draws_its_own_way_is_asked_for_single_draws_too():
    class AlwaysLast(DomainRandomization):
        def _sample(self, k):
            return [self.task_space.num_tasks - 1] * k

    curriculum = AlwaysLast(DiscreteTaskSpace(["a", "b", "c"]), seed=0)
    assert [curriculum.sample(1)[0] for _ in range(20)] == ["c"] * 20  # not the base class's uniform draw
    assert curriculum.sample(3) == ["c", "c", "c"]


def test_single_draws_from_a_subset_space_are_copies_of_its_tasks():
    subset = SubsetTaskSpace(DictTaskSpace({"level": DiscreteTaskSpace(3)}), [{"level": 0}, {"level": 2}])
    curriculum = DomainRandomization(subset, seed=0)
    for _ in range(50):
        task = curriculum.sample(1)[0]
        assert task in [{"level": 0}, {"level": 2}]
        task["level"] = 99  # the caller's copy: the space's own tasks stay as they were
    assert subset.tasks == [{"level": 0}, {"level": 2}]


@pytest.mark.parametrize("drawn_before", [1, 63, 64, 65])
def test_state_dict_keeps_the_doubles_drawn_ahead(drawn_before):
    original = DomainRandomization(DiscreteTaskSpace(100), seed=5)
    for _ in range(drawn_before):
        original.sample(1)
    restored = DomainRandomization(DiscreteTaskSpace(100), seed=0)
    restored.load_state_dict(original.state_dict())
    assert [restored.sample(1)[0] for _ in range(80)] == [original.sample(1)[0] for _ in range(80)]


def test_load_state_dict_of_other_type_is_rejected():
    state = Constant(DiscreteTaskSpace(2), 0).state_dict()
    with pytest.raises(ValueError, match="'Constant' cannot be loaded into a DomainRandomization"):
        DomainRandomization(DiscreteTaskSpace(2)).load_state_dict(state)


def test_update_on_step_batch_validates_tuples():
    curriculum = DomainRandomization(DiscreteTaskSpace(2))
    curriculum.update_on_step_batch([(0, None, 1.0, False, False, {}), (1, None, 0.0, True, False, {}, 0.5)])
    with pytest.raises(ValueError, match="length 3"):
        curriculum.update_on_step_batch([(0, None, 1.0)])


class _RecordingWriter:
    def __init__(self):
        self.calls = []

    def add_scalar(self, tag, value, step):
        self.calls.append((tag, value, step))


class _WandbLike:
    def __init__(self):
        self.logged = []

    def log(self, data, step=None):
        self.logged.append((data, step))


def test_log_metrics_to_add_scalar_log_and_callable_writers():
    curriculum = Constant(DiscreteTaskSpace(["easy", "hard"]), "hard")

    writer = _RecordingWriter()
    curriculum.log_metrics(writer, step=5, log_n_tasks=2)
    assert ("curriculum/task_probability/easy", 0.0, 5) in writer.calls
    assert ("curriculum/task_probability/hard", 1.0, 5) in writer.calls

    run = _WandbLike()
    curriculum.log_metrics(run, step=3, log_n_tasks=1)
    assert run.logged == [({"curriculum/task_probability/easy": 0.0}, 3)]

    received = []
    curriculum.log_metrics(lambda scalars, step: received.append((scalars, step)), step=None, log_n_tasks=0)
    assert received == [({}, None)]

    with pytest.raises(TypeError, match="add_scalar"):
        curriculum.log_metrics(object())


def test_log_metrics_to_real_tensorboard_writer(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboardX import SummaryWriter

    from syllabus_like import SequentialCurriculum

    space = DiscreteTaskSpace(3)
    curriculum = SequentialCurriculum([0, 1], ["episodes>=1"], space)
    writer = SummaryWriter(logdir=str(tmp_path))
    curriculum.log_metrics(writer, step=0, log_n_tasks=3)
    curriculum.update_on_episode(1.0, 10, 0)
    curriculum.log_metrics(writer, step=1, log_n_tasks=3)
    writer.close()

    events = EventAccumulator(str(tmp_path))
    events.Reload()
    stage = [(e.step, e.value) for e in events.Scalars("curriculum/stage")]
    assert stage == [(0, 0.0), (1, 1.0)]
    p1 = [(e.step, e.value) for e in events.Scalars("curriculum/task_probability/1")]
    assert p1 == [(0, 0.0), (1, 1.0)]


def test_log_metrics_takes_syllabus_logs_and_returns_the_logged_items():
    from syllabus_like import SequentialCurriculum

    curriculum = SequentialCurriculum([0, 1], ["episodes>=1"], DiscreteTaskSpace(3))
    writer = _RecordingWriter()
    logged = curriculum.log_metrics(writer, [("custom/lr", 0.5)], step=2, log_n_tasks=-1)
    names = [name for name, _ in logged]
    # -1 logs every task (3 of them), after what was gathered already and the curriculum's metrics.
    assert names[0] == "custom/lr" and "curriculum/stage" in names
    assert [n for n in names if n.startswith("curriculum/task_probability/")] == [
        "curriculum/task_probability/0",
        "curriculum/task_probability/1",
        "curriculum/task_probability/2",
    ]
    assert sorted((name, value, 2) for name, value in logged) == sorted(writer.calls)
    assert dict(logged)["curriculum/task_probability/0"] == 1.0
    assert [n for n, _ in curriculum.log_metrics(writer, log_n_tasks=0) if "task_probability" in n] == []
    with pytest.raises(ValueError, match="log_n_tasks must be a non-negative int, or -1 for every task, got -2"):
        curriculum.log_metrics(writer, log_n_tasks=-2)
