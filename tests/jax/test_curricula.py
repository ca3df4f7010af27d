"""Functional curricula: Constant, DomainRandomization, PLR, LearningProgress, sampling, state I/O."""

from __future__ import annotations

import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from syllabus_like.jax import (
    Constant,
    DomainRandomization,
    EpisodeAccumulator,
    EpisodeBatch,
    LearningProgress,
    PrioritizedLevelReplay,
    SequentialCurriculum,
    categorical_from_cdf,
    cumulative_weights,
    episode_means,
    load_state,
    max_mc_scores,
    positive_value_loss,
    save_state,
    state_from_bytes,
    state_to_bytes,
)
from syllabus_like.jax._numerics import prefix_sum

# Jitted entry points shared by the tests (compiling whole methods is faster than running them op by op).
UPDATE = eqx.filter_jit(lambda curriculum, state, batch: curriculum.update(state, batch))
SAMPLE = eqx.filter_jit(lambda curriculum, state, key, n: curriculum.sample(state, key, n))
PROBABILITIES = eqx.filter_jit(lambda curriculum, state: curriculum.probabilities(state))


def _frequencies(task_ids, num_tasks: int) -> np.ndarray:
    return np.bincount(np.asarray(task_ids), minlength=num_tasks) / np.size(task_ids)


# -------------------------------------------------------------------- sampling
@pytest.mark.parametrize(
    ("shape", "axis"),
    [
        ((0,), 0),
        ((1,), 0),
        ((16,), 0),
        ((17,), 0),
        ((257,), 0),
        ((5000,), 0),
        ((3, 300), 1),
        ((300, 3), 0),
        ((2, 33, 4), 1),
    ],
)
def test_prefix_sum_equals_cumsum_exactly_for_integers(shape, axis):
    rng = np.random.default_rng(sum(shape))
    values = rng.integers(-(2**15), 2**15, size=shape).astype(np.int32)
    expected = np.cumsum(values, axis=axis, dtype=np.int32)
    np.testing.assert_array_equal(np.asarray(jax.jit(prefix_sum, static_argnums=1)(values, axis)), expected)
    floats = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(np.asarray(prefix_sum(floats, axis)), np.cumsum(floats, axis=axis), atol=1e-3)


def test_inverse_cdf_sampling_follows_the_weights_and_skips_zero_weights():
    weights = jnp.array([0.0, 3.0, 0.0, 1.0, 0.0])
    cdf = cumulative_weights(weights)
    draws = categorical_from_cdf(cdf, jax.random.uniform(jax.random.key(0), (100_000,)))
    frequencies = _frequencies(draws, 5)
    assert frequencies[[0, 2, 4]].sum() == 0
    assert frequencies[1] == pytest.approx(0.75, abs=0.01)
    # The largest float32 below 1 must not run past the last task with weight.
    assert int(categorical_from_cdf(cdf, jnp.float32(1 - 2**-24))) == 3


def test_uniform_indices_are_the_exact_multiply_shift_and_uniform_for_traced_sizes():
    from syllabus_like.jax.curricula.sampling import _high_word, uniform_indices

    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**32, 50_000, dtype=np.uint64)
    b = rng.integers(1, 2**32, 50_000, dtype=np.uint64)
    high = _high_word(jnp.asarray(a.astype(np.uint32)), jnp.asarray(b.astype(np.uint32)))
    # a * b < 2**64: numpy's uint64 product is exact.
    np.testing.assert_array_equal(np.asarray(high), ((a * b) >> np.uint64(32)).astype(np.uint32))

    draw = jax.jit(uniform_indices, static_argnums=1)
    for size in (1, 3, 1000, 2**31 - 1):
        draws = np.asarray(draw(jax.random.key(size), 20_000, jnp.int32(size)))
        assert draws.min() >= 0 and draws.max() < size
    assert draw._cache_size() == 1  # the size is traced: one compilation for every size
    draws = np.asarray(draw(jax.random.key(7), 300_000, jnp.int32(6)))
    counts = np.bincount(draws, minlength=6)
    expected = draws.size / 6
    assert ((counts - expected) ** 2 / expected).sum() < 25  # chi-square, 5 dof: p < 1e-4 to fail by chance


# --------------------------------------------------------- Constant and DR
def test_constant_always_samples_its_task_and_can_be_swapped_without_recompiling():
    traces = []

    @eqx.filter_jit
    def draw(curriculum, state, key):
        traces.append(1)
        return curriculum.sample(state, key, 6)[1]

    curriculum = Constant(5, 3)
    state = curriculum.init(jax.random.key(0))
    assert np.array_equal(draw(curriculum, state, jax.random.key(1)), [3] * 6)
    other = eqx.tree_at(lambda c: c.task_id, curriculum, jnp.int32(1))
    assert np.array_equal(draw(other, state, jax.random.key(1)), [1] * 6)
    assert len(traces) == 1
    assert np.array_equal(curriculum.probabilities(state), [0, 0, 0, 1, 0])
    with pytest.raises(ValueError, match=r"Constant task_id must be an int in \[0, 5\), got 7"):
        Constant(5, 7)


def test_domain_randomization_is_uniform_and_seeded_by_the_key():
    curriculum = DomainRandomization(7)
    state = curriculum.init(jax.random.key(0))
    _, tasks = curriculum.sample(state, jax.random.key(1), 70_000)
    assert np.allclose(_frequencies(tasks, 7), 1 / 7, atol=0.01)
    _, again = curriculum.sample(state, jax.random.key(1), 70_000)
    assert np.array_equal(tasks, again)
    draws = jax.vmap(lambda key: curriculum.sample(state, key, 16)[1])(jax.random.split(jax.random.key(2), 3))
    assert draws.shape == (3, 16) and not np.array_equal(draws[0], draws[1])
    assert np.allclose(curriculum.probabilities(state), 1 / 7)
    with pytest.raises(ValueError, match="n must be a non-negative Python int"):
        curriculum.sample(state, jax.random.key(1), 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="DomainRandomization needs num_tasks, a positive int, got 0"):
        DomainRandomization(0)


# ------------------------------------------------------------------------ PLR
class ReferencePLR:
    """A plain-Python PLR with the documented semantics, one level at a time."""

    def __init__(self, num_tasks, size, temperature, staleness_coef, replay_prob, top_k=None):
        self.num_tasks, self.size = num_tasks, size
        self.temperature, self.rho, self.p, self.top_k = temperature, staleness_coef, replay_prob, top_k
        self.buffer: list[list] = []  # [task, score, last_played], best score first
        self.count = 0

    def update(self, tasks, scores, done):
        per_task: dict[int, list[float]] = {}
        for task, score, finished in zip(tasks, scores, done, strict=False):
            if finished:
                per_task.setdefault(int(task), []).append(float(np.float32(score)))
        self.count += int(np.sum(done))
        means = {task: np.float32(np.mean(np.asarray(v, np.float32), dtype=np.float32)) for task, v in per_task.items()}
        for entry in self.buffer:
            if entry[0] in means:
                entry[1], entry[2] = means[entry[0]], self.count
        in_buffer = {entry[0] for entry in self.buffer}
        candidates = [[task, means[task], self.count] for task in sorted(means) if task not in in_buffer]
        merged = self.buffer + candidates  # stable sort: ties keep buffer entries, then lower task ids
        merged.sort(key=lambda entry: -entry[1])
        self.buffer = merged[: self.size]

    def probabilities(self):
        k = len(self.buffer)
        ranks = np.arange(1, k + 1, dtype=np.float64)
        h = (ranks <= self.top_k).astype(float) if self.top_k else ranks ** (-1.0 / self.temperature)
        score_part = h / h.sum()
        staleness = np.array([self.count - entry[2] for entry in self.buffer], dtype=float)
        stale_part = staleness / staleness.sum() if staleness.sum() > 0 else np.full(k, 1 / k)
        replay = (1 - self.rho) * score_part + self.rho * stale_part
        outside = [t for t in range(self.num_tasks) if t not in {e[0] for e in self.buffer}]
        p = 0.0 if k == 0 else (1.0 if not outside else self.p)
        result = np.zeros(self.num_tasks)
        for entry, weight in zip(self.buffer, replay, strict=False):
            result[entry[0]] += p * weight
        for task in outside:
            result[task] += (1 - p) / len(outside)
        return result


@pytest.mark.parametrize("top_k", [None, 3])
def test_plr_buffer_and_distribution_match_the_reference(top_k):
    num_tasks, size = 12, 5
    kwargs = dict(temperature=0.5, staleness_coef=0.3, replay_prob=0.7)
    curriculum = PrioritizedLevelReplay(
        num_tasks, size, prioritization="topk" if top_k else "rank", top_k=top_k or 1, **kwargs
    )
    reference = ReferencePLR(num_tasks, size, top_k=top_k, **kwargs)
    state = curriculum.init(jax.random.key(0))
    update = eqx.filter_jit(lambda c, s, b: c.update(s, b))
    rng = np.random.default_rng(0)
    for _ in range(6):
        tasks = rng.integers(0, num_tasks, (3, 4))
        scores = np.round(rng.random((3, 4)), 1).astype(np.float32)  # rounding makes ties happen
        done = rng.random((3, 4)) < 0.6
        state = update(
            curriculum, state, EpisodeBatch(tasks, np.zeros((3, 4)), np.ones((3, 4)), done=done, score=scores)
        )
        reference.update(tasks.reshape(-1), scores.reshape(-1), done.reshape(-1))
        filled = len(reference.buffer)
        assert np.asarray(state.levels[:filled]).tolist() == [e[0] for e in reference.buffer]
        assert np.all(np.asarray(state.levels[filled:]) == -1)
        assert np.allclose(state.scores[:filled], [e[1] for e in reference.buffer])
        assert np.asarray(state.last_played[:filled]).tolist() == [e[2] for e in reference.buffer]
        assert np.allclose(curriculum.probabilities(state), reference.probabilities(), atol=1e-6)
        in_buffer = np.asarray(state.slot_of_task) >= 0
        assert np.array_equal(np.flatnonzero(in_buffer), np.sort(np.asarray(state.levels[:filled])))
    # Sampling follows probabilities().
    _, draws = curriculum.sample(state, jax.random.key(1), 200_000)
    assert np.abs(_frequencies(draws, num_tasks) - curriculum.probabilities(state)).sum() < 0.02


def test_plr_replays_everything_once_every_task_is_buffered_and_respects_min_fill():
    curriculum = PrioritizedLevelReplay(4, 8, replay_prob=0.2, min_fill=0.75)
    state = curriculum.init(jax.random.key(0))
    assert curriculum.buffer_size == 4  # clamped to the number of tasks
    assert float(curriculum.effective_replay_prob(state)) == 0.0
    state = UPDATE(curriculum, state, EpisodeBatch([0, 1], [0, 0], [1, 1], score=[1.0, 2.0]))
    assert float(curriculum.effective_replay_prob(state)) == 0.0  # 2 of 4 < 75 %
    _, draws = SAMPLE(curriculum, state, jax.random.key(0), 1000)
    assert set(np.asarray(draws).tolist()) == {2, 3}  # only new levels while filling
    state = UPDATE(curriculum, state, EpisodeBatch([2, 3], [0, 0], [1, 1], score=[0.5, 0.1]))
    assert float(curriculum.effective_replay_prob(state)) == 1.0  # nothing left outside the buffer
    assert float(PROBABILITIES(curriculum, state).sum()) == pytest.approx(1.0)


def test_plr_evicts_the_lowest_score_and_tracks_max_returns():
    curriculum = PrioritizedLevelReplay(10, 2)
    state = curriculum.init(jax.random.key(0))
    state = UPDATE(curriculum, state, EpisodeBatch([4, 5], [3.0, 1.0], [1, 1], score=[0.2, 0.9]))
    state = UPDATE(curriculum, state, EpisodeBatch([7, 4], [0.0, 8.0], [1, 1], score=[0.5, 0.1]))
    assert np.asarray(state.levels).tolist() == [5, 7]  # level 4 dropped to 0.1 and was evicted
    max_returns = np.asarray(curriculum.max_returns(state))
    assert max_returns[5] == 1.0 and max_returns[7] == 0.0 and np.isneginf(max_returns[4])


def test_plr_tunables_do_not_recompile_and_change_the_distribution():
    traces = []

    @eqx.filter_jit
    def probabilities(curriculum, state):
        traces.append(1)
        return curriculum.probabilities(state)

    curriculum = PrioritizedLevelReplay(6, 6, replay_prob=0.5, temperature=1.0)
    state = UPDATE(
        curriculum,
        curriculum.init(jax.random.key(0)),
        EpisodeBatch([0, 1, 2], [0, 0, 0], [1, 1, 1], score=[3.0, 2.0, 1.0]),
    )
    base = probabilities(curriculum, state)
    sharper = probabilities(eqx.tree_at(lambda c: c.temperature, curriculum, jnp.float32(0.1)), state)
    more_replay = probabilities(eqx.tree_at(lambda c: c.replay_prob, curriculum, jnp.float32(0.9)), state)
    assert len(traces) == 1
    assert float(sharper[0]) > float(base[0])
    assert float(more_replay[:3].sum()) == pytest.approx(0.9)
    # The state caches the replay table built with temperature 1.0; sampling with the changed
    # Module must not use that stale table.
    sharper_curriculum = eqx.tree_at(lambda c: c.temperature, curriculum, jnp.float32(0.1))
    _, draws = eqx.filter_jit(sharper_curriculum.sample)(state, jax.random.key(3), 100_000)
    assert np.abs(_frequencies(draws, 6) - np.asarray(sharper)).sum() < 0.02
    # The replay probability is in the cached table too (it splits the table between replay and new levels).
    more_replay_curriculum = eqx.tree_at(lambda c: c.replay_prob, curriculum, jnp.float32(0.9))
    _, draws = eqx.filter_jit(more_replay_curriculum.sample)(state, jax.random.key(4), 100_000)
    assert np.abs(_frequencies(draws, 6) - np.asarray(more_replay)).sum() < 0.02


def test_plr_needs_scores_and_validates_its_arguments():
    curriculum = PrioritizedLevelReplay(4)
    with pytest.raises(ValueError, match="needs EpisodeBatch.score"):
        UPDATE(curriculum, curriculum.init(jax.random.key(0)), EpisodeBatch([0], [1.0], [1]))
    with pytest.raises(ValueError, match="prioritization must be 'rank' or 'topk', got 'value'"):
        PrioritizedLevelReplay(4, prioritization="value")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"replay_prob must be in \[0, 1\], got 1.5"):
        PrioritizedLevelReplay(4, replay_prob=1.5)
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        PrioritizedLevelReplay(4, temperature=0)
    with pytest.raises(ValueError, match="buffer_size must be a positive int"):
        PrioritizedLevelReplay(4, buffer_size=0)


# ---------------------------------------------------------- PLR score helpers
def test_positive_value_loss_is_clipped_gae():
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(5, 2)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)
    dones = np.zeros((5, 2), bool)
    dones[2, 0] = True
    last_value = rng.normal(size=2).astype(np.float32)
    gamma, lam = 0.9, 0.8
    expected = np.zeros((5, 2))
    for b in range(2):
        advantage = 0.0
        for t in reversed(range(5)):
            next_value = last_value[b] if t == 4 else values[t + 1, b]
            keep = 0.0 if dones[t, b] else 1.0
            delta = rewards[t, b] + gamma * next_value * keep - values[t, b]
            advantage = delta + gamma * lam * keep * advantage
            expected[t, b] = max(advantage, 0.0)
    got = positive_value_loss(rewards, values, dones, last_value, gamma=gamma, gae_lambda=lam)
    assert np.allclose(got, expected, atol=1e-5)


def test_episode_means_carry_over_rollout_boundaries():
    per_step = jnp.arange(12, dtype=jnp.float32).reshape(6, 2)
    dones = np.zeros((6, 2), bool)
    dones[1, 0] = dones[4, 0] = dones[2, 1] = True
    first, carry = episode_means(per_step[:3], dones[:3])
    second, carry = episode_means(per_step[3:], dones[3:], carry)
    means = np.concatenate([first, second])
    assert means[1, 0] == pytest.approx((0 + 2) / 2)
    assert means[4, 0] == pytest.approx((4 + 6 + 8) / 3)  # episode spans both calls
    assert means[2, 1] == pytest.approx((1 + 3 + 5) / 3)
    assert np.count_nonzero(means) == 3
    assert int(carry.count[0]) == 1 and int(carry.count[1]) == 3
    assert isinstance(carry, EpisodeAccumulator)
    scores = max_mc_scores(jnp.array([5.0, -jnp.inf]), jnp.array([0, 1]), jnp.array([7.0, 2.0]), jnp.array([1.0, 1.0]))
    assert np.allclose(scores, [6.0, 1.0])


# --------------------------------------------------------- LearningProgress
def test_learning_progress_emas_and_sampling_weights():
    curriculum = LearningProgress(4, fast_rate=0.5, slow_rate=0.25, reweight_threshold=0.1)
    state = curriculum.init(jax.random.key(0))
    successes = [[0.0, 0.5, 0.0], [1.0, 0.5, 0.0], [1.0, 0.5, 0.0]]
    fast = slow = None
    for row in successes:
        state = UPDATE(curriculum, state, EpisodeBatch([0, 1, 2], [0, 0, 0], [1, 1, 1], progress=row))
        p = np.array(row)
        if fast is None:
            fast, slow = p.copy(), p.copy()
        else:
            fast = fast + 0.5 * (p - fast)
            slow = slow + 0.25 * (fast - slow)
    assert np.allclose(state.fast[:3], fast) and np.allclose(state.slow[:3], slow)
    assert np.array_equal(state.seen, [True, True, True, False])

    def f(p):
        return 0.9 * p / (p + 0.1 * (1 - 2 * p))

    progress = np.abs(f(fast) - f(slow))
    assert np.allclose(curriculum.learning_progress(state), list(progress) + [0.0], atol=1e-6)
    probabilities = np.asarray(PROBABILITIES(curriculum, state))
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[0] > 2 * probabilities[1]  # task 0 is being learned, task 1 is flat
    _, draws = SAMPLE(curriculum, state, jax.random.key(1), 100_000)
    assert np.abs(_frequencies(draws, 4) - probabilities).sum() < 0.02
    # A changed temperature is used by the next draws, although the state caches the old table.
    flatter = eqx.tree_at(lambda c: c.temperature, curriculum, jnp.float32(100.0))
    _, draws = SAMPLE(flatter, state, jax.random.key(2), 100_000)
    assert np.allclose(PROBABILITIES(flatter, state), 0.25, atol=0.01)
    assert np.abs(_frequencies(draws, 4) - 0.25).sum() < 0.03
    with pytest.raises(ValueError, match=r"fast_rate must be in \(0, 1\], got 0"):
        LearningProgress(4, fast_rate=0)


# ------------------------------------------------------------ vmap, jit, scan
def _curricula():
    return {
        "constant": Constant(8, 2),
        "domain_randomization": DomainRandomization(8),
        "sequential": SequentialCurriculum([[0, 1], [2, 3, 4]], ["episodes >= 6"], 8),
        "plr": PrioritizedLevelReplay(8, 4, replay_prob=0.6),
        "learning_progress": LearningProgress(8),
    }


def _continue(curriculum, state, key, steps: int = 5, envs: int = 4):
    """Sample, fake episodes, update, ``steps`` times: a lax.scan loop inside one jitted program."""

    def step(state, key):
        sample_key, episode_key = jax.random.split(key)
        state, tasks = curriculum.sample(state, sample_key, envs)
        noise = jax.random.uniform(episode_key, (envs,))
        batch = EpisodeBatch(tasks, noise, jnp.full((envs,), 3), progress=noise, done=noise < 0.8, score=noise)
        return curriculum.update(state, batch), tasks

    return jax.lax.scan(step, state, jax.random.split(key, steps))


def _train(curriculum, key):
    init_key, loop_key = jax.random.split(key)
    return _continue(curriculum, curriculum.init(init_key), loop_key)


@pytest.mark.parametrize("name", sorted(_curricula()))
def test_every_curriculum_runs_under_jit_vmap_and_scan(name):
    curriculum = _curricula()[name]
    states, tasks = eqx.filter_jit(jax.vmap(lambda key: _train(curriculum, key)))(
        jax.random.split(jax.random.key(0), 3)
    )
    assert tasks.shape == (3, 5, 4) and tasks.dtype == jnp.int32
    assert ((np.asarray(tasks) >= 0) & (np.asarray(tasks) < 8)).all()
    probabilities = jax.vmap(curriculum.probabilities, axis_size=3)(states)
    assert probabilities.shape == (3, 8)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(_curricula()))
def test_saved_state_and_key_continue_identically(name, tmp_path):
    curriculum = _curricula()[name]
    run = eqx.filter_jit(_continue)
    state, _ = run(curriculum, curriculum.init(jax.random.key(0)), jax.random.key(1))
    key = jax.random.key(7)
    template = (curriculum.init(jax.random.key(0)), jax.random.key(0))

    save_state(tmp_path / "state.npz", (state, key))
    restored_state, restored_key = load_state(tmp_path / "state.npz", like=template)
    assert jax.tree_util.tree_structure(restored_state) == jax.tree_util.tree_structure(state)

    original = run(curriculum, state, key)
    continued = run(curriculum, restored_state, restored_key)
    elsewhere = run(curriculum, state, jax.random.key(8))
    # A second copy through bytes, with an old-style uint32 key.
    raw_state, raw_key = state_from_bytes(
        state_to_bytes((state, jax.random.PRNGKey(3))), like=(template[0], jax.random.PRNGKey(0))
    )
    assert np.array_equal(raw_key, jax.random.PRNGKey(3))
    for a, b in zip(jax.tree.leaves(original), jax.tree.leaves(continued), strict=False):
        assert np.array_equal(a, b)
    if name != "constant":  # the check can fail: the key must matter
        assert not np.array_equal(original[1], elsewhere[1])
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(raw_state), strict=False):
        assert np.array_equal(a, b)


def test_loading_checks_the_template_and_the_data():
    curriculum = PrioritizedLevelReplay(8, 4)
    blob = state_to_bytes(curriculum.init(jax.random.key(0)))
    with pytest.raises(ValueError, match=r"leaf .levels: saved int32\[4\] does not match template int32\[2\]"):
        state_from_bytes(blob, like=PrioritizedLevelReplay(8, 2).init(jax.random.key(0)))
    with pytest.raises(ValueError, match="saved state has 8 leaves, the template has 0"):
        state_from_bytes(blob, like=DomainRandomization(3).init(jax.random.key(0)))
    with pytest.raises(ValueError, match="not a saved curriculum state"):
        state_from_bytes(b"definitely not npz", like=curriculum.init(jax.random.key(0)))
    with pytest.raises(ValueError, match="template is a PRNG key, saved leaf is a plain array"):
        state_from_bytes(state_to_bytes(jax.random.PRNGKey(0)), like=jax.random.key(0))


def test_missing_jax_names_the_extra_to_install():
    code = (
        "import sys; sys.modules['jax'] = None\n"
        "try:\n"
        "    import syllabus_like.jax\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install 'syllabus-like[jax]'" in result.stdout, result.stderr


def _built_in_curricula() -> dict[str, object]:
    return {
        "Constant": Constant(6, 2),
        "DomainRandomization": DomainRandomization(6),
        "PrioritizedLevelReplay": PrioritizedLevelReplay(6, 4, replay_prob=0.5),
        "LearningProgress": LearningProgress(6),
        "SequentialCurriculum on episodes": SequentialCurriculum([[0, 1], [2, 3]], ["episodes >= 3"], 6),
        "SequentialCurriculum on tasks": SequentialCurriculum([[0, 1], [2, 3]], ["tasks >= 3"], 6),
    }


DRAWING_AHEAD = ("PrioritizedLevelReplay", "LearningProgress", "SequentialCurriculum on episodes")


@pytest.mark.parametrize("name", list(_built_in_curricula()))
def test_drawing_ahead_then_counting_the_draws_handed_out_is_a_masked_sample(name):
    """The contract a rollout relies on: sample(mask=m) == sample(mask=none used), then count_draws(m)."""
    curriculum = _built_in_curricula()[name]
    assert curriculum.draws_ahead == (name in DRAWING_AHEAD)
    state = curriculum.init(jax.random.key(0))
    key = jax.random.key(1)
    mask = jnp.array([True, False, True, False, False])
    masked_state, masked_draws = curriculum.sample(state, key, 5, mask=mask)
    ahead_state, ahead_draws = curriculum.sample(state, key, 5, mask=jnp.zeros(5, bool))
    counted = curriculum.count_draws(ahead_state, mask)
    same_state = all(
        np.array_equal(a, b) for a, b in zip(jax.tree.leaves(masked_state), jax.tree.leaves(counted), strict=True)
    )
    if curriculum.draws_ahead:
        assert same_state and np.array_equal(masked_draws, ahead_draws)
    if name.startswith("SequentialCurriculum"):
        assert int(masked_state.tasks) == int(counted.tasks) == 2 and int(ahead_state.tasks) == 0
