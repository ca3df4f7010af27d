"""The automatic curricula on the Python side: PLR (and robust PLR), LearningProgress,
Learnability and ALP-GMM, against the papers' formulas on small hand-computed cases."""

from __future__ import annotations

import multiprocessing as mp
import pickle
import sys

import numpy as np
import pytest

from syllabus_like import (
    ALPGMM,
    BoxTaskSpace,
    DictTaskSpace,
    DiscreteTaskSpace,
    Learnability,
    LearningProgress,
    PrioritizedLevelReplay,
    SequentialCurriculum,
    TaskSpaceError,
    TupleTaskSpace,
)
from syllabus_like.server import TaskServer

FINITE = [PrioritizedLevelReplay, LearningProgress, Learnability]


def report(curriculum, task, *, score=None, progress=0.0, episode_return=0.0):
    curriculum.update_on_episode(episode_return, 1, task, progress, score=score)


def empirical(curriculum, num_tasks: int, draws: int = 40_000) -> np.ndarray:
    tasks = curriculum.sample(draws)
    return np.bincount(tasks, minlength=num_tasks) / draws


# ------------------------------------------------------------------ PLR


def plr_three_levels(**kwargs) -> PrioritizedLevelReplay:
    """Buffer after scores 1, 3, 2 on tasks 0, 1, 2 (episodes 1, 2, 3): [1 (3.0), 2 (2.0), 0 (1.0)]."""
    curriculum = PrioritizedLevelReplay(DiscreteTaskSpace(4), buffer_size=3, seed=0, **kwargs)
    for task, score in [(0, 1.0), (1, 3.0), (2, 2.0)]:
        report(curriculum, task, score=score)
    return curriculum


def test_plr_rank_prioritisation_with_staleness_matches_the_paper():
    curriculum = plr_three_levels(temperature=1.0, staleness_coef=0.5, replay_prob=0.5)
    assert curriculum.buffer() == [(1, 3.0), (2, 2.0), (0, 1.0)]
    # P_S by rank 1/1, 1/2, 1/3 over 11/6; staleness c - C_i = 3-2, 3-3, 3-1 over 3.
    score_part = np.array([6, 3, 2]) / 11
    staleness_part = np.array([1, 0, 2]) / 3
    replay = 0.5 * score_part + 0.5 * staleness_part  # slots: task 1, task 2, task 0
    expected = np.array([0.5 * replay[2], 0.5 * replay[0], 0.5 * replay[1], 0.5])  # task 3 is the only new level
    np.testing.assert_allclose(curriculum.probabilities(), expected, rtol=1e-12)
    np.testing.assert_allclose(empirical(curriculum, 4), expected, atol=0.01)


def test_plr_temperature_sharpens_rank_weights():
    curriculum = plr_three_levels(temperature=0.5, staleness_coef=0.0, replay_prob=1.0)
    weights = np.array([1.0, 1 / 4, 1 / 9])  # (1 / rank) ** (1 / 0.5)
    replay = weights / weights.sum()
    # replay_prob=1 but task 3 is outside the buffer: it keeps 1 - p = 0.
    np.testing.assert_allclose(curriculum.probabilities(), [replay[2], replay[0], replay[1], 0.0], rtol=1e-12)


def test_plr_topk_prioritisation():
    curriculum = plr_three_levels(prioritization="topk", top_k=2, staleness_coef=0.2, replay_prob=0.5)
    replay = 0.8 * np.array([0.5, 0.5, 0.0]) + 0.2 * np.array([1, 0, 2]) / 3
    np.testing.assert_allclose(curriculum.probabilities(), [0.5 * replay[2], 0.5 * replay[0], 0.5 * replay[1], 0.5])


def test_plr_new_level_enters_only_by_beating_the_lowest_and_ties_keep_the_buffer():
    curriculum = plr_three_levels()
    report(curriculum, 3, score=1.0)  # ties the lowest (task 0, 1.0): the buffer keeps task 0
    assert [task for task, _ in curriculum.buffer()] == [1, 2, 0]
    report(curriculum, 3, score=1.5)
    assert curriculum.buffer() == [(1, 3.0), (2, 2.0), (3, 1.5)]
    report(curriculum, 1, score=0.5)  # a replayed level takes its new score and moves down
    assert curriculum.buffer() == [(2, 2.0), (3, 1.5), (1, 0.5)]
    report(curriculum, 3, score=2.0)  # equal scores keep their order: task 2 was first
    assert [task for task, _ in curriculum.buffer()] == [2, 3, 1]
    assert curriculum.metrics()["episodes"] == 7


def test_plr_min_fill_delays_replay_and_a_full_task_set_always_replays():
    curriculum = PrioritizedLevelReplay(DiscreteTaskSpace(4), buffer_size=4, min_fill=0.75, seed=1)
    report(curriculum, 0, score=5.0)
    report(curriculum, 1, score=4.0)
    assert curriculum.effective_replay_prob() == 0.0
    np.testing.assert_allclose(curriculum.probabilities(), [0, 0, 0.5, 0.5])
    assert set(curriculum.sample(200)) == {2, 3}
    report(curriculum, 2, score=3.0)
    assert curriculum.effective_replay_prob() == 0.5
    report(curriculum, 3, score=2.0)
    assert curriculum.effective_replay_prob() == 1.0
    assert curriculum.probabilities().sum() == pytest.approx(1.0)


def test_plr_needs_a_score_at_the_first_update():
    curriculum = PrioritizedLevelReplay(DiscreteTaskSpace(3))
    with pytest.raises(ValueError, match=r"PrioritizedLevelReplay.update_on_episode needs score=.*got score=None"):
        curriculum.update_on_episode(1.0, 10, 0)


def test_plr_robust_trains_only_on_replayed_levels():
    curriculum = PrioritizedLevelReplay(DiscreteTaskSpace(50), buffer_size=10, replay_prob=0.5, robust=True, seed=3)
    first = curriculum.sample()[0]
    assert curriculum.should_train_on(first) is False  # empty buffer: a new level, only evaluated
    for task in range(10):
        report(curriculum, task, score=float(task))
    decisions = {}
    for _ in range(400):
        task = curriculum.sample()[0]
        decisions.setdefault(task < 10, set()).add(curriculum.should_train_on(task))
    assert decisions == {True: {True}, False: {False}}
    assert PrioritizedLevelReplay(DiscreteTaskSpace(3)).should_train_on(1) is True  # plain PLR


def test_plr_max_return_tracks_the_best_episode_of_buffered_levels():
    curriculum = PrioritizedLevelReplay(DiscreteTaskSpace(3), buffer_size=2)
    report(curriculum, 0, score=1.0, episode_return=4.0)
    report(curriculum, 0, score=1.0, episode_return=2.0)
    assert curriculum.max_return(0) == 4.0
    assert curriculum.max_return(2) == float("-inf")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"buffer_size": 0}, r"buffer_size must be a positive int, got 0"),
        ({"prioritization": "softmax"}, r"prioritization must be 'rank' or 'topk', got 'softmax'"),
        ({"temperature": 0.0}, r"temperature must be a finite number > 0, got 0.0"),
        ({"staleness_coef": 1.5}, r"staleness_coef must be in \[0, 1\], got 1.5"),
        ({"replay_prob": -0.1}, r"replay_prob must be in \[0, 1\], got -0.1"),
        ({"top_k": 0}, r"top_k must be a positive int, got 0"),
        ({"robust": "yes"}, r"robust must be True or False, got 'yes'"),
    ],
)
def test_plr_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PrioritizedLevelReplay(DiscreteTaskSpace(3), **kwargs)


# -------------------------------------------------------- LearningProgress


def test_learning_progress_matches_the_paper_formula():
    curriculum = LearningProgress(
        DiscreteTaskSpace(3), fast_rate=0.5, slow_rate=0.25, reweight_threshold=0.1, temperature=1.0
    )
    report(curriculum, 0, progress=0.0)  # first report: fast = slow = 0
    report(curriculum, 0, progress=1.0)  # fast = 0.5, slow = 0 + 0.25 * (0.5 - 0) = 0.125
    report(curriculum, 1, progress=1.0)  # fast = slow = 1: no progress
    fast, slow = curriculum.success_rates()
    np.testing.assert_allclose(fast, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(slow, [0.125, 1.0, 0.0])
    # f(0.5) = 0.9 * 0.5 / 0.5 = 0.9; f(0.125) = 0.9 * 0.125 / (0.125 + 0.1 * 0.75) = 0.5625
    progress = np.array([0.3375, 0.0, 0.0])
    np.testing.assert_allclose(curriculum.learning_progress(), progress, rtol=1e-6)
    z = (progress - progress.mean()) / progress.std()
    weights = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(curriculum.probabilities(), weights / weights.sum(), rtol=1e-6)
    np.testing.assert_allclose(empirical(curriculum, 3), weights / weights.sum(), atol=0.01)
    assert curriculum.metrics()["max_learning_progress"] == pytest.approx(0.3375, rel=1e-6)


def test_learning_progress_is_uniform_without_progress_and_ignores_scores():
    curriculum = LearningProgress(DiscreteTaskSpace(4))
    np.testing.assert_allclose(curriculum.probabilities(), 0.25)
    report(curriculum, 2, progress=1.0, score=99.0)
    np.testing.assert_allclose(curriculum.probabilities(), 0.25)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fast_rate": 0.0}, r"fast_rate must be a finite number > 0, got 0.0"),
        ({"slow_rate": 1.5}, r"slow_rate must be in \(0, 1\], got 1.5"),
        ({"reweight_threshold": 1.0}, r"reweight_threshold must be in \(0, 1\), got 1.0"),
        ({"temperature": -1}, r"temperature must be a finite number > 0, got -1"),
    ],
)
def test_learning_progress_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LearningProgress(DiscreteTaskSpace(3), **kwargs)


# ------------------------------------------------------------ Learnability


def learnability_four_tasks(**kwargs) -> Learnability:
    curriculum = Learnability(DiscreteTaskSpace(4), top_k=2, learnable_prob=0.5, **kwargs)
    for task, success in [(0, 0.5), (1, 1.0), (2, 0.2), (3, 0.3)]:  # L = 0.25, 0, 0.16, 0.21
        report(curriculum, task, progress=success)
    return curriculum


def test_learnability_topk_buffer():
    curriculum = learnability_four_tasks()
    np.testing.assert_allclose(curriculum.learnability(), [0.25, 0.0, 0.16, 0.21], rtol=1e-6)
    assert curriculum.buffer().tolist() == [0, 3]
    expected = 0.5 * np.array([0.5, 0, 0, 0.5]) + 0.5 * 0.25
    np.testing.assert_allclose(curriculum.probabilities(), expected)
    np.testing.assert_allclose(empirical(curriculum, 4), expected, atol=0.01)
    assert curriculum.metrics()["buffer_fill"] == 1.0


def test_learnability_proportional_sampling_and_the_moving_average():
    curriculum = learnability_four_tasks(sampling="dist", ema_rate=0.5)
    scores = np.array([0.25, 0.0, 0.16, 0.21])
    np.testing.assert_allclose(curriculum.probabilities(), 0.5 * scores / scores.sum() + 0.125, rtol=1e-6)
    report(curriculum, 0, progress=1.0)  # p = 0.5 + 0.5 * (1 - 0.5) = 0.75: L = 0.1875
    assert curriculum.success_rates()[0] == pytest.approx(0.75)
    scores[0] = 0.1875
    np.testing.assert_allclose(curriculum.probabilities(), 0.5 * scores / scores.sum() + 0.125, rtol=1e-6)


def test_learnability_is_uniform_until_some_task_is_learnable():
    curriculum = Learnability(DiscreteTaskSpace(3), learnable_prob=1.0)
    np.testing.assert_allclose(curriculum.probabilities(), 1 / 3)
    report(curriculum, 0, progress=1.0)
    report(curriculum, 1, progress=0.0)
    np.testing.assert_allclose(curriculum.probabilities(), 1 / 3)
    report(curriculum, 2, progress=0.5)
    np.testing.assert_allclose(curriculum.probabilities(), [0, 0, 1])


def test_learnability_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"sampling must be 'topk' or 'dist', got 'rank'"):
        Learnability(DiscreteTaskSpace(3), sampling="rank")
    with pytest.raises(ValueError, match=r"learnable_prob must be in \[0, 1\], got 2"):
        Learnability(DiscreteTaskSpace(3), learnable_prob=2)


# ----------------------------------------------------------- shared contract


@pytest.mark.parametrize("curriculum_class", FINITE)
def test_finite_curricula_reject_infinite_task_spaces_naming_what_works(curriculum_class):
    name = curriculum_class.__name__
    with pytest.raises(ValueError, match=rf"{name} needs a finite task space .*got BoxTaskSpace.*use ALPGMM"):
        curriculum_class(BoxTaskSpace(0.0, 1.0))
    with pytest.raises(TypeError, match=rf"{name} needs a TaskSpace"):
        curriculum_class(5)


@pytest.mark.parametrize("curriculum_class", FINITE)
def test_finite_curricula_reject_tasks_outside_the_space(curriculum_class):
    curriculum = curriculum_class(DiscreteTaskSpace(["a", "b"]))
    with pytest.raises(TaskSpaceError):
        curriculum.update_on_episode(1.0, 1, "z", 1.0, score=1.0)


def feed_stream(curriculum, seed: int, num_tasks: int, episodes: int = 60) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        task = curriculum.sample()[0]
        index = curriculum.task_space.encode(task)
        curriculum.update_on_episode(
            float(rng.normal()), 5, task, float(rng.random() < (index + 1) / (num_tasks + 1)), score=float(rng.random())
        )


@pytest.mark.parametrize("curriculum_class", FINITE)
def test_state_dict_round_trip_continues_exactly(curriculum_class):
    space = DiscreteTaskSpace([f"level-{i}" for i in range(12)])
    original = curriculum_class(space, seed=4)
    feed_stream(original, 0, 12)
    state = pickle.loads(pickle.dumps(original.state_dict()))
    restored = curriculum_class(space, seed=99)
    restored.load_state_dict(state)
    np.testing.assert_array_equal(restored.probabilities(), original.probabilities())
    assert restored.metrics() == original.metrics()
    assert restored.sample(50) == original.sample(50)
    feed_stream(original, 1, 12)
    feed_stream(restored, 1, 12)
    assert restored.sample(50) == original.sample(50)
    np.testing.assert_array_equal(restored.probabilities(), original.probabilities())


@pytest.mark.parametrize("curriculum_class", FINITE)
def test_metrics_include_the_entropy_of_the_distribution(curriculum_class):
    curriculum = curriculum_class(DiscreteTaskSpace(6), seed=0)
    feed_stream(curriculum, 2, 6, episodes=30)
    probabilities = curriculum.probabilities()
    assert probabilities.sum() == pytest.approx(1.0)
    positive = probabilities[probabilities > 0]
    assert curriculum.metrics()["entropy"] == pytest.approx(-(positive * np.log(positive)).sum())


def test_sequential_curriculum_passes_the_score_to_its_stage():
    space = DiscreteTaskSpace(4)
    plr = PrioritizedLevelReplay(space, seed=0)
    sequential = SequentialCurriculum([plr], [], space)
    sequential.update_on_episode(1.0, 3, 2, 0.0, score=0.7)
    assert plr.buffer() == [(2, pytest.approx(0.7))]


def test_curricula_that_need_no_score_accept_one_from_the_base_signature():
    from syllabus_like import DomainRandomization

    DomainRandomization(DiscreteTaskSpace(3)).update_on_episode(1.0, 3, 1, 0.0, score=2.0)


@pytest.mark.parametrize("name", ["PLR", "LP", "SFL", "ALPGMM"])
def test_auto_curricula_accept_the_base_signatures_metrics_keyword(name):
    curriculum = make_curriculum(name)
    task = curriculum.sample(1)[0]
    curriculum.update_on_episode(1.0, 3, task, 0.5, score=0.5, metrics={"x": 1.0})


# ------------------------------------------------------- task-server backend


def make_curriculum(name: str):
    space = DiscreteTaskSpace(8)
    if name == "ALPGMM":
        return ALPGMM(BoxTaskSpace(0.0, 1.0), fit_rate=20, seed=0)
    return {"PLR": PrioritizedLevelReplay, "LP": LearningProgress, "SFL": Learnability}[name](space, seed=0)


def report_through(source, episodes: int, seed: int) -> list[tuple]:
    """Play ``episodes`` fake episodes on tasks from ``source``; return the reports sent."""
    rng = np.random.default_rng(seed)
    reports = []
    for _ in range(episodes):
        task = source.sample()[0]
        reports.append((float(rng.random()), 4, task, float(rng.random() < 0.5), float(rng.random())))
        episode_return, length, task, progress, score = reports[-1]
        source.update_on_episode(episode_return, length, task, progress, score=score)
    return reports


def play_in_worker(client, episodes: int, seed: int, done) -> None:
    report_through(client, episodes, seed)
    client.flush()
    done.put(True)


@pytest.mark.parametrize("name", ["PLR", "LP", "SFL", "ALPGMM"])
def test_every_curriculum_learns_through_the_process_backend(name):
    curriculum = make_curriculum(name)
    with TaskServer(curriculum, backend="process") as server:
        client = server.client()
        reports = report_through(client, 60, seed=7)
        server.flush(timeout=30)
        served = server.curriculum
    # The same reports applied directly give the same distribution: every report (and score) arrived once.
    direct = make_curriculum(name)
    for episode_return, length, task, progress, score in reports:
        direct.update_on_episode(episode_return, length, task, progress, score=score)
    if name == "ALPGMM":
        assert served.metrics()["episodes"] == 60
        assert served.metrics()["mean_alp"] == pytest.approx(direct.metrics()["mean_alp"])
    else:
        np.testing.assert_allclose(served.probabilities(), direct.probabilities(), rtol=1e-12)
        assert served.metrics() == pytest.approx(direct.metrics())


def test_plr_scores_from_a_spawned_worker_reach_the_server():
    curriculum = PrioritizedLevelReplay(DiscreteTaskSpace(8), buffer_size=8, seed=0)
    context = mp.get_context("spawn")
    done = context.Queue()
    with TaskServer(curriculum, backend="process") as server:
        worker = context.Process(target=play_in_worker, args=(server.client(), 40, 3, done))
        worker.start()
        assert done.get(timeout=120)
        worker.join(timeout=60)
        assert worker.exitcode == 0
        server.flush(timeout=30)
        assert server.curriculum.metrics()["episodes"] == 40
        assert server.curriculum.metrics()["buffer_fill"] > 0


# ------------------------------------------------------------------ ALP-GMM


def test_alpgmm_rejects_finite_and_mixed_task_spaces():
    with pytest.raises(ValueError, match=r"ALPGMM needs a BoxTaskSpace.*got DiscreteTaskSpace"):
        ALPGMM(DiscreteTaskSpace(3))
    with pytest.raises(ValueError, match=r"ALPGMM needs a BoxTaskSpace.*got TupleTaskSpace"):
        ALPGMM(TupleTaskSpace([BoxTaskSpace(0.0, 1.0), DiscreteTaskSpace(2)]))


def test_alpgmm_names_the_extra_when_scikit_learn_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.mixture", None)
    with pytest.raises(ImportError, match=r"pip install 'syllabus-like\[alpgmm\]'"):
        ALPGMM(BoxTaskSpace(0.0, 1.0))


def test_alpgmm_alp_is_the_outcome_change_from_the_nearest_task():
    curriculum = ALPGMM(BoxTaskSpace(0.0, 10.0), outcome_range=(0.0, 1.0), fit_rate=100)
    curriculum.update_on_episode(0.0, 1, np.array(1.0))
    curriculum.update_on_episode(1.0, 1, np.array(9.0))  # nearest: 1.0 (outcome 0): ALP 1
    curriculum.update_on_episode(0.25, 1, np.array(8.0))  # nearest: 9.0 (outcome 1): ALP 0.75
    assert curriculum.metrics()["mean_alp"] == pytest.approx((0.0 + 1.0 + 0.75) / 3)


def test_alpgmm_bootstraps_uniformly_then_samples_where_progress_is():
    curriculum = ALPGMM(BoxTaskSpace(0.0, 1.0, shape=(2,)), fit_rate=100, random_task_ratio=0.1, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(100):
        assert curriculum.metrics()["bootstrap"] == 1.0
        task = curriculum.sample()[0]
        # The outcome changes (noisy success) only where x < 0.3; elsewhere it is always 0.
        outcome = float(rng.random() < 0.5) if task[0] < 0.3 else 0.0
        curriculum.update_on_episode(outcome, 1, task)
    assert curriculum.metrics()["bootstrap"] == 0.0
    tasks = np.array(curriculum.sample(2000))
    assert tasks.shape == (2000, 2)
    assert np.all((tasks >= 0.0) & (tasks <= 1.0))
    assert np.mean(tasks[:, 0] < 0.3) > 0.6  # uniform would give 0.3


@pytest.mark.parametrize(
    "space",
    [
        TupleTaskSpace([BoxTaskSpace(0.0, 1.0), BoxTaskSpace(-1.0, 1.0, shape=(2,))]),
        DictTaskSpace({"gap": BoxTaskSpace(0.0, 2.0), "height": BoxTaskSpace(0.0, 1.0)}),
    ],
)
def test_alpgmm_state_round_trip_over_tuple_and_dict_spaces(space):
    original = ALPGMM(space, fit_rate=30, seed=1)
    rng = np.random.default_rng(1)
    for _ in range(70):
        task = original.sample()[0]
        assert task in space
        original.update_on_episode(float(rng.random()), 1, task)
    assert original.metrics()["components"] >= 2
    restored = ALPGMM(space, fit_rate=30, seed=2)
    restored.load_state_dict(pickle.loads(pickle.dumps(original.state_dict())))

    def flat(tasks):
        return np.concatenate(
            [np.concatenate([np.ravel(v) for v in (t.values() if isinstance(t, dict) else t)]) for t in tasks]
        )  # noqa: E731

    np.testing.assert_array_equal(flat(restored.sample(20)), flat(original.sample(20)))
    assert original.probabilities() is None


def test_plr_new_levels_are_uniform_over_the_tasks_outside_a_nearly_full_buffer():
    curriculum = PrioritizedLevelReplay(DiscreteTaskSpace(10), buffer_size=7, replay_prob=0.0, seed=5)
    for task in range(7):
        report(curriculum, task, score=float(task))
    assert set(curriculum.sample(3000)) == {7, 8, 9}
    np.testing.assert_allclose(empirical(curriculum, 10)[7:], 1 / 3, atol=0.015)
    report(curriculum, 8, score=10.0)  # enters; the lowest (task 0) leaves the buffer
    assert set(curriculum.sample(3000)) == {0, 7, 9}
    report(curriculum, 0, score=-1.0)  # does not beat the lowest: stays outside
    assert set(curriculum.sample(3000)) == {0, 7, 9}
    np.testing.assert_allclose(curriculum.probabilities()[[0, 7, 9]], 1 / 3)


def test_importing_the_library_does_not_import_scikit_learn():
    import subprocess

    code = (
        "import sys, syllabus_like; print(sorted(m for m in ('sklearn', 'matplotlib', 'rliable') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


@pytest.mark.parametrize("temperature", [1.0, 0.05])
def test_learning_progress_draws_follow_probabilities_when_skewed(temperature):
    # A low temperature makes most proposals fail, so draws also take the table fallback.
    curriculum = LearningProgress(DiscreteTaskSpace(40), fast_rate=0.5, slow_rate=0.1, temperature=temperature, seed=2)
    rng = np.random.default_rng(0)
    for _ in range(300):
        task = int(rng.integers(40))
        report(curriculum, task, progress=float(rng.random() < task / 40))
    expected = curriculum.probabilities()
    assert expected.max() > 1.5 / 40  # skewed, not uniform
    np.testing.assert_allclose(empirical(curriculum, 40, draws=60_000), expected, atol=0.006)


def test_learnability_dist_draws_follow_probabilities():
    curriculum = learnability_four_tasks(sampling="dist")
    np.testing.assert_allclose(empirical(curriculum, 4), curriculum.probabilities(), atol=0.01)


@pytest.mark.parametrize("curriculum_class", [LearningProgress, Learnability])
def test_nan_progress_is_rejected(curriculum_class):
    with pytest.raises(ValueError, match=rf"{curriculum_class.__name__} needs a progress .* got NaN"):
        curriculum_class(DiscreteTaskSpace(3)).update_on_episode(0.0, 1, 0, float("nan"))


@pytest.mark.ray
def test_plr_scores_reach_the_curriculum_through_the_ray_backend():
    ray = pytest.importorskip("ray", reason="the ray extra is part of the test install")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        curriculum = make_curriculum("PLR")
        with TaskServer(curriculum, backend="ray") as server:
            client = server.client()
            reports = report_through(client, 40, seed=11)
            client.flush()  # the Ray client batches reports (prefetch="auto"): send the last ones
            server.flush(timeout=60)
            served_probabilities = server.curriculum.probabilities()
        direct = make_curriculum("PLR")
        for episode_return, length, task, progress, score in reports:
            direct.update_on_episode(episode_return, length, task, progress, score=score)
        np.testing.assert_allclose(served_probabilities, direct.probabilities(), rtol=1e-12)
    finally:
        if started_here:
            ray.shutdown()


def test_a_plr_subclass_that_draws_or_replays_its_own_way_is_asked_for_single_draws_too():
    class Fixed(PrioritizedLevelReplay):
        def _sample(self, k):
            return [3] * k

    assert [Fixed(DiscreteTaskSpace(8), seed=0).sample(1)[0] for _ in range(5)] == [3] * 5

    class NeverReplays(PrioritizedLevelReplay):
        def effective_replay_prob(self):
            return 0.0

    curriculum = NeverReplays(DiscreteTaskSpace(8), buffer_size=4, seed=0)
    for task in range(4):
        curriculum.update_on_episode(1.0, 5, task, score=1.0)
    assert all(curriculum.sample(1)[0] >= 4 for _ in range(100))  # only tasks outside the buffer
