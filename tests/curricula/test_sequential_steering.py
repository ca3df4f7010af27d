"""Steering a SequentialCurriculum: success rate, user metrics, moving averages, history, hooks, done."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from syllabus_like import DiscreteTaskSpace, SequentialCurriculum
from syllabus_like.server import TaskServer
from syllabus_like.stages import SEQUENTIAL_PROGRESS_METRICS, sequential_metric_names
from syllabus_like.wrappers import EPISODE_METRICS_KEY, CurriculumWrapper

LEVELS = DiscreteTaskSpace(["easy", "medium", "hard"])


def play(curriculum, n, *, episode_return=0.0, progress=0.0, metrics=None, length=10):
    for _ in range(n):
        (task,) = curriculum.sample(1)
        if metrics is None:
            curriculum.update_on_episode(episode_return, length, task, progress)
        else:
            curriculum.update_on_episode(episode_return, length, task, progress, metrics=metrics)


# ---------------------------------------------------------------- success rate
def test_success_rate_has_no_value_before_the_first_episode():
    curriculum = SequentialCurriculum(["easy", "hard"], ["success_rate >= 0"], LEVELS)
    assert "success_rate" not in curriculum.stage_metrics()
    curriculum.sample(5)
    assert curriculum.stage == 0  # a comparison on a metric without a value is False
    play(curriculum, 1, progress=0.0)
    assert curriculum.stage == 1


def test_success_rate_is_the_window_mean_of_progress_and_switches_at_its_boundary():
    curriculum = SequentialCurriculum(["easy", "hard"], ["success_rate >= 0.5"], LEVELS, return_buffer_size=4)
    play(curriculum, 3, progress=0.0)
    play(curriculum, 1, progress=1.0)  # window [0, 0, 0, 1]: 0.25
    assert curriculum.stage_metrics()["success_rate"] == 0.25 and curriculum.stage == 0
    play(curriculum, 1, progress=1.0)  # window [0, 0, 1, 1]: 0.5, exactly the boundary
    assert curriculum.stage == 1
    assert "success_rate" not in curriculum.stage_metrics()  # a new stage starts without a value


def test_success_rate_through_the_wrapper_reads_task_completion():
    class Completes(gym.Env):
        observation_space = gym.spaces.Discrete(1)
        action_space = gym.spaces.Discrete(1)

        def change_task(self, task):
            self.task = task

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return 0, {}

        def step(self, action):
            return 0, 1.0, True, False, {"task_completion": 0.75, EPISODE_METRICS_KEY: {"distance": 3.0}}

    curriculum = SequentialCurriculum(["easy", "hard"], ["distance >= 100"], LEVELS, custom_metrics=["distance"])
    env = CurriculumWrapper(Completes(), curriculum)
    for _ in range(3):
        env.reset()
        env.step(0)
    values = curriculum.stage_metrics()
    assert values["success_rate"] == 0.75
    assert values["distance"] == 3.0
    assert values["episodes"] == 3.0


# ------------------------------------------------------------ moving averages
def test_moving_averages_follow_the_documented_formula():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes >= 1000"], LEVELS, smoothing=0.5)
    expected = None
    for episode_return in (4.0, 0.0, 2.0, 10.0):
        play(curriculum, 1, episode_return=episode_return, progress=1.0)
        expected = episode_return if expected is None else expected + 0.5 * (episode_return - expected)
    values = curriculum.stage_metrics()
    assert values["episode_return_ema"] == pytest.approx(expected) == pytest.approx(6.0)
    assert values["success_rate_ema"] == 1.0
    assert values["episode_return"] == 4.0  # the window mean is a different, unweighted number


def test_moving_average_switches_at_its_boundary_and_skips_non_finite_values():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episode_return_ema >= 1"], LEVELS, smoothing=0.5)
    play(curriculum, 1, episode_return=0.0)
    play(curriculum, 1, episode_return=float("nan"))  # skipped: the average stays 0
    assert curriculum.stage_metrics()["episode_return_ema"] == 0.0
    play(curriculum, 1, episode_return=1.0)  # 0.5
    assert curriculum.stage == 0
    play(curriculum, 1, episode_return=1.5)  # 0.5 + 0.5 * 1.0 = 1.0: the boundary
    assert curriculum.stage == 1


def test_smoothing_is_checked():
    for bad in (0, 0.0, 1.5, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match=r"smoothing must be a number in \(0, 1\]"):
            SequentialCurriculum(["easy", "hard"], ["episodes>=1"], LEVELS, smoothing=bad)


# -------------------------------------------------------------- user metrics
def test_user_metrics_are_windowed_means_under_their_own_names():
    curriculum = SequentialCurriculum(
        ["easy", "hard"],
        ["win_rate > 0.6 & episodes >= 3"],
        LEVELS,
        custom_metrics=["win_rate", "eval/score"],
        return_buffer_size=3,
    )
    for win in (0.0, 1.0):
        play(curriculum, 1, metrics={"win_rate": win})
    assert curriculum.stage_metrics()["win_rate"] == 0.5 and curriculum.stage == 0
    assert "eval/score" not in curriculum.stage_metrics()  # declared, never reported: no value
    play(curriculum, 1, metrics={"win_rate": 1.0})  # mean 2/3 > 0.6 after 3 episodes
    assert curriculum.stage == 1
    assert "win_rate" not in curriculum.stage_metrics()


def test_trainer_reported_values_join_the_window():
    curriculum = SequentialCurriculum(["easy", "hard"], ["eval/score >= 0.9"], LEVELS, custom_metrics=["eval/score"])
    curriculum.report_metrics({"eval/score": 0.5})
    assert curriculum.stage == 0
    curriculum.report_metrics({"eval/score": 1.3})  # mean 0.9
    assert curriculum.stage == 1
    assert curriculum.stage_history == [{"stage": 1, "episode": 0, "step": 0}]


def test_a_typo_in_a_user_metric_is_a_construction_error():
    with pytest.raises(ValueError, match=r"unknown metric 'win_rat'.*win_rate, win_rate_ema"):
        SequentialCurriculum(["easy", "hard"], ["win_rat > 0.5"], LEVELS, custom_metrics=["win_rate"])


def test_undeclared_or_bad_reported_metrics_are_refused_before_anything_changes():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=5"], LEVELS, custom_metrics=["win_rate"])
    with pytest.raises(ValueError, match=r"unknown custom metric 'wins'.*declared: win_rate"):
        curriculum.update_on_episode(1.0, 3, "easy", metrics={"wins": 1.0})
    assert curriculum.stage_metrics()["total_episodes"] == 0.0  # the episode was not counted
    with pytest.raises(ValueError, match=r"custom metric 'win_rate' must be a number, got 'high'"):
        curriculum.report_metrics({"win_rate": "high"})
    with pytest.raises(TypeError, match="metrics must be a mapping"):
        curriculum.report_metrics([("win_rate", 1.0)])
    plain = SequentialCurriculum(["easy", "hard"], ["episodes>=5"], LEVELS)
    with pytest.raises(ValueError, match="none were declared"):
        plain.report_metrics({"win_rate": 1.0})


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["episode_return"], "clashes with a built-in metric"),
        (["success_rate"], "clashes with a built-in metric"),
        (["x", "x"], "clashes with"),
        (["reward_ema"], "clashes with"),
        (["2fast"], "is not a name conditions can read"),
        (["a b"], "is not a name conditions can read"),
        ("win_rate", "must be a list of metric names"),
    ],
)
def test_custom_metric_names_are_checked(names, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SequentialCurriculum(["easy", "hard"], ["episodes>=1"], LEVELS, custom_metrics=names)


def test_metric_names_list_every_readable_metric():
    names = sequential_metric_names(["distance"])
    assert set(SEQUENTIAL_PROGRESS_METRICS) <= set(names)
    assert names[-2:] == ("distance", "distance_ema")


# ------------------------------------------------------------ history, hooks
def test_stage_history_and_hook_across_a_loop_wrap_around_and_a_state_round_trip():
    calls = []
    curriculum = SequentialCurriculum(
        ["easy", "medium", "hard"],
        ["episodes>=2", "episodes>=1", "episodes>=3"],
        LEVELS,
        loop=True,
        on_stage_change=lambda old, new: calls.append((old, new)),
        seed=3,
    )
    play(curriculum, 2, length=5)  # 0 -> 1 at 2 episodes, 10 steps
    play(curriculum, 1, length=5)  # 1 -> 2 at 3 episodes, 15 steps
    play(curriculum, 3, length=5)  # 2 -> 0 (wrap-around) at 6 episodes, 30 steps
    assert calls == [(0, 1), (1, 2), (2, 0)]
    assert curriculum.stage_history == [
        {"stage": 1, "episode": 2, "step": 10},
        {"stage": 2, "episode": 3, "step": 15},
        {"stage": 0, "episode": 6, "step": 30},
    ]
    assert curriculum.metrics()["stage"] == 0.0

    restored = SequentialCurriculum(
        ["easy", "medium", "hard"], ["episodes>=2", "episodes>=1", "episodes>=3"], LEVELS, loop=True
    )
    restored.load_state_dict(curriculum.state_dict())
    assert restored.stage_history == curriculum.stage_history
    play(curriculum, 2, length=5)
    play(restored, 2, length=5)
    assert restored.stage_history == curriculum.stage_history
    assert restored.stage_history[-1] == {"stage": 1, "episode": 8, "step": 40}
    assert restored.sample(6) == curriculum.sample(6)


def test_hook_must_be_callable():
    with pytest.raises(TypeError, match="on_stage_change must be a callable"):
        SequentialCurriculum(["easy", "hard"], ["episodes>=1"], LEVELS, on_stage_change="print")


def test_state_round_trip_keeps_windows_and_moving_averages():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=100"], LEVELS, custom_metrics=["distance"], seed=1)
    for value in (1.0, 5.0, 2.0):
        play(curriculum, 1, episode_return=value, progress=value / 5, metrics={"distance": value * 2})
    restored = SequentialCurriculum(["easy", "hard"], ["episodes>=100"], LEVELS, custom_metrics=["distance"])
    restored.load_state_dict(curriculum.state_dict())
    assert restored.stage_metrics() == curriculum.stage_metrics()
    other = SequentialCurriculum(["easy", "hard"], ["episodes>=100"], LEVELS, custom_metrics=["height"])
    with pytest.raises(ValueError, match=r"custom metrics \['distance'\].*declares \['height'\]"):
        other.load_state_dict(curriculum.state_dict())


# ---------------------------------------------------------------------- done
def test_a_condition_on_the_last_stage_marks_the_curriculum_done():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=2", "episodes>=3 & episode_return>=1"], LEVELS)
    play(curriculum, 2, episode_return=1.0)
    assert curriculum.stage == 1 and not curriculum.done
    play(curriculum, 2, episode_return=1.0)
    assert not curriculum.done and curriculum.metrics()["done"] == 0.0
    play(curriculum, 1, episode_return=1.0)
    assert curriculum.done and curriculum.metrics()["done"] == 1.0
    assert curriculum.stage == 1 and curriculum.sample(3) == ["hard"] * 3  # keeps sampling its last stage
    play(curriculum, 10, episode_return=1.0)
    assert curriculum.stage == 1 and len(curriculum.stage_history) == 1
    restored = SequentialCurriculum(["easy", "hard"], ["episodes>=2", "episodes>=3 & episode_return>=1"], LEVELS)
    restored.load_state_dict(curriculum.state_dict())
    assert restored.done


def test_without_a_last_condition_a_curriculum_is_never_done():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=1"], LEVELS)
    play(curriculum, 50)
    assert curriculum.stage == 1 and not curriculum.done


def test_too_many_conditions_still_fail_and_name_the_done_option():
    with pytest.raises(ValueError, match=r"2 stages need 1 stopping conditions, got 3 \(2 would mark"):
        SequentialCurriculum(["easy", "hard"], ["episodes>=1"] * 3, LEVELS)


# ------------------------------------------------------- through the backends
def report_through(client, curriculum_view):
    for value in (0.2, 0.4, 0.9):
        (task,) = client.sample(1)
        client.update_on_episode(1.0, 4, task, 1.0, env_id=0, metrics={"distance": value})
    client.flush()
    return curriculum_view.stage_metrics()


@pytest.mark.parametrize("backend", ["local", "process"])
def test_user_metrics_travel_through_the_task_server(backend):
    curriculum = SequentialCurriculum(
        ["easy", "hard"], ["distance >= 0.5 & episodes >= 3"], LEVELS, custom_metrics=["distance"], seed=0
    )
    with TaskServer(curriculum, backend=backend) as server:
        client = server.client()
        assert report_through(client, server.curriculum) == server.curriculum.stage_metrics()
        assert server.curriculum.stage == 1
        assert server.curriculum.stage_history == [{"stage": 1, "episode": 3, "step": 12}]
        server.curriculum.report_metrics({"distance": 2.0})  # trainer-side report through the view
        assert server.curriculum.stage_metrics()["distance"] == 2.0
        client.close()


def test_the_client_refuses_metrics_that_are_not_numbers_in_the_worker():
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=3"], LEVELS, custom_metrics=["distance"])
    with TaskServer(curriculum, backend="process") as server:
        client = server.client()
        (task,) = client.sample(1)
        with pytest.raises(TypeError, match=r"episode metric 'distance' must be a real number, got 'far'"):
            client.update_on_episode(1.0, 4, task, 1.0, metrics={"distance": "far"})
        with pytest.raises(TypeError, match="must be a mapping"):
            client.update_on_episode(1.0, 4, task, 1.0, metrics=[1.0])
        client.update_on_episode(1.0, 4, task, 1.0, metrics={"distance": np.float32(2.5)})
        client.close()
        server.flush()
        assert server.curriculum.stage_metrics()["distance"] == 2.5


@pytest.mark.ray
def test_user_metrics_travel_through_the_ray_backend():
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        curriculum = SequentialCurriculum(
            ["easy", "hard"], ["distance >= 0.5 & episodes >= 3"], LEVELS, custom_metrics=["distance"], seed=0
        )
        with TaskServer(curriculum, backend="ray") as server:
            client = server.client(prefetch=1)
            report_through(client, server.curriculum)
            assert server.curriculum.stage == 1
            assert server.curriculum.stage_history == [{"stage": 1, "episode": 3, "step": 12}]
            client.close()
    finally:
        ray.shutdown()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("progress", [0.5] * 2000, r"'progress' must be a list of at most 1000 floats"),
        ("custom_metrics", {"height": [1.0]}, r"'custom_metrics' has custom metrics \['height'\]"),
        ("emas", {"episode_return": float("nan")}, r"'emas' must map some of"),
        ("emas", {"typo": 1.0}, r"'emas' must map some of"),
        ("stage_history", [{"stage": 5, "episode": 1, "step": 1}], r"'stage_history' must be a list"),
        ("stage_history", [{"stage": 1, "episode": -1, "step": 1}], r"'stage_history' must be a list"),
        ("done", True, r"'done' must be a bool, True only on the last stage"),
        ("done", "yes", r"'done' must be a bool"),
    ],
)
def test_a_bad_steering_field_in_a_state_is_refused_naming_it_and_changes_nothing(field, value, message):
    curriculum = SequentialCurriculum(["easy", "hard"], ["episodes>=3"], LEVELS, custom_metrics=["distance"])
    play(curriculum, 2, episode_return=1.0, progress=0.5, metrics={"distance": 2.0})
    before = curriculum.state_dict()
    state = {**before, field: value}
    with pytest.raises(ValueError, match=message):
        curriculum.load_state_dict(state)
    assert curriculum.state_dict() == before
