"""The JAX SequentialCurriculum's steering metrics (issue 21), against the Python one.

success_rate, the *_ema moving averages, user metrics, done after a final
condition and the stage history: each at its boundary, and the Python and JAX
curricula fed the same stream switch at the same episodes.
"""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syllabus_like.curricula.sequential import SequentialCurriculum as PythonSequential
from syllabus_like.jax import EpisodeBatch, SequentialCurriculum
from syllabus_like.jax.serialization import load_state, save_state
from syllabus_like.stages import DEFAULT_SMOOTHING, sequential_metric_names
from syllabus_like.task_space import DiscreteTaskSpace

_update = eqx.filter_jit(lambda curriculum, state, batch: curriculum.update(state, batch))
_metrics = eqx.filter_jit(lambda curriculum, state: curriculum.metrics(state))
_sample = eqx.filter_jit(lambda curriculum, state, key: curriculum.sample(state, key, 4))


def _episode(task, episode_return=0.0, length=1, progress=0.0, metrics=None) -> EpisodeBatch:
    return EpisodeBatch(
        [task],
        [episode_return],
        [length],
        progress=[progress],
        metrics=None if metrics is None else {name: [value] for name, value in metrics.items()},
    )


def _feed(curriculum, state, episodes):
    """Feed ``(task, return, length, progress, metrics)`` one episode at a time; the stage after each."""
    stages = []
    for task, episode_return, length, progress, metrics in episodes:
        state = _update(curriculum, state, _episode(task, episode_return, length, progress, metrics))
        stages.append(int(state.stage))
    return state, stages


def test_success_rate_has_no_value_before_the_first_episode_and_switches_at_its_boundary():
    curriculum = SequentialCurriculum([[0], [1]], ["success_rate >= 0.5"], 2, return_buffer_size=4)
    state = curriculum.init(jax.random.key(0))
    assert np.isnan(float(_metrics(curriculum, state)["success_rate"]))
    state, _ = curriculum.check_stopping_conditions(state)
    assert int(state.stage) == 0  # no value: the comparison is False
    # window of 4: 0, 0, 1, 1 -> 0.5 at the fourth episode, not before
    state, stages = _feed(curriculum, state, [(0, 0.0, 1, p, None) for p in (0.0, 0.0, 1.0, 1.0)])
    assert stages == [0, 0, 0, 1]


def test_success_rate_is_the_mean_of_the_last_window_of_progress():
    curriculum = SequentialCurriculum([[0], [1]], ["success_rate >= 2"], 2, return_buffer_size=3)
    state = curriculum.init(jax.random.key(0))
    state, _ = _feed(curriculum, state, [(0, 0.0, 1, p, None) for p in (1.0, 0.0, 0.5, 0.25)])
    assert float(_metrics(curriculum, state)["success_rate"]) == pytest.approx((0.0 + 0.5 + 0.25) / 3)
    state, _ = _feed(curriculum, state, [(1, 0.0, 1, 1.0, None)])  # not a task of the stage
    assert float(_metrics(curriculum, state)["success_rate"]) == pytest.approx(0.25)


def test_moving_averages_follow_the_documented_formula_and_skip_non_finite_values():
    curriculum = SequentialCurriculum([[0], [1]], ["episode_return_ema > 100 & success_rate_ema > 2"], 2, smoothing=0.2)
    state = curriculum.init(jax.random.key(0))
    returns = [1.0, 3.0, float("nan"), -2.0, 5.0]
    state, _ = _feed(curriculum, state, [(0, r, 1, 0.5, None) for r in returns])
    expected = None
    for value in returns:
        if np.isfinite(value):
            expected = value if expected is None else expected + 0.2 * (value - expected)
    metrics = _metrics(curriculum, state)
    assert float(metrics["episode_return_ema"]) == pytest.approx(expected, rel=1e-6)
    assert float(metrics["success_rate_ema"]) == pytest.approx(0.5)
    # the same averages when the five episodes come in one batch
    batched = _update(
        curriculum, curriculum.init(jax.random.key(0)), EpisodeBatch([0] * 5, returns, [1] * 5, progress=[0.5] * 5)
    )
    assert float(_metrics(curriculum, batched)["episode_return_ema"]) == pytest.approx(expected, rel=1e-6)


def test_moving_averages_no_condition_reads_are_not_maintained():
    curriculum = SequentialCurriculum([[0], [1]], ["success_rate_ema > 2"], 2)
    state, _ = _feed(curriculum, curriculum.init(jax.random.key(0)), [(0, 1.0, 1, 0.5, None)] * 3)
    metrics = _metrics(curriculum, state)
    assert float(metrics["success_rate_ema"]) == pytest.approx(0.5)
    assert np.isnan(float(metrics["episode_return_ema"]))  # no condition reads it: it costs nothing
    assert float(metrics["episode_return"]) == 1.0 and float(metrics["success_rate"]) == 0.5  # windows: always


def test_moving_average_switches_at_its_boundary():
    curriculum = SequentialCurriculum([[0], [1]], ["episode_return_ema > 0.5"], 2, smoothing=0.5)
    assert curriculum.smoothing == 0.5 and SequentialCurriculum([[0]], [], 1).smoothing == DEFAULT_SMOOTHING
    state = curriculum.init(jax.random.key(0))
    assert np.isnan(float(_metrics(curriculum, state)["episode_return_ema"]))
    # ema: 0, 0.5, 0.75 -> above 0.5 at the third episode (0.5 is not > 0.5)
    _, stages = _feed(curriculum, state, [(0, r, 1, 0.0, None) for r in (0.0, 1.0, 1.0, 1.0)])
    assert stages == [0, 0, 1, 1]
    # one batch: the same switch, and the later episodes start the new stage's average afresh
    state = _update(
        curriculum, curriculum.init(jax.random.key(0)), EpisodeBatch([0, 0, 0, 1], [0.0, 1.0, 1.0, 7.0], [1] * 4)
    )
    assert int(state.stage) == 1
    assert float(_metrics(curriculum, state)["episode_return_ema"]) == 7.0


def test_smoothing_and_history_capacity_are_checked():
    with pytest.raises(ValueError, match=r"smoothing must be a number in \(0, 1\], got 0"):
        SequentialCurriculum([[0], [1]], ["episodes > 1"], 2, smoothing=0)
    with pytest.raises(ValueError, match="history_capacity must be a non-negative int, got -1"):
        SequentialCurriculum([[0], [1]], ["episodes > 1"], 2, history_capacity=-1)


def test_user_metrics_are_windowed_means_and_moving_averages_under_their_own_names():
    curriculum = SequentialCurriculum(
        [[0], [1], [2]],
        ["distance >= 2", "distance_ema > 10"],
        3,
        custom_metrics=["distance"],
        return_buffer_size=2,
        smoothing=0.5,
    )
    assert set(sequential_metric_names(["distance"])) <= set(curriculum.metric_names)
    state = curriculum.init(jax.random.key(0))
    state, stages = _feed(curriculum, state, [(0, 0.0, 1, 0.0, {"distance": d}) for d in (1.0, 2.0, 2.0, 30.0)])
    assert stages == [0, 0, 1, 1]  # window of 2: 1.5, then 2.0 at the third episode
    metrics = _metrics(curriculum, state)
    assert np.isnan(float(metrics["distance"])) and np.isnan(float(metrics["distance_ema"]))  # stage 1: none yet
    state, stages = _feed(curriculum, state, [(1, 0.0, 1, 0.0, {"distance": d}) for d in (8.0, 12.0, 16.0)])
    assert stages == [1, 1, 2]  # ema 8, 10, 13
    assert curriculum.stage_history(state) == [
        {"stage": 1, "episode": 3, "step": 3},
        {"stage": 2, "episode": 7, "step": 7},
    ]


def test_user_metric_typos_and_batches_without_the_metrics_are_clear_errors():
    with pytest.raises(ValueError, match="stopping condition 0 is invalid: unknown metric 'distanse'"):
        SequentialCurriculum([[0], [1]], ["distanse > 1"], 2, custom_metrics=["distance"])
    with pytest.raises(ValueError, match="clashes with a built-in metric"):
        SequentialCurriculum([[0], [1]], ["episodes > 1"], 2, custom_metrics=["success_rate"])
    curriculum = SequentialCurriculum([[0], [1]], ["distance > 1"], 2, custom_metrics=["distance"])
    state = curriculum.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"EpisodeBatch.metrics must hold .*\(declared: distance\); got \[\]"):
        curriculum.update(state, _episode(0))
    with pytest.raises(ValueError, match=r"declared: distance\); got \['distance', 'height'\]"):
        curriculum.update(state, _episode(0, metrics={"distance": 1.0, "height": 2.0}))
    plain = SequentialCurriculum([[0], [1]], ["episodes > 1"], 2)
    with pytest.raises(ValueError, match=r"declared: none were declared\); got \['height'\]"):
        plain.update(plain.init(jax.random.key(0)), _episode(0, metrics={"height": 2.0}))
    with pytest.raises(ValueError, match="every EpisodeBatch field must have the same shape"):
        EpisodeBatch([0, 1], [0.0, 0.0], [1, 1], metrics={"distance": [1.0]})


def test_a_condition_on_the_last_stage_marks_the_curriculum_done():
    curriculum = SequentialCurriculum([[0], [1]], ["episodes >= 2", "episodes >= 3"], 2)
    state = curriculum.init(jax.random.key(0))
    state, stages = _feed(curriculum, state, [(0, 0.0, 1, 0.0, None)] * 2 + [(1, 0.0, 1, 0.0, None)] * 2)
    assert stages == [0, 1, 1, 1] and not bool(state.done)
    state, _ = _feed(curriculum, state, [(1, 0.0, 1, 0.0, None)])
    metrics = _metrics(curriculum, state)
    assert bool(metrics["done"]) and int(metrics["stage"]) == 1
    assert curriculum.stage_history(state) == [{"stage": 1, "episode": 2, "step": 2}]  # done is not a switch
    state, tasks = _sample(curriculum, state, jax.random.key(1))
    assert bool(state.done) and np.all(np.asarray(tasks) == 1)  # keeps sampling its last stage
    state, _ = _feed(curriculum, state, [(1, 0.0, 1, 0.0, None)] * 3)  # episodes keep counting
    assert int(state.episodes) == 6 and int(state.stage) == 1
    # in one batch: the same
    six = EpisodeBatch([0, 0, 1, 1, 1, 1], [0.0] * 6, [1] * 6)
    batched = _update(curriculum, curriculum.init(jax.random.key(0)), six)
    assert bool(batched.done) and int(batched.episodes) == 4
    # without the final condition: never done
    open_ended = SequentialCurriculum([[0], [1]], ["episodes >= 2"], 2)
    stream = [(0, 0.0, 1, 0.0, None)] * 2 + [(1, 0.0, 1, 0.0, None)] * 5
    state, _ = _feed(open_ended, open_ended.init(jax.random.key(0)), stream)
    assert not bool(_metrics(open_ended, state)["done"])


def test_stage_history_across_a_loop_wrap_around_and_a_save_load_round_trip(tmp_path):
    curriculum = SequentialCurriculum([[0], [1]], ["episodes >= 2", "episodes >= 1"], 2, loop=True, history_capacity=3)
    state = curriculum.init(jax.random.key(0))
    stream = [(0, 1.0, 3, 1.0, None), (0, 1.0, 3, 1.0, None), (1, 0.0, 5, 0.0, None)]
    state, stages = _feed(curriculum, state, stream)
    assert stages == [0, 1, 0]
    expected = [{"stage": 1, "episode": 2, "step": 6}, {"stage": 0, "episode": 3, "step": 11}]
    assert curriculum.stage_history(state) == expected
    save_state(tmp_path / "state.npz", state)
    restored = load_state(tmp_path / "state.npz", curriculum.init(jax.random.key(5)))
    assert curriculum.stage_history(restored) == expected
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(np.array_equal(a, b, equal_nan=True)), state, restored))
    # capacity 3: the fourth switch is counted but not recorded
    restored, _ = _feed(curriculum, restored, stream)
    assert int(restored.num_switches) == 4 and len(curriculum.stage_history(restored)) == 3
    assert curriculum.stage_history(restored)[2] == {"stage": 1, "episode": 5, "step": 17}


def test_a_restored_state_continues_the_windows_and_moving_averages(tmp_path):
    curriculum = SequentialCurriculum(
        [[0], [1]],
        ["success_rate_ema > 0.7 & score >= 0.5"],
        2,
        custom_metrics=["score"],
        return_buffer_size=3,
    )
    stream = [(0, 0.0, 1, p, {"score": s}) for p, s in [(0.5, 0.0), (1.0, 1.0), (1.0, 0.5), (0.0, 2.0)]]
    state, _ = _feed(curriculum, curriculum.init(jax.random.key(0)), stream[:2])
    save_state(tmp_path / "state.npz", state)
    restored = load_state(tmp_path / "state.npz", curriculum.init(jax.random.key(0)))
    original, _ = _feed(curriculum, state, stream[2:])
    continued, _ = _feed(curriculum, restored, stream[2:])
    for name, value in _metrics(curriculum, original).items():
        assert np.array_equal(np.asarray(value), np.asarray(_metrics(curriculum, continued)[name]), equal_nan=True)


# ------------------------------------------------------------------ parity with the Python curriculum
PARITY_CONFIGS = {
    "progress_and_user_metrics": dict(
        curriculum_list=[[0, 1], [2], [3, 4]],
        stopping_conditions=[
            "success_rate >= 0.6 & episodes >= 3",
            "score_ema > 0.55 | episode_return_ema > 0.8",
            "score >= 0.7 & success_rate_ema < 0.5",
        ],
        loop=True,
        return_buffer_size=4,
        custom_metrics=["score"],
        smoothing=0.3,
    ),
    "final_condition": dict(
        curriculum_list=[[0, 1, 2], [3, 4]],
        stopping_conditions=["success_rate_ema >= 0.5", "score > 0.6 & episodes >= 4"],
        loop=False,
        return_buffer_size=3,
        custom_metrics=["score"],
        smoothing=0.1,
    ),
}


def _parity_stream(seed: int, length: int):
    rng = np.random.default_rng(seed)
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32)  # window means of these are exact in float32
    tasks = rng.integers(0, 5, length)
    returns = rng.random(length).astype(np.float32)
    lengths = rng.integers(1, 20, length)
    progress = rng.choice(grid, length)
    score = rng.choice(grid, length)
    return tasks, returns, lengths, progress, score


@pytest.mark.parametrize("name", sorted(PARITY_CONFIGS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_python_and_jax_switch_at_the_same_episodes(name, seed):
    config = PARITY_CONFIGS[name]
    python = PythonSequential(task_space=DiscreteTaskSpace(5), seed=0, **config)
    curriculum = SequentialCurriculum(task_space=5, **config)
    tasks, returns, lengths, progress, score = _parity_stream(seed, 200)
    stream = [
        (int(t), float(r), int(n), float(p), {"score": float(s)})
        for t, r, n, p, s in zip(tasks, returns, lengths, progress, score, strict=False)
    ]
    python_stages = []
    for task, episode_return, length, episode_progress, metrics in stream:
        python.update_on_episode(episode_return, length, task, progress=episode_progress, metrics=metrics)
        python_stages.append(python.stage)
    state, jax_stages = _feed(curriculum, curriculum.init(jax.random.key(0)), stream)
    assert jax_stages == python_stages
    assert len(python.stage_history) + python.done >= 2  # the stream does exercise the conditions
    assert curriculum.stage_history(state) == python.stage_history
    assert bool(state.done) == python.done

    # the whole stream as one masked [T, B] batch: the same history, metrics and done
    done = np.ones(200, bool)
    done[::7] = False  # entries that are not finished episodes: ignored
    kept = [episode for episode, keep in zip(stream, done, strict=False) if keep]
    python = PythonSequential(task_space=DiscreteTaskSpace(5), seed=0, **config)
    for task, episode_return, length, episode_progress, metrics in kept:
        python.update_on_episode(episode_return, length, task, progress=episode_progress, metrics=metrics)
    batch = EpisodeBatch(
        tasks.reshape(20, 10),
        returns.reshape(20, 10),
        lengths.reshape(20, 10),
        progress=progress.reshape(20, 10),
        done=done.reshape(20, 10),
        metrics={"score": score.reshape(20, 10)},
    )
    state = _update(curriculum, curriculum.init(jax.random.key(0)), batch)
    assert curriculum.stage_history(state) == python.stage_history
    jax_metrics = _metrics(curriculum, state)
    for metric, value in python.metrics().items():
        unread_average = metric.endswith("_ema") and metric not in curriculum.read_metrics
        if metric.startswith("stage_curriculum/") or unread_average:
            continue  # JAX maintains only the moving averages a condition reads
        assert float(jax_metrics[metric]) == pytest.approx(value, rel=1e-5, abs=1e-6), metric
    for metric in curriculum.metric_names:
        if metric not in python.metrics() or (metric.endswith("_ema") and metric not in curriculum.read_metrics):
            assert np.isnan(float(jax_metrics[metric])), metric


_HYPOTHESIS_CONFIG = dict(
    curriculum_list=[[0, 1], [2], [3]],
    stopping_conditions=[
        "success_rate >= 0.6 & episodes >= 2",
        "score_ema > 0.33 | episode_return_ema > 0.7",
        "score < 0.3",
    ],
    loop=True,
    return_buffer_size=3,
    custom_metrics=["score"],
    smoothing=0.5,
)
_HYPOTHESIS_CURRICULUM = SequentialCurriculum(task_space=4, **_HYPOTHESIS_CONFIG)
_GRID = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])
_EPISODES = st.lists(
    st.tuples(st.integers(0, 3), _GRID, st.integers(1, 9), _GRID, _GRID, st.booleans()), min_size=1, max_size=40
)


@settings(max_examples=25, deadline=None)
@given(episodes=_EPISODES)
def test_python_and_jax_agree_on_generated_streams(episodes):
    """Generated streams (values on a grid; threshold not on it): same switches, in one batch or one at a time."""
    python = PythonSequential(task_space=DiscreteTaskSpace(4), seed=0, **_HYPOTHESIS_CONFIG)
    for task, episode_return, length, progress, score, finished in episodes:
        if finished:
            python.update_on_episode(episode_return, length, task, progress=progress, metrics={"score": score})
    curriculum = _HYPOTHESIS_CURRICULUM
    columns = [np.asarray(column) for column in zip(*episodes, strict=False)]
    batch = EpisodeBatch(
        columns[0], columns[1], columns[2], progress=columns[3], done=columns[5], metrics={"score": columns[4]}
    )
    state = _update(curriculum, curriculum.init(jax.random.key(0)), batch)
    assert curriculum.stage_history(state) == python.stage_history
    assert int(state.stage) == python.stage


# ------------------------------------------------------------------ report_metrics
_report = eqx.filter_jit(lambda curriculum, state, values: curriculum.report_metrics(state, values))


def test_trainer_reported_values_join_the_window_and_check_the_conditions():
    curriculum = SequentialCurriculum([[0], [1]], ["eval/score >= 0.75"], 2, custom_metrics=["eval/score"])
    state = curriculum.init(jax.random.key(0))
    state = _report(curriculum, state, {"eval/score": jax.numpy.float32(0.5)})
    assert int(state.stage) == 0 and float(_metrics(curriculum, state)["eval/score"]) == 0.5
    state = _report(curriculum, state, {"eval/score": jax.numpy.float32(1.0)})  # mean 0.75
    assert int(state.stage) == 1
    assert curriculum.stage_history(state) == [{"stage": 1, "episode": 0, "step": 0}]
    assert np.isnan(float(_metrics(curriculum, state)["eval/score"]))  # the new stage starts afresh
    assert int(state.num_returns) == 0  # reports are not episodes: the other windows are untouched


def test_reported_values_have_their_own_count_beside_the_episodes_values():
    curriculum = SequentialCurriculum(
        [[0], [1]], ["score_ema > 100 & success_rate > 2"], 2, custom_metrics=["score"], return_buffer_size=3
    )
    state = curriculum.init(jax.random.key(0))
    state = curriculum.report_metrics(state, {"score": 4.0})  # plain numbers too; not jitted
    state, _ = _feed(curriculum, state, [(0, 0.0, 1, 1.0, {"score": 1.0})])
    metrics = _metrics(curriculum, state)
    assert float(metrics["score"]) == 2.5 and float(metrics["success_rate"]) == 1.0  # 2 scores, 1 progress
    assert float(metrics["score_ema"]) == pytest.approx(4.0 + DEFAULT_SMOOTHING * (1.0 - 4.0))
    state = curriculum.report_metrics(state, {"score": float("nan")})  # kept in the window, skipped by the average
    state = curriculum.report_metrics(state, {"score": 2.0})
    metrics = _metrics(curriculum, state)
    assert np.isnan(float(metrics["score"]))  # window of 3: 1, nan, 2
    assert [int(count) for count in state.window_counts] == [1, 3]
    state = curriculum.report_metrics(state, {"score": 3.0})  # window: nan, 2, 3
    state = curriculum.report_metrics(state, {"score": 4.0})  # window: 2, 3, 4
    assert float(_metrics(curriculum, state)["score"]) == 3.0


def test_reported_metrics_are_checked_when_traced_with_the_python_messages():
    curriculum = SequentialCurriculum([[0], [1]], ["episodes >= 5"], 2, custom_metrics=["win_rate"])
    state = curriculum.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"unknown custom metric 'wins'.*declared: win_rate"):
        _report(curriculum, state, {"wins": jax.numpy.float32(1.0)})
    with pytest.raises(ValueError, match=r"custom metric 'win_rate' must be a number, got 'high'"):
        curriculum.report_metrics(state, {"win_rate": "high"})
    with pytest.raises(ValueError, match=r"custom metric 'win_rate' must be a number, got True"):
        curriculum.report_metrics(state, {"win_rate": True})
    with pytest.raises(ValueError, match=r"must be one number \(a scalar\), got shape \(2,\)"):
        _report(curriculum, state, {"win_rate": jax.numpy.ones(2)})
    with pytest.raises(TypeError, match="metrics must be a mapping"):
        curriculum.report_metrics(state, [("win_rate", 1.0)])
    plain = SequentialCurriculum([[0], [1]], ["episodes >= 5"], 2)
    with pytest.raises(ValueError, match="none were declared"):
        plain.report_metrics(plain.init(jax.random.key(0)), {"win_rate": 1.0})


_REPORT_CONFIG = dict(
    curriculum_list=[[0, 1], [2], [3]],
    stopping_conditions=["score >= 0.7 & episodes >= 2", "score_ema > 0.6 & success_rate > 0.3", "score < 0.3"],
    loop=True,
    return_buffer_size=3,
    custom_metrics=["score"],
    smoothing=0.5,
)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_python_and_jax_agree_on_streams_of_episodes_and_reports(seed):
    """Episodes (one at a time, or each run between reports as one batch) and reports: same switches, same metrics."""
    rng = np.random.default_rng(seed)
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32)
    stream = []  # ("episode", task, return, length, progress, score) or ("report", score)
    for _ in range(120):
        if rng.random() < 0.3:
            stream.append(("report", float(rng.choice(grid))))
        else:
            values = (
                float(rng.choice(grid)),
                int(rng.integers(1, 9)),
                float(rng.choice(grid)),
                float(rng.choice(grid)),
            )
            stream.append(("episode", int(rng.integers(0, 4)), *values))
    python = PythonSequential(task_space=DiscreteTaskSpace(4), seed=0, **_REPORT_CONFIG)
    curriculum = SequentialCurriculum(task_space=4, **_REPORT_CONFIG)
    state = curriculum.init(jax.random.key(0))
    python_stages, jax_stages = [], []
    for item in stream:
        if item[0] == "report":
            python.report_metrics({"score": item[1]})
            state = _report(curriculum, state, {"score": jax.numpy.float32(item[1])})
        else:
            _, task, episode_return, length, progress, score = item
            python.update_on_episode(episode_return, length, task, progress=progress, metrics={"score": score})
            state = _update(curriculum, state, _episode(task, episode_return, length, progress, {"score": score}))
        python_stages.append(python.stage)
        jax_stages.append(int(state.stage))
    assert jax_stages == python_stages
    assert len(python.stage_history) >= 2  # the stream does exercise the conditions
    assert curriculum.stage_history(state) == python.stage_history

    # the runs of episodes between reports as batches (with the Python stages at the ends of the runs)
    batched = curriculum.init(jax.random.key(0))
    run: list = []
    for position, item in enumerate([*stream, ("report", None)]):
        if item[0] == "episode":
            run.append(item[1:])
            continue
        if run:
            columns = [np.asarray(column) for column in zip(*run, strict=False)]
            batch = EpisodeBatch(*columns[:3], progress=columns[3], metrics={"score": columns[4]})
            batched = _update(curriculum, batched, batch)
            assert int(batched.stage) == python_stages[position - 1]
            run = []
        if item[1] is not None:
            batched = _report(curriculum, batched, {"score": jax.numpy.float32(item[1])})
            assert int(batched.stage) == python_stages[position]
    assert curriculum.stage_history(batched) == python.stage_history
    jax_metrics = _metrics(curriculum, batched)
    for metric, value in python.metrics().items():
        if metric.startswith("stage_curriculum/") or (
            metric.endswith("_ema") and metric not in curriculum.read_metrics
        ):
            continue
        assert float(jax_metrics[metric]) == pytest.approx(value, rel=1e-5, abs=1e-6), metric
