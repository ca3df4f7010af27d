"""The JAX SequentialCurriculum against the Python one: same stream, same switches."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from syllabus_like.curricula import DomainRandomization as PythonDomainRandomization
from syllabus_like.curricula.sequential import SEQUENTIAL_METRICS as PYTHON_METRICS
from syllabus_like.curricula.sequential import SequentialCurriculum as PythonSequential
from syllabus_like.jax import SEQUENTIAL_METRICS, EpisodeBatch, SequentialCurriculum
from syllabus_like.jax.curricula import sequential as sequential_module
from syllabus_like.task_space import DiscreteTaskSpace

CONFIGS = {
    "lists_and_constant": dict(
        curriculum_list=[[0, 1], 2, [3, 4, 5]],
        stopping_conditions=["episodes >= 6 & episode_return > 0.45", "total_episodes >= 30 | steps > 150"],
        loop=False,
        return_buffer_size=5,
    ),
    "loop_over_all_metrics": dict(
        curriculum_list=[[0, 1, 2], [3], [4, 5]],
        stopping_conditions=[
            "tasks >= 12 & episodes >= 3",
            "episode_return >= 0.5 | total_tasks > 60",
            "!(steps < 40) & total_steps > 100",
        ],
        loop=True,
        return_buffer_size=3,
    ),
}


def _stream(seed: int, length: int, num_tasks: int = 6):
    rng = np.random.default_rng(seed)
    tasks = rng.integers(0, num_tasks, length)
    returns = rng.random(length).astype(np.float32)
    lengths = rng.integers(1, 25, length)
    samples = rng.integers(0, 4, length)  # tasks sampled before each episode
    return tasks, returns, lengths, samples


def _python_metrics(curriculum: PythonSequential) -> dict[str, float]:
    """The Python curriculum's values of the metrics both runtimes compute."""
    values = curriculum.stage_metrics()
    return {"stage": float(curriculum.stage), **{name: values[name] for name in SEQUENTIAL_METRICS if name in values}}


_metrics = eqx.filter_jit(lambda curriculum, state: curriculum.metrics(state))


def _assert_same_metrics(jax_metrics: dict, python: dict[str, float], where: str) -> None:
    for name, value in python.items():
        got = float(jax_metrics[name])
        if name == "episode_return":
            assert got == pytest.approx(value, rel=1e-6), (where, name)
        else:
            assert got == value, (where, name, got, value)
    if "episode_return" not in python:
        assert np.isnan(float(jax_metrics["episode_return"])), where


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_switches_at_the_same_episode_one_episode_at_a_time(name):
    config = CONFIGS[name]
    space = DiscreteTaskSpace(6)
    python = PythonSequential(task_space=space, seed=0, **config)
    curriculum = SequentialCurriculum(task_space=space, **config)

    update = eqx.filter_jit(lambda c, s, b: c.update(s, b))
    sample = eqx.filter_jit(lambda c, s, k, m: c.sample(s, k, 3, mask=m))
    state = curriculum.init(jax.random.key(0))
    key = jax.random.key(1)
    switches_python, switches_jax = [], []
    for index, (task, ret, length, k) in enumerate(zip(*_stream(1, 160), strict=False)):
        python.sample(int(k))
        key, subkey = jax.random.split(key)
        state, drawn = sample(curriculum, state, subkey, jnp.arange(3) < k)
        stage_tasks = np.asarray(curriculum.stage_tasks[state.stage, : curriculum.stage_sizes[state.stage]])
        assert np.isin(np.asarray(drawn), stage_tasks).all()
        python.update_on_episode(float(ret), int(length), int(task))
        state = update(curriculum, state, EpisodeBatch([task], [ret], [length]))
        switches_python.append(python.stage)
        switches_jax.append(int(state.stage))
        _assert_same_metrics(_metrics(curriculum, state), _python_metrics(python), f"episode {index}")
    assert switches_jax == switches_python
    assert len(set(switches_python)) == 3  # the stream really crosses every stage


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_state_when_the_stream_arrives_in_masked_batches(name):
    config = CONFIGS[name]
    space = DiscreteTaskSpace(6)
    python = PythonSequential(task_space=space, seed=0, **config)
    curriculum = SequentialCurriculum(task_space=space, **config)
    update = eqx.filter_jit(lambda c, s, b: c.update(s, b))
    sample = eqx.filter_jit(lambda c, s, k, m: c.sample(s, k, 20, mask=m))
    state = curriculum.init(jax.random.key(0))
    tasks, returns, lengths, _ = _stream(2, 300)
    rng = np.random.default_rng(3)
    position, batch_size = 0, 16
    stages_seen = set()
    while position < len(tasks):
        drawn = int(rng.integers(0, 21))
        python.sample(drawn)
        state, _ = sample(curriculum, state, jax.random.key(position), jnp.arange(20) < drawn)
        used = int(rng.integers(0, batch_size + 1))
        chunk = slice(position, min(position + used, len(tasks)))
        count = chunk.stop - chunk.start
        # Scatter the episodes over random slots of a fixed-shape batch; the rest are masked out.
        slots = np.sort(rng.choice(batch_size, size=count, replace=False))
        done = np.zeros(batch_size, bool)
        done[slots] = True
        batch_tasks = rng.integers(0, 6, batch_size)  # garbage where not done
        batch_returns = rng.random(batch_size).astype(np.float32)
        batch_lengths = rng.integers(1, 99, batch_size)
        batch_tasks[slots], batch_returns[slots], batch_lengths[slots] = tasks[chunk], returns[chunk], lengths[chunk]
        for task, ret, length in zip(tasks[chunk], returns[chunk], lengths[chunk], strict=False):
            python.update_on_episode(float(ret), int(length), int(task))
        state = update(
            curriculum,
            state,
            EpisodeBatch(
                batch_tasks.reshape(4, 4),
                batch_returns.reshape(4, 4),
                batch_lengths.reshape(4, 4),
                done=done.reshape(4, 4),
            ),
        )
        stages_seen.add(python.stage)
        _assert_same_metrics(_metrics(curriculum, state), _python_metrics(python), f"after episode {chunk.stop}")
        position = chunk.stop
    assert len(stages_seen) >= 2


def test_a_batch_larger_than_one_pass_is_read_in_order_in_chunks(monkeypatch):
    monkeypatch.setattr(sequential_module, "_UPDATE_CHUNK", 64)  # 500 entries: 8 passes, the last padded
    config = dict(
        curriculum_list=[[0, 1], [2, 3], [4, 5]],
        stopping_conditions=["episodes >= 20", "episode_return > 0.5 & episodes >= 15", "total_steps >= 1500"],
        loop=True,
        return_buffer_size=10,
    )
    space = DiscreteTaskSpace(6)
    python = PythonSequential(task_space=space, **config)
    curriculum = SequentialCurriculum(task_space=space, **config)
    tasks, returns, lengths, _ = _stream(4, 500)
    done = np.random.default_rng(5).random(500) < 0.8
    stages = []
    for task, ret, length in zip(tasks[done], returns[done], lengths[done], strict=False):
        python.update_on_episode(float(ret), int(length), int(task))
        stages.append(python.stage)
    batch = EpisodeBatch(
        tasks.reshape(5, 100), returns.reshape(5, 100), lengths.reshape(5, 100), done=done.reshape(5, 100)
    )
    state = eqx.filter_jit(lambda c, s, b: c.update(s, b))(curriculum, curriculum.init(jax.random.key(0)), batch)
    _assert_same_metrics(_metrics(curriculum, state), _python_metrics(python), "after the batch")
    assert int(state.total_episodes) == int(done.sum())
    switching_episodes = np.flatnonzero(np.diff(stages)) + 1  # the episodes that ended a stage
    passes = np.flatnonzero(done)[switching_episodes] // 64
    assert len(set(passes.tolist())) >= 3  # stages end in several of the passes


def test_several_switches_inside_one_batch():
    space = DiscreteTaskSpace(3)
    config = dict(curriculum_list=[0, 1, 2], stopping_conditions=["episodes >= 2", "episodes >= 3"])
    python = PythonSequential(task_space=space, **config)
    curriculum = SequentialCurriculum(task_space=space, **config)
    tasks = [0, 0, 1, 1, 1, 2]
    for task in tasks:
        python.update_on_episode(1.0, 10, task)
    state = curriculum.update(curriculum.init(jax.random.key(0)), EpisodeBatch(tasks, [1.0] * 6, [10] * 6))
    assert int(state.stage) == python.stage == 2
    assert int(state.episodes) == python.stage_metrics()["episodes"] == 1
    assert int(state.total_steps) == 60


def test_window_mean_is_precise_over_long_streams():
    """A float32 running sum would drift by ~1e-5 relative here; the window mean stays within float32 rounding."""
    curriculum = SequentialCurriculum([[0], [1]], ["episode_return > 1e9"], 2, return_buffer_size=100)
    rng = np.random.default_rng(0)
    returns = (10_000 + rng.random(8_000)).astype(np.float32)
    state = eqx.filter_jit(curriculum.update)(
        curriculum.init(jax.random.key(0)), EpisodeBatch(np.zeros(8_000), returns, np.ones(8_000))
    )
    expected = np.mean(returns[-100:].astype(np.float64))
    assert float(curriculum.metrics(state)["episode_return"]) == pytest.approx(expected, rel=2e-7)
    assert np.array_equal(np.asarray(state.returns), returns[-100:])


@pytest.mark.parametrize(
    "condition",
    ["episode_return >= 100 & episodes >= 50", "total_episodes >= 100000", "steps > 1e9 | episode_return < -5"],
)
def test_a_batch_that_ends_no_stage_gives_the_episode_by_episode_state(condition):
    """Batches that cannot end the stage are applied at once; the result is the same as one by one.

    Single returns cross the threshold (the stage would end if its *mean* did), so only the
    bound on window means tells the update it can skip checking after every episode.
    """
    curriculum = SequentialCurriculum([[0, 1], [2]], [condition], 3, return_buffer_size=40)
    python = PythonSequential([[0, 1], [2]], [condition], DiscreteTaskSpace(3), return_buffer_size=40)
    rng = np.random.default_rng(0)
    size = 500
    tasks = rng.integers(0, 3, size)
    returns = rng.uniform(0.0, 60.0, size).astype(np.float32)
    lengths = rng.integers(1, 50, size)
    done = rng.random(size) < 0.7
    returns[np.flatnonzero(done & (tasks < 2))[::15]] = 150.0  # one stage episode in 15
    for task, ret, length in zip(tasks[done], returns[done], lengths[done], strict=False):
        python.update_on_episode(float(ret), int(length), int(task))
    update = eqx.filter_jit(lambda c, s, b: c.update(s, b))
    state = curriculum.init(jax.random.key(0))
    for chunk in np.array_split(np.arange(size), 2):
        batch = EpisodeBatch(tasks[chunk], returns[chunk], lengths[chunk], done=done[chunk])
        state = update(curriculum, state, batch)
    assert python.stage == int(state.stage) == 0
    _assert_same_metrics(_metrics(curriculum, state), _python_metrics(python), "after the batches")
    kept = [r for t, r, d in zip(tasks, returns, done, strict=False) if d and t in (0, 1)][-40:]
    assert np.array_equal(np.asarray(state.returns), np.asarray(kept, np.float32))


def test_sampling_checks_conditions_and_counts_only_used_draws():
    curriculum = SequentialCurriculum([[0, 1], [2, 3]], ["tasks >= 5"], 4)
    state = curriculum.init(jax.random.key(0))
    sample = eqx.filter_jit(curriculum.sample)
    state, tasks = sample(state, jax.random.key(1), 8, mask=jnp.arange(8) < 5)
    assert set(np.asarray(tasks).tolist()) <= {0, 1}
    assert int(state.tasks) == int(state.total_tasks) == 5
    assert int(state.stage) == 0  # the condition is checked *before* drawing
    state, tasks = sample(state, jax.random.key(2), 64)
    assert int(state.stage) == 1 and set(np.asarray(tasks).tolist()) == {2, 3}
    assert int(state.tasks) == 64 and int(state.total_tasks) == 69
    assert np.allclose(curriculum.probabilities(state), [0, 0, 0.5, 0.5])


def test_changing_a_threshold_does_not_recompile_and_changes_the_switch():
    traces = []

    @eqx.filter_jit
    def run(curriculum, state, batch):
        traces.append(1)
        return curriculum.update(state, batch)

    curriculum = SequentialCurriculum([[0], [1]], ["episodes >= 10"], 2)
    batch = EpisodeBatch(jnp.zeros(6, jnp.int32), jnp.ones(6), jnp.ones(6, jnp.int32))
    state = curriculum.init(jax.random.key(0))
    assert int(run(curriculum, state, batch).stage) == 0
    easier = curriculum.with_thresholds(0, [5])
    assert int(run(easier, state, batch).stage) == 1
    assert len(traces) == 1


def test_vmap_over_seeds_and_scan_over_batches():
    curriculum = SequentialCurriculum([[0, 1, 2], [3, 4]], ["total_episodes >= 20"], 5)

    def train(key):
        state = curriculum.init(key)

        def step(state, key):
            state, tasks = curriculum.sample(state, key, 4)
            batch = EpisodeBatch(tasks, jnp.ones(4), jnp.ones(4, jnp.int32))
            return curriculum.update(state, batch), tasks

        return jax.lax.scan(step, state, jax.random.split(key, 8))

    states, tasks = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 3))
    assert np.array_equal(states.stage, [1, 1, 1])
    assert np.array_equal(states.total_episodes, [32, 32, 32])
    # 20 episodes = 5 steps of 4 in stage 0; the 6th sample already draws from stage 1.
    assert np.isin(np.asarray(tasks[:, :5]), [0, 1, 2]).all()
    assert np.isin(np.asarray(tasks[:, 5:]), [3, 4]).all()
    assert not np.array_equal(tasks[0], tasks[1])  # different seeds, different draws


def test_metric_names_match_the_python_curriculum():
    assert SEQUENTIAL_METRICS == PYTHON_METRICS


def test_invalid_configurations_are_rejected_at_construction():
    with pytest.raises(ValueError, match="3 stages need 2 stopping conditions, got 1"):
        SequentialCurriculum([[0], [1], [2]], ["episodes > 1"], 3)
    with pytest.raises(ValueError, match=r"3 stages need 3 stopping conditions \(loop=True"):
        SequentialCurriculum([[0], [1], [2]], ["episodes > 1"] * 2, 3, loop=True)
    with pytest.raises(ValueError, match="stopping condition 0 is invalid: unknown metric 'reward'"):
        SequentialCurriculum([[0], [1]], ["reward > 1"], 2)
    with pytest.raises(ValueError, match="stage 1 of SequentialCurriculum is invalid: .*7"):
        SequentialCurriculum([[0], [7]], ["episodes > 1"], 2)
    with pytest.raises(ValueError, match="stage 0 of SequentialCurriculum is invalid: duplicate tasks"):
        SequentialCurriculum([[0, 0], [1]], ["episodes > 1"], 2)
    with pytest.raises(ValueError, match="stage 0 .* a Python curriculum"):
        SequentialCurriculum([PythonDomainRandomization(DiscreteTaskSpace(2)), [1]], ["episodes > 1"], 2)
    with pytest.raises(ValueError, match="return_buffer_size must be a positive int, got 0"):
        SequentialCurriculum([[0]], [], 1, return_buffer_size=0)
    with pytest.raises(TypeError, match="task_space must be a finite TaskSpace or a positive int"):
        SequentialCurriculum([[0]], [], "five")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one stage"):
        SequentialCurriculum([], [], 3)


def test_state_counters_are_read_and_replaced_by_name():
    curriculum = SequentialCurriculum([[0, 1], [2]], ["episodes >= 3"], 3)
    state = curriculum.init(jax.random.key(0))
    changed = state.replace(stage=1, total_episodes=7, mean_return=jnp.float32(2.5))
    assert (int(changed.stage), int(changed.total_episodes), float(changed.mean_return)) == (1, 7, 2.5)
    assert int(changed.episodes) == int(state.episodes) == 0 and changed.counters.dtype == state.counters.dtype
    assert int(state.stage) == 0  # the original is unchanged
    with pytest.raises(TypeError, match=r"no field\(s\) \['stages'\]; counters are \('stage', 'steps'"):
        state.replace(stages=1)
    seeds = jax.vmap(curriculum.init)(jax.random.split(jax.random.key(0), 3))
    moved = seeds.replace(episodes=jnp.array([1, 2, 3]), stage=1)
    assert moved.counters.shape == (3, 9)
    assert moved.episodes.tolist() == [1, 2, 3] and moved.stage.tolist() == [1, 1, 1]


# --------------------------------------------------------------------------- functional curricula as stages
def _episodes(task_ids, returns, scores=None):
    task_ids = jnp.asarray(task_ids, jnp.int32)
    return EpisodeBatch(
        task_ids,
        jnp.asarray(returns, jnp.float32),
        jnp.full(task_ids.shape, 5, jnp.int32),
        score=None if scores is None else jnp.asarray(scores, jnp.float32),
    )


def test_prioritized_level_replay_runs_inside_a_stage_and_learns_only_while_active():
    from syllabus_like.jax import PrioritizedLevelReplay

    plr = PrioritizedLevelReplay(4, temperature=0.1, replay_prob=1.0)
    curriculum = SequentialCurriculum([0, plr], ["episodes>=3"], 4)
    state = curriculum.init(jax.random.key(0))
    assert state.stage_states[0] is None and int(state.stage_states[1].episode_count) == 0

    # Stage 0: task 0 only; the stage's episodes (and others) do not reach the inactive PLR.
    state, tasks = curriculum.sample(state, jax.random.key(1), 8)
    assert set(np.asarray(tasks).tolist()) == {0}
    state = eqx.filter_jit(curriculum.update)(state, _episodes([0, 2, 0], [1.0, 1.0, 1.0], [0.5, 0.9, 0.5]))
    assert int(state.stage) == 0 and int(state.stage_states[1].episode_count) == 0
    # The third stage-0 episode ends the stage; the episode after it, in the same batch, goes to PLR.
    state = eqx.filter_jit(curriculum.update)(state, _episodes([0, 3], [1.0, 2.0], [0.1, 5.0]))
    assert int(state.stage) == 1
    assert int(state.stage_states[1].episode_count) == 1
    assert np.asarray(state.stage_states[1].levels).tolist().count(3) == 1  # task 3 entered PLR's buffer

    # Stage 1 draws from PLR: with replay_prob=1 and only task 3 buffered, every draw replays task 3.
    assert np.allclose(curriculum.probabilities(state), plr.probabilities(state.stage_states[1]))
    state, tasks = eqx.filter_jit(curriculum.sample)(state, jax.random.key(2), 16)
    assert set(np.asarray(tasks).tolist()) == {3}
    assert int(state.tasks) == 16 and int(state.total_tasks) == 24  # the sequential counters still count


def test_a_curriculum_stage_runs_under_the_ppo_curriculum_path():
    from syllabus_like.envs.gridworld_jax import GridCrossingJax, gridworld_task_table
    from syllabus_like.jax import PPO, CurriculumEnv, MLPActorCritic, PrioritizedLevelReplay

    env = GridCrossingJax(level=1)
    tasks = gridworld_task_table(env)
    curriculum = SequentialCurriculum([0, PrioritizedLevelReplay(tasks.num_tasks)], ["episodes>=4"], tasks.num_tasks)
    ppo = PPO(num_envs=4, num_steps=32, num_epochs=1, num_minibatches=1)
    observation = env.reset(jax.random.key(0))[1]
    policy = MLPActorCritic(observation.shape[-1], env.num_actions, key=jax.random.key(0), hidden=(8,))
    state = ppo.train(
        CurriculumEnv(env, tasks, curriculum, key=jax.random.key(1)), policy, 4 * 32 * 8, key=jax.random.key(2)
    )
    sequential = state.step_state.curriculum_state
    assert int(sequential.stage) == 1
    plr = sequential.stage_states[1]
    assert 0 < int(plr.episode_count) < int(sequential.total_episodes)  # it learned from stage-1 episodes only
    assert np.all(np.isfinite(np.asarray(plr.scores)[np.asarray(plr.levels) >= 0]))


def test_a_curriculum_stage_must_cover_every_task():
    from syllabus_like.curricula import DomainRandomization as PythonDR
    from syllabus_like.jax import PrioritizedLevelReplay

    with pytest.raises(
        ValueError, match="stage 1 of SequentialCurriculum is invalid: PrioritizedLevelReplay has 3 tasks"
    ):
        SequentialCurriculum([0, PrioritizedLevelReplay(3)], ["episodes>=1"], 4)
    with pytest.raises(ValueError, match="stage 0 .* a Python curriculum"):
        SequentialCurriculum([PythonDR(DiscreteTaskSpace(4))], [], 4)
