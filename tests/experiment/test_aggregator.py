"""LearningStatsAggregator: checked against numpy on small fixed stats, its grid, its errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from syllabus_like.experiment import LearningStats, LearningStatsAggregator


def make_stats(returns, lengths, evaluations=(), evaluation_interval=2, wall=0.5, cpu=0.25):
    stats = LearningStats(evaluation_interval)
    for number, (episode_return, length) in enumerate(zip(returns, lengths, strict=False), start=1):
        stats.update(number, episode_return, length, wall, cpu)
    stats.agent_evaluations = np.array(evaluations, dtype=float)
    return stats


RUNS = [
    make_stats([1.0, 2.0, 3.0, 4.0], [10, 10, 10, 10], evaluations=[0.0, 0.5, 1.0]),
    make_stats([3.0, 2.0, 5.0, 0.0], [10, 10, 10, 10], evaluations=[0.2, 0.4, 0.6]),
    make_stats([0.0, 0.0, 1.0, 8.0], [10, 10, 10, 10], evaluations=[0.1, 0.9, 0.8]),
]


@pytest.mark.parametrize("function", ["mean", "min", "max", "std"])
def test_equal_runs_aggregate_point_by_point_like_numpy(function):
    values, times = LearningStatsAggregator(RUNS).get_aggregate("episodes", "episode_rewards", function)
    stacked = np.stack([run.episode_rewards for run in RUNS])
    np.testing.assert_allclose(values, getattr(np, function)(stacked, axis=0), rtol=1e-6)
    assert times.tolist() == [1, 2, 3, 4] and times.dtype == np.int32 and values.dtype == np.float32


def test_iqm_is_the_mean_of_the_middle_half():
    runs = [make_stats([value], [1]) for value in (0.0, 1.0, 2.0, 100.0)]
    values, _ = LearningStatsAggregator(runs).get_aggregate("episodes", "episode_rewards", "iqm")
    assert values.tolist() == [pytest.approx(1.5)]


def test_evaluations_without_recorded_positions_sit_at_multiples_of_the_interval():
    values, times = LearningStatsAggregator(RUNS).get_aggregate("steps", "agent_evaluations", "mean")
    assert times.tolist() == [0, 20, 40]  # episodes 0, 2, 4 of 10 steps each
    np.testing.assert_allclose(values, np.mean([run.agent_evaluations for run in RUNS], axis=0), rtol=1e-6)
    values, times = LearningStatsAggregator(RUNS).get_aggregate("wall_time", "agent_evaluations", "max")
    np.testing.assert_allclose(times, [0.0, 1.0, 2.0])
    assert times.dtype == np.float32
    np.testing.assert_allclose(values, np.max([run.agent_evaluations for run in RUNS], axis=0), rtol=1e-6)


def test_recorded_evaluation_positions_are_used():
    stats = make_stats([1.0] * 3, [5, 6, 7])
    stats.add_evaluation(0.25)  # after 3 episodes, 18 steps
    values, times = LearningStatsAggregator([stats]).get_aggregate("steps", "agent_evaluations")
    assert times.tolist() == [18] and values.tolist() == [0.25]
    _, times = LearningStatsAggregator([stats]).get_aggregate("episodes", "agent_evaluations")
    assert times.tolist() == [3]


def test_runs_of_different_lengths_share_the_span_all_cover_with_interpolation():
    short = make_stats([0.0, 2.0], [10, 10])  # ends at 20 steps
    long = make_stats([1.0, 1.0, 1.0], [5, 10, 15])  # steps 5, 15, 30
    values, times = LearningStatsAggregator([short, long]).get_aggregate("steps", "episode_rewards", "mean")
    assert times.tolist() == [10, 15, 20]  # union of points inside [max start, min end] = [10, 20]
    short_at = np.interp([10, 15, 20], [10, 20], [0.0, 2.0])
    long_at = np.interp([10, 15, 20], [5, 15, 30], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(values, (short_at + long_at) / 2)


def test_experiment_runs_aggregate_per_task():
    runs = [{"a": RUNS[0], "b": RUNS[1]}, {"a": RUNS[2], "b": RUNS[0]}]
    result = LearningStatsAggregator(runs).get_aggregate("episodes", "episode_rewards_moving_avg", "mean")
    assert set(result) == {"a", "b"}
    np.testing.assert_allclose(
        result["b"][0],
        np.mean([RUNS[1].episode_rewards_moving_avg, RUNS[0].episode_rewards_moving_avg], axis=0),
        rtol=1e-6,
    )


def test_bootstrap_interval_brackets_the_statistic_and_collapses_for_equal_runs():
    aggregator = LearningStatsAggregator(RUNS)
    low, high, _ = aggregator.get_confidence_interval("episodes", "episode_rewards", "mean", seed=0)
    mean, _ = aggregator.get_aggregate("episodes", "episode_rewards", "mean")
    assert np.all(low <= mean + 1e-6) and np.all(mean <= high + 1e-6) and np.all(low < high)
    values = np.stack([run.episode_rewards for run in RUNS])
    expected = scipy_stats.bootstrap(
        (values,), np.mean, axis=0, n_resamples=2000, method="percentile", rng=np.random.default_rng(0)
    )
    np.testing.assert_allclose(low, expected.confidence_interval.low, rtol=1e-5)
    same = LearningStatsAggregator([RUNS[0], RUNS[0]]).get_confidence_interval("episodes", "episode_rewards")
    np.testing.assert_array_equal(same[0], same[1])


@pytest.mark.parametrize(
    ("stats", "message"),
    [
        ("runs", "stats must be a list of LearningStats or of dicts of them, got str"),
        ({"a": RUNS[0]}, "stats must be a list of LearningStats or of dicts of them, got dict"),
        ([], "at least one run"),
        ([RUNS[0], 3], "item 1 is 3"),
        ([{"a": RUNS[0]}, {"b": RUNS[0]}], r"run 1 has tasks \['b'\], run 0 has \['a'\]"),
        ([{"a": RUNS[0]}, {"a": "x"}], "run 1, task 'a' is not a LearningStats"),
    ],
)
def test_constructor_errors(stats, message):
    with pytest.raises(ValueError, match=message):
        LearningStatsAggregator(stats)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ("hours", "episode_rewards", "mean"),
            "time_domain must be one of 'steps', 'episodes', 'cpu_time', 'wall_time', got 'hours'",
        ),
        (("steps", "returns", "mean"), "value_domain must be one of 'agent_evaluations'"),
        (("steps", "episode_rewards", "median"), "agg_func_name must be one of 'mean', 'min', 'max', 'std', 'iqm'"),
    ],
)
def test_get_aggregate_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        LearningStatsAggregator(RUNS).get_aggregate(*arguments)


def test_a_run_without_values_is_named():
    with pytest.raises(ValueError, match="run 1 has no agent_evaluations"):
        LearningStatsAggregator([RUNS[0], make_stats([1.0], [1])]).get_aggregate("steps", "agent_evaluations")
