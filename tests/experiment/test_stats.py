"""LearningStats: academia's fields and update, our additions, JSON round trips, academia's JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from syllabus_like.experiment import LearningStats

#: The example file of academia's LearningStats.load documentation.
ACADEMIA_STATS_JSON = {
    "episode_rewards": [1, 0, 0, 1],
    "step_counts": [250, 250, 250, 250],
    "episode_rewards_moving_avg": [1, 0.5, 0.33, 0.5],
    "step_counts_moving_avg": [250, 250, 250, 250],
    "agent_evaluations": [0, 0],
    "episode_wall_times": [0.5392518779990496, 0.5948321321360364, 0.6083159360059653, 0.5948852870060364],
    "episode_cpu_times": [2.1462997890000004, 2.3829500180000007, 2.4324373569999995, 2.3217381230000001],
    "evaluation_interval": 100,
}


def filled_stats(returns, lengths):
    stats = LearningStats(evaluation_interval=10)
    for number, (episode_return, length) in enumerate(zip(returns, lengths, strict=False), start=1):
        stats.update(number, episode_return, length, 0.5, 0.25)
    return stats


def test_update_appends_and_keeps_five_episode_moving_averages():
    returns = [1.0, 0.0, 2.0, 4.0, 3.0, 5.0, 0.0]
    lengths = [10, 20, 30, 40, 50, 60, 70]
    stats = filled_stats(returns, lengths)
    assert stats.episode_rewards.tolist() == returns
    assert stats.step_counts.tolist() == lengths and stats.step_counts.dtype == np.int64
    expected_avg = [np.mean(returns[max(0, i - 4) : i + 1]) for i in range(len(returns))]
    np.testing.assert_allclose(stats.episode_rewards_moving_avg, expected_avg)
    np.testing.assert_allclose(
        stats.step_counts_moving_avg, [np.mean(lengths[max(0, i - 4) : i + 1]) for i in range(7)]
    )
    assert stats.episodes == 7 and stats.total_steps == 280
    assert stats.total_wall_time == pytest.approx(3.5) and stats.total_cpu_time == pytest.approx(1.75)


def test_arrays_are_read_only_views_that_grow_and_can_be_replaced():
    stats = filled_stats(range(40), [1] * 40)  # past the initial capacity of 16
    view = stats.episode_rewards
    assert len(view) == 40 and not view.flags.writeable
    stats.update(41, 7.0, 3, 0.1, 0.1)
    assert len(view) == 40 and stats.episode_rewards[-1] == 7.0
    stats.step_counts = np.array([2, 2])
    assert stats.total_steps == 4


def test_evaluations_record_where_they_ran(caplog):
    stats = filled_stats([1.0, 1.0], [3, 4])
    with caplog.at_level("INFO", logger="syllabus_like.experiment"):
        stats.add_evaluation(0.5, verbose=2)
        stats.add_evaluation(0.7, verbose=1)  # below the level: not logged
    assert stats.agent_evaluations.tolist() == [0.5, 0.7]
    assert stats.evaluation_episodes.tolist() == [2, 2] and stats.evaluation_steps.tolist() == [7, 7]
    assert [r.getMessage() for r in caplog.records] == ["Evaluation after 2 episodes (7 steps): mean return 0.5"]


def test_each_episode_is_logged_at_verbosity_four(caplog):
    stats = LearningStats(5)
    with caplog.at_level("INFO", logger="syllabus_like.experiment"):
        stats.update(1, 2.0, 3, 0.1, 0.1, verbose=3)
        stats.update(2, 4.0, 5, 0.1, 0.1, verbose=4)
    assert [r.getMessage() for r in caplog.records] == [
        "Episode 2 done: return 4 (moving average 3), 5 steps (moving average 4)"
    ]


def test_json_round_trip_with_tasks_and_stage_switches(tmp_path):
    stats = filled_stats([1.0, 2.0, 3.0], [4, 5, 6])
    for task in (np.int64(0), 1, (0.5, np.float32(2.0))):
        stats.add_task(task)
    stats.add_stage_switch(0, 1)
    stats.add_evaluation(2.5)
    path = stats.save(tmp_path / "run")
    assert path == str(tmp_path / "run.stats.json")
    loaded = LearningStats.load(tmp_path / "run")
    assert loaded == stats
    assert loaded.episode_tasks == [0, 1, [0.5, 2.0]]
    assert loaded.stage_switches == [{"episode": 3, "step": 15, "from_stage": 0, "to_stage": 1}]
    assert LearningStats.load(path) == stats  # a path ending in .json is taken as it is


def test_an_academia_stats_json_loads(tmp_path):
    path = tmp_path / "academia.json"
    path.write_text(json.dumps(ACADEMIA_STATS_JSON))
    stats = LearningStats.load(path)
    assert stats.episode_rewards.tolist() == [1, 0, 0, 1]
    assert stats.agent_evaluations.tolist() == [0, 0] and stats.evaluation_interval == 100
    assert stats.total_steps == 1000 and stats.episodes == 4
    assert stats.total_wall_time == pytest.approx(sum(ACADEMIA_STATS_JSON["episode_wall_times"]))
    assert stats.episode_tasks == [] and stats.stage_switches == [] and len(stats.evaluation_episodes) == 0


def test_a_stats_file_missing_academia_fields_is_refused():
    data = dict(ACADEMIA_STATS_JSON)
    del data["step_counts"]
    with pytest.raises(ValueError, match=r"missing \['step_counts'\]"):
        LearningStats.from_dict(data)
