"""SequentialCurriculum: stages, conditions, metrics, validation, state."""

import copy
import pickle

import numpy as np
import pytest

from syllabus_like import (
    BoxTaskSpace,
    Constant,
    DiscreteTaskSpace,
    DomainRandomization,
    MultiDiscreteTaskSpace,
    SequentialCurriculum,
    parse_condition,
)

LEVELS = DiscreteTaskSpace(["easy", "medium", "hard"])


def run_episodes(curriculum, n, episode_return=1.0, length=10):
    for _ in range(n):
        (task,) = curriculum.sample(1)
        curriculum.update_on_episode(episode_return, length, task)


def test_stage_items_become_the_right_curricula():
    curriculum = SequentialCurriculum(
        ["easy", ["easy", "medium"], LEVELS, Constant(LEVELS, "hard")],
        ["episodes>=1"] * 3,
        LEVELS,
    )
    kinds = [type(c).__name__ for c in curriculum.curricula]
    assert kinds == ["Constant", "DomainRandomization", "DomainRandomization", "Constant"]
    assert curriculum.curricula[1].task_space.tasks == ["easy", "medium"]


def test_advances_when_condition_holds_and_only_then():
    curriculum = SequentialCurriculum(["easy", "medium", "hard"], ["episodes>=3", "episodes>=2"], LEVELS)
    run_episodes(curriculum, 2)
    assert curriculum.stage == 0
    run_episodes(curriculum, 1)
    assert curriculum.stage == 1
    assert curriculum.sample(4) == ["medium"] * 4
    run_episodes(curriculum, 2)
    assert curriculum.stage == 2
    run_episodes(curriculum, 50)
    assert curriculum.stage == 2  # the last stage has no condition


def test_probabilities_outside_active_stage_are_zero():
    curriculum = SequentialCurriculum([["easy", "medium"], "hard"], ["episodes>=1"], LEVELS)
    np.testing.assert_allclose(curriculum.probabilities(), [0.5, 0.5, 0.0])
    run_episodes(curriculum, 1)
    np.testing.assert_allclose(curriculum.probabilities(), [0.0, 0.0, 1.0])


def test_episode_return_is_mean_of_stage_buffer():
    curriculum = SequentialCurriculum(
        ["easy", "hard"], ["episode_return > 0.5 & episodes >= 4"], LEVELS, return_buffer_size=3
    )
    for value in (1.0, 1.0, 1.0):
        curriculum.update_on_episode(value, 5, "easy")
    assert curriculum.stage == 0  # return is high but only 3 episodes
    curriculum.update_on_episode(0.0, 5, "easy")  # buffer now [1, 1, 0]: mean 0.667
    assert curriculum.stage == 1
    assert "episode_return" not in curriculum.stage_metrics()  # fresh stage, no value yet


def test_low_returns_keep_the_stage():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episode_return>0.8"], LEVELS, return_buffer_size=4)
    run_episodes(curriculum, 20, episode_return=0.5)
    assert curriculum.stage == 0


def test_metrics_are_counted_as_documented():
    curriculum = SequentialCurriculum(["easy", ["medium", "hard"]], ["episodes>=2"], LEVELS)
    curriculum.sample(3)
    curriculum.update_on_episode(1.0, 7, "easy")
    curriculum.update_on_episode(0.0, 5, "hard")  # not a task of stage 0: counted in totals only
    values = curriculum.stage_metrics()
    assert values == {
        "steps": 7.0,
        "total_steps": 12.0,
        "episodes": 1.0,
        "total_episodes": 2.0,
        "tasks": 3.0,
        "total_tasks": 3.0,
        "episode_return": 1.0,
        "success_rate": 0.0,
        "episode_return_ema": 1.0,
        "success_rate_ema": 0.0,
    }
    curriculum.update_on_episode(3.0, 4, "easy")
    assert curriculum.stage == 1
    curriculum.sample(2)
    values = curriculum.stage_metrics()
    assert values["tasks"] == 2.0 and values["total_tasks"] == 5.0
    assert values["episodes"] == 0.0 and values["total_episodes"] == 3.0
    assert values["total_steps"] == 16.0 and values["steps"] == 0.0


def test_tasks_and_steps_conditions():
    curriculum = SequentialCurriculum(["easy", "medium", "hard"], ["tasks>=5", "steps>=100"], LEVELS)
    curriculum.sample(4)
    assert curriculum.sample(1) == ["easy"]  # checked before sampling: 4 < 5
    assert curriculum.sample(1) == ["medium"]  # now tasks == 5: switch before sampling
    curriculum.update_on_episode(0.0, 60, "medium")
    assert curriculum.stage == 1
    curriculum.update_on_episode(0.0, 40, "medium")
    assert curriculum.stage == 2


def test_or_and_not_conditions():
    curriculum = SequentialCurriculum(
        ["easy", "hard"], ["(episodes >= 100 | episode_return >= 5) & !(total_steps < 20)"], LEVELS
    )
    curriculum.update_on_episode(10.0, 10, "easy")
    assert curriculum.stage == 0  # total_steps 10 < 20
    curriculum.update_on_episode(10.0, 10, "easy")
    assert curriculum.stage == 1


def test_loop_returns_to_first_stage():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=1", "episodes>=2"], LEVELS, loop=True)
    stages = []
    for _ in range(6):
        run_episodes(curriculum, 1)
        stages.append(curriculum.stage)
    assert stages == [1, 1, 0, 1, 1, 0]


def test_callable_and_condition_objects():
    curriculum = SequentialCurriculum(
        ["easy", "medium", "hard"],
        [lambda m: m["episodes"] >= 2, parse_condition("total_episodes >= 3")],
        LEVELS,
    )
    run_episodes(curriculum, 2)
    assert curriculum.stage == 1
    run_episodes(curriculum, 1)
    assert curriculum.stage == 2


def test_check_stopping_conditions_forces_a_check():
    flag = {"go": False}
    curriculum = SequentialCurriculum(["easy", "hard"], [lambda m: flag["go"]], LEVELS)
    assert curriculum.check_stopping_conditions() is False
    flag["go"] = True
    assert curriculum.check_stopping_conditions() is True
    assert curriculum.stage == 1
    assert curriculum.check_stopping_conditions() is False  # last stage


def test_updates_reach_the_active_subcurriculum_with_its_tasks():
    seen = []

    class Recorder(DomainRandomization):
        def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None):
            seen.append((task, episode_return, env_id))

    sub = Recorder(DiscreteTaskSpace(["medium", "hard"]))
    curriculum = SequentialCurriculum(["easy", sub], ["episodes>=1"], LEVELS)
    curriculum.update_on_episode(1.0, 3, "easy")
    curriculum.update_on_episode(0.5, 3, "hard", env_id=4)
    curriculum.update_on_episode(0.5, 3, "easy")  # stale task from stage 0: not forwarded
    assert seen == [("hard", 0.5, 4)]


def test_requires_step_updates_follows_active_stage():
    class Stepper(Constant):
        requires_step_updates = True

    curriculum = SequentialCurriculum([Stepper(LEVELS, "easy"), "hard"], ["episodes>=1"], LEVELS)
    assert curriculum.requires_step_updates
    run_episodes(curriculum, 1)
    assert not curriculum.requires_step_updates


# ------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "stages, conditions, loop, message",
    [
        (["easy", "hard"], [], False, "2 stages need 1 stopping conditions, got 0"),
        (["easy", "hard"], ["episodes>=1"], True, r"need 2 stopping conditions \(loop=True"),
        (["easy", "hard"], ["episodez>=1"], False, "unknown metric 'episodez'; valid metrics are: episode_return"),
        (["easy", "hard"], ["episodes>="], False, "stopping condition 0 is invalid: expected a number"),
        (
            ["easy", "impossible"],
            ["episodes>=1"],
            False,
            "stage 1 of SequentialCurriculum is invalid: task 'impossible'",
        ),
        ([["easy", "nope"], "hard"], ["episodes>=1"], False, "stage 0 .* task 'nope'"),
        ([DiscreteTaskSpace(["easy", "x"]), "hard"], ["episodes>=1"], False, "is not inside"),
        ([Constant(DiscreteTaskSpace(["y"]), "y"), "hard"], ["episodes>=1"], False, "is not inside"),
        ([], [], False, "at least one stage"),
        (["easy", "hard"], [parse_condition("foo > 1")], False, r"unknown metrics \['foo'\]"),
    ],
)
def test_bad_construction_raises_value_error_at_once(stages, conditions, loop, message):
    with pytest.raises(ValueError, match=message):
        SequentialCurriculum(stages, conditions, LEVELS, loop=loop)


def test_bad_condition_type_and_buffer_size():
    with pytest.raises(TypeError, match="condition string, a Condition or a callable"):
        SequentialCurriculum(["easy", "hard"], [3], LEVELS)
    with pytest.raises(ValueError, match="return_buffer_size must be a positive int"):
        SequentialCurriculum(["easy", "hard"], ["episodes>=1"], LEVELS, return_buffer_size=0)
    with pytest.raises(TypeError, match="stopping_conditions must be a list"):
        SequentialCurriculum(["easy", "hard"], "episodes>=1", LEVELS)
    with pytest.raises(TypeError, match="curriculum_list must be a list of stages, got 'easy'"):
        SequentialCurriculum("easy", [], LEVELS)


def test_update_with_task_outside_space_is_rejected():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=1"], LEVELS)
    with pytest.raises(ValueError, match="'extreme' is not in"):
        curriculum.update_on_episode(1.0, 1, "extreme")


def test_unhashable_tasks_in_stage_lists():
    space = MultiDiscreteTaskSpace([[1, 2], [3, 4]])
    curriculum = SequentialCurriculum([[(1, 3), (2, 4)], (2, 3)], ["episodes>=1"], space, seed=0)
    assert set(curriculum.sample(20)) <= {(1, 3), (2, 4)}
    np.testing.assert_allclose(curriculum.probabilities(), [0.5, 0, 0, 0.5])

    box = BoxTaskSpace(0.0, 1.0, (2,))
    curriculum = SequentialCurriculum([[np.array([0.1, 0.2]), np.array([0.3, 0.4])], box], ["episodes>=1"], box)
    sampled = curriculum.sample(10)
    assert all(any(np.array_equal(s, t) for t in ([0.1, 0.2], [0.3, 0.4])) for s in sampled)
    curriculum.update_on_episode(1.0, 1, np.array([0.3, 0.4]))
    assert curriculum.stage == 1
    assert curriculum.probabilities() is None


def test_state_dict_round_trip_mid_stage():
    def make():
        return SequentialCurriculum(
            [["easy", "medium"], LEVELS, "hard"], ["episodes>=5", "episode_return>0.9"], LEVELS, seed=3
        )

    original = make()
    run_episodes(original, 7, episode_return=0.2)
    state = original.state_dict()

    restored = make()
    restored.load_state_dict(state)
    assert restored.stage == original.stage == 1
    assert restored.stage_metrics() == original.stage_metrics()
    for _ in range(30):
        assert restored.sample(3) == original.sample(3)
        restored.update_on_episode(1.0, 2, "medium")
        original.update_on_episode(1.0, 2, "medium")
        assert restored.stage == original.stage


def test_same_seed_same_tasks():
    def tasks(seed):
        curriculum = SequentialCurriculum([LEVELS, LEVELS], ["episodes>=3"], LEVELS, seed=seed)
        out = []
        for _ in range(10):
            out += curriculum.sample(2)
            curriculum.update_on_episode(0.0, 1, out[-1])
        return out

    assert tasks(5) == tasks(5)
    assert tasks(5) != tasks(6)


def test_metrics_include_stage():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=1"], LEVELS)
    run_episodes(curriculum, 1)
    assert curriculum.metrics()["stage"] == 1.0


def test_sample_rejects_bad_k_without_counting_it():
    curriculum = SequentialCurriculum(["easy", "hard"], ["tasks>=1"], LEVELS)
    with pytest.raises(ValueError, match="non-negative int k, got -1"):
        curriculum.sample(-1)
    assert curriculum.stage_metrics()["tasks"] == 0.0
    curriculum.sample(1)  # now the condition holds, but a bad k must not end the stage either
    for bad in (-1, 1.0, True, np.array([1, 1])):
        with pytest.raises(ValueError, match="sample\\(k\\) needs a non-negative int k"):
            curriculum.sample(bad)
    assert curriculum.stage == 0 and curriculum.stage_metrics()["tasks"] == 1.0


def test_mean_return_follows_the_window_exactly_over_many_episodes():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=1000000"], LEVELS, return_buffer_size=7)
    returns = np.random.default_rng(0).normal(1e6, 1.0, size=500)  # large values: rounding would show
    for value in returns:
        curriculum.update_on_episode(float(value), 1, "easy")
    assert curriculum.stage_metrics()["episode_return"] == pytest.approx(float(np.mean(returns[-7:])), rel=1e-14)
    restored = SequentialCurriculum(["easy", "hard"], ["episodes>=1000000"], LEVELS, return_buffer_size=7)
    restored.load_state_dict(curriculum.state_dict())
    assert restored.stage_metrics()["episode_return"] == pytest.approx(
        curriculum.stage_metrics()["episode_return"], rel=1e-15
    )


def pickle_round_trip(curriculum):
    return pickle.loads(pickle.dumps(curriculum))


@pytest.mark.parametrize("copy_curriculum", [pickle_round_trip, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_a_copied_curriculum_checks_its_own_metrics(copy_curriculum) -> None:
    """Conditions are bound to the curriculum's live metrics: a copy must read the copy's, not the original's."""
    original = SequentialCurriculum([0, 1, 2], ["episodes>=2", "success_rate>0.5"], DiscreteTaskSpace(3))
    original.update_on_episode(1.0, 1, 0, 1.0)
    copied = copy_curriculum(original)
    copied.update_on_episode(1.0, 1, 0, 1.0)
    assert (copied.stage, original.stage) == (1, 0)
    copied.update_on_episode(1.0, 1, 1, 1.0)
    assert copied.stage == 2 and original.stage == 0
    assert copied.stage_history == [{"stage": 1, "episode": 2, "step": 2}, {"stage": 2, "episode": 3, "step": 3}]


def test_distribution_version_rises_at_each_switch_only():
    """Task servers read it to drop tasks prefetched before a switch (see syllabus_like.server.ray_backend)."""
    curriculum = SequentialCurriculum(["easy", "medium"], ["episodes>=2", "episodes>=1"], LEVELS)
    assert curriculum.distribution_version == 0
    curriculum.update_on_episode(1.0, 1, "easy")
    assert curriculum.distribution_version == 0
    curriculum.update_on_episode(1.0, 1, "easy")
    assert curriculum.stage == 1 and curriculum.distribution_version == 1
    curriculum.update_on_episode(1.0, 1, "medium")  # the last condition: done, the same distribution
    assert curriculum.done and curriculum.distribution_version == 1
    assert "distribution_version" not in curriculum.state_dict()
    assert DomainRandomization(LEVELS).distribution_version == 0


def test_a_stage_curriculum_that_learns_gets_its_stage_episodes_with_their_scores():
    class Recording(DomainRandomization):
        def __init__(self, task_space):
            super().__init__(task_space, seed=0)
            self.seen = []

        def update_on_episode(self, episode_return, length, task, progress=0.0, env_id=None, score=None, metrics=None):
            self.seen.append((task, episode_return, score))

    second = Recording(DiscreteTaskSpace(["medium", "hard"]))
    curriculum = SequentialCurriculum(["easy", second], ["episodes >= 2"], LEVELS)
    curriculum.update_on_episode(1.0, 5, "easy", score=0.5)
    curriculum.update_on_episode(2.0, 5, "easy")
    assert curriculum.stage == 1 and second.seen == []  # the first stage's episodes are not its
    curriculum.update_on_episode(3.0, 5, "easy", score=0.1)  # an episode begun in the first stage
    curriculum.update_on_episode(4.0, 5, "hard", score=0.7)
    curriculum.update_on_episode(5.0, 5, "medium")
    assert second.seen == [("hard", 4.0, 0.7), ("medium", 5.0, None)]


def test_a_subclass_that_overrides_check_stopping_conditions_sees_every_check():
    class Noting(SequentialCurriculum):
        switches = 0

        def check_stopping_conditions(self):
            switched = super().check_stopping_conditions()
            self.switches += switched
            return switched

    curriculum = Noting(["easy", "medium", "hard"], ["episodes >= 2", "episodes >= 1"], LEVELS)
    run_episodes(curriculum, 3)
    assert curriculum.stage == 2 and curriculum.switches == 2  # both switches happened after an episode


def test_a_curriculum_given_as_a_stage_is_told_every_episode_of_its_stage():
    from unittest import mock

    stage = DomainRandomization(DiscreteTaskSpace(["medium", "hard"]), seed=0)
    curriculum = SequentialCurriculum([stage], [], DiscreteTaskSpace(["medium", "hard"]))
    with mock.patch.object(stage, "update_on_episode") as told:
        curriculum.update_on_episode(1.0, 5, "hard")
    told.assert_called_once()
