"""rollout: vmapped envs in lax.scan, resets on freshly sampled tasks, curriculum updates in the same program."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from syllabus_like.envs.cartpole_jax import CartPoleJax, cartpole_task_table
from syllabus_like.envs.gridworld_jax import GridCrossingJax, gridworld_task_table
from syllabus_like.jax import Constant, DomainRandomization, EpisodeBatch, PrioritizedLevelReplay, SequentialCurriculum
from syllabus_like.jax.rollout import _update, random_policy, rollout, rollout_init

ENV = CartPoleJax()
TASKS = cartpole_task_table(ENV, gravity=[4.0, 9.8, 20.0], length=[0.25, 1.0])
POLICY = random_policy(ENV)
SEQUENTIAL = SequentialCurriculum([[0, 1], [2, 3, 4, 5]], ["total_episodes >= 30"], TASKS.num_tasks)
TRACES: list[int] = []
run = eqx.filter_jit(rollout)


def counting_policy(key, observation):
    """The random policy, counting how often a rollout is traced (compiled)."""
    TRACES.append(1)
    return POLICY(key, observation)


def _episodes_of(output) -> list[tuple[int, int, float, float]]:
    """(task, length, return, progress) of every finished episode, in reading order."""
    e = output.episodes
    done = np.asarray(e.done)
    return list(
        zip(
            np.asarray(e.task_id)[done],
            np.asarray(e.length)[done],
            np.asarray(e.episode_return)[done],
            np.asarray(e.progress)[done],
            strict=False,
        )
    )


def test_bare_rollout_keeps_each_env_on_its_task_and_reports_whole_episodes():
    state = rollout_init(ENV, TASKS, None, jax.random.key(0), num_envs=12)
    assert np.array_equal(state.task_id, np.arange(12) % 6)
    state, output = run(ENV, TASKS, None, POLICY, state, jax.random.key(1), 60, max_resets_per_step=12)
    assert np.array_equal(state.task_id, np.arange(12) % 6)
    assert output.episodes.shape == (60, 12)
    episodes = _episodes_of(output)
    assert len(episodes) > 12  # random CartPole episodes are short
    for _task, length, ret, progress in episodes:
        assert ret == length  # reward 1 per step, terminating step included
        assert progress == pytest.approx(length / 500)
    # Every episode of env b is on env b's task.
    done = np.asarray(output.episodes.done)
    assert np.array_equal(np.asarray(output.episodes.task_id)[done], (np.nonzero(done)[1] % 6))
    # Lengths add up: each env's finished episodes plus its running one cover all 60 steps.
    lengths = np.where(done, np.asarray(output.episodes.length), 0).sum(axis=0)
    assert np.array_equal(lengths + np.asarray(state.episode_length), np.full(12, 60))


def test_finished_envs_reset_onto_tasks_drawn_from_the_curriculum():
    curriculum = Constant(TASKS.num_tasks, 5)
    state = rollout_init(ENV, TASKS, None, jax.random.key(0), num_envs=16)  # all start on tasks 0..5
    state = eqx.tree_at(
        lambda s: s.curriculum_state, state, curriculum.init(jax.random.key(0)), is_leaf=lambda x: x is None
    )
    state, output = run(ENV, TASKS, curriculum, POLICY, state, jax.random.key(1), 80, max_resets_per_step=16)
    done = np.asarray(output.episodes.done)
    first_done = done.argmax(axis=0)
    tasks = np.asarray(output.episodes.task_id)
    for env_index in range(16):
        later = done[:, env_index] & (np.arange(80) > first_done[env_index])
        assert (tasks[later, env_index] == 5).all()  # every episode after the first is on task 5
        assert tasks[first_done[env_index], env_index] == env_index % 6
    assert (np.asarray(state.task_id)[done.any(axis=0)] == 5).all()


def test_the_curriculum_sees_every_finished_episode_in_order():
    curriculum = SEQUENTIAL
    state = rollout_init(ENV, TASKS, curriculum, jax.random.key(0), num_envs=16)
    total = 0
    for index in range(3):
        # At most 2 resets per step in the compact path: both paths and both update forms get used.
        state, output = run(
            ENV, TASKS, curriculum, counting_policy, state, jax.random.key(index + 1), 40, max_resets_per_step=2
        )
        total += int(output.episodes.done.sum())
        assert int(state.curriculum_state.total_episodes) == total
    assert int(state.curriculum_state.stage) == 1
    assert int(state.curriculum_state.total_tasks) == 16 + total  # initial draw + one per reset


def test_compact_and_full_updates_agree():
    """The [T, P] batch of finished episodes gives the same curriculum state as the masked [T, B] one."""
    rng = np.random.default_rng(0)
    steps, envs, slots = 6, 10, 4
    done = rng.random((steps, envs)) < 0.25
    done[:, :] &= np.cumsum(done, axis=1) <= slots  # at most `slots` finish per step
    episodes = EpisodeBatch(
        rng.integers(0, 6, (steps, envs)), rng.random((steps, envs)), rng.integers(1, 30, (steps, envs)), done=done
    )
    index = np.full((steps, slots), envs)
    for t in range(steps):
        finished = np.flatnonzero(done[t])
        index[t, : len(finished)] = finished
    curriculum = SequentialCurriculum(
        [[0, 1], [2, 3]], ["episodes >= 3 & episode_return > 0.3"], 6, return_buffer_size=4
    )
    state = rollout_init(ENV, TASKS, curriculum, jax.random.key(0), num_envs=envs)
    compacted = _update(curriculum, state, episodes, jnp.asarray(index), jnp.ones(steps, bool))
    full = curriculum.update(state.curriculum_state, episodes)
    for a, b in zip(jax.tree.leaves(compacted), jax.tree.leaves(full), strict=False):
        assert np.array_equal(a, b)
    overflow = _update(curriculum, state, episodes, jnp.asarray(index), jnp.arange(steps) != 2)
    for a, b in zip(jax.tree.leaves(overflow), jax.tree.leaves(full), strict=False):
        assert np.array_equal(a, b)


DRAW_SIZES: list[int] = []


class RecordingDomainRandomization(DomainRandomization):
    """DomainRandomization noting the size of every draw it is traced with."""

    def sample(self, state, key, n, mask=None):
        DRAW_SIZES.append(n)
        return super().sample(state, key, n, mask)


class AheadDomainRandomization(RecordingDomainRandomization):
    draws_ahead = True  # allowed: its draws depend only on the key


@pytest.mark.parametrize("curriculum_type", [AheadDomainRandomization, RecordingDomainRandomization])
def test_curricula_drawing_ahead_are_asked_once_for_all_steps(curriculum_type):
    """A curriculum with ``draws_ahead`` is asked once for ``T * P`` tasks; others once per step."""
    curriculum = curriculum_type(TASKS.num_tasks)
    state = rollout_init(ENV, TASKS, curriculum, jax.random.key(0), num_envs=16)
    DRAW_SIZES.clear()
    state, output = eqx.filter_jit(rollout)(
        ENV, TASKS, curriculum, POLICY, state, jax.random.key(1), 300, max_resets_per_step=4
    )
    if curriculum.draws_ahead:
        assert sorted(DRAW_SIZES) == [16, 300 * 4]  # the whole rollout's rows, and the full-width fallback
    else:
        assert sorted(DRAW_SIZES) == [4, 16]  # per step: the compact path and the full-width one
    # Either way each reset gets its own uniform draw: every task comes up, none far from 1/6.
    done = np.asarray(output.episodes.done)
    later = done & (np.cumsum(done, axis=0) > 1)  # episodes after each env's first (which ran its initial task)
    counts = np.bincount(np.asarray(output.episodes.task_id)[later], minlength=6)
    assert counts.sum() > 150
    assert (np.abs(counts / counts.sum() - 1 / 6) < 0.07).all()


class StepByStepSequential(SequentialCurriculum):
    draws_ahead = False  # the per-step path, to compare with


@pytest.mark.parametrize("curriculum_type", [SequentialCurriculum, StepByStepSequential])
def test_a_sequential_curriculum_counts_one_draw_per_reset_whether_or_not_it_draws_ahead(curriculum_type):
    curriculum = curriculum_type([[0, 1], [2, 3], [4, 5]], ["episodes >= 10", "episodes >= 10"], TASKS.num_tasks)
    assert curriculum.draws_ahead == (curriculum_type is SequentialCurriculum)
    state = rollout_init(ENV, TASKS, curriculum, jax.random.key(0), num_envs=8)
    resets = 8  # the first task of every env
    crowded_steps = 0  # steps where more envs finished than the 2 reset slots: the full-width path
    for round_index in range(4):
        stage = int(state.curriculum_state.stage)
        state, output = eqx.filter_jit(rollout)(
            ENV, TASKS, curriculum, POLICY, state, jax.random.key(round_index + 1), 100, max_resets_per_step=2
        )
        done = np.asarray(output.episodes.done)
        resets += int(done.sum())
        crowded_steps += int((done.sum(axis=1) > 2).sum())
        # A stage is entered at an update: the next rollout draws from it alone.
        later = done & (np.cumsum(done, axis=0) > 1)  # episodes that began in this rollout
        assert set(np.asarray(output.episodes.task_id)[later].tolist()) <= {2 * stage, 2 * stage + 1}
    final = state.curriculum_state
    assert crowded_steps > 0  # both reset paths were taken, and both counted their draws
    assert int(final.total_tasks) == resets
    assert int(final.stage) == 2 and int(final.tasks) > 0


def test_a_sequential_curriculum_drawing_ahead_plays_one_stage_for_the_whole_rollout():
    """Full-width steps draw from the stage the rollout's draws before the scan picked, even when the
    next stage's condition already holds (here every stage ends as soon as it is checked)."""
    stages = 100  # more than the rollouts' episodes: an update advances one stage per episode
    curriculum = SequentialCurriculum(
        [[stage % 6] for stage in range(stages)], ["total_episodes >= 1"] * (stages - 1), TASKS.num_tasks
    )
    assert curriculum.draws_ahead
    state = rollout_init(ENV, TASKS, curriculum, jax.random.key(0), num_envs=8)
    crowded_steps = 0
    for round_index in range(3):
        before = int(state.curriculum_state.stage)
        state, output = run(
            ENV, TASKS, curriculum, POLICY, state, jax.random.key(round_index + 1), 60, max_resets_per_step=1
        )
        done = np.asarray(output.episodes.done)
        crowded_steps += int((done.sum(axis=1) > 1).sum())
        later = done & (np.cumsum(done, axis=0) > 1)  # episodes that began in this rollout
        played = set(np.asarray(output.episodes.task_id)[later].tolist())
        # The check before the scan ends the stage the last update left (its condition holds) once.
        expected_stage = before + 1 if round_index else before
        assert expected_stage < stages - 1
        assert played == {expected_stage % 6}, (round_index, before, played)
    assert crowded_steps > 0


def test_a_sequential_curriculum_reading_the_draw_counters_draws_step_by_step():
    assert not SequentialCurriculum([[0, 1], [2, 3]], ["tasks >= 100"], TASKS.num_tasks).draws_ahead
    assert not SequentialCurriculum([[0, 1], [2, 3]], ["total_tasks >= 100"], TASKS.num_tasks).draws_ahead
    assert not SequentialCurriculum([[0, 1], [2, 3]], [lambda metrics, present: False], TASKS.num_tasks).draws_ahead


def test_plr_learns_from_scored_episodes_inside_the_rollout():
    curriculum = PrioritizedLevelReplay(TASKS.num_tasks, 4, replay_prob=0.5)
    state = rollout_init(ENV, TASKS, curriculum, jax.random.key(0), num_envs=8)
    state, output = run(
        ENV, TASKS, curriculum, POLICY, state, jax.random.key(1), 50, score_fn=lambda episodes: 1.0 - episodes.progress
    )
    plr_state = state.curriculum_state
    assert int(plr_state.episode_count) == int(output.episodes.done.sum())
    levels = np.asarray(plr_state.levels)
    assert (levels >= 0).sum() == 4  # buffer filled with levels that were played
    played = set(np.asarray(output.episodes.task_id)[np.asarray(output.episodes.done)].tolist())
    assert set(levels.tolist()) <= played


def test_gridworld_rollout_with_levels_as_tasks():
    env = GridCrossingJax()
    tasks = gridworld_task_table(env)
    curriculum = DomainRandomization(tasks.num_tasks)
    state = rollout_init(env, tasks, curriculum, jax.random.key(0), num_envs=32)
    state, output = run(
        env, tasks, curriculum, random_policy(env), state, jax.random.key(1), 130, max_resets_per_step=32
    )
    e = output.episodes
    done = np.asarray(e.done)
    limits = np.asarray(env.levels[:, 4])
    lengths, task_ids = np.asarray(e.length)[done], np.asarray(e.task_id)[done]
    assert (lengths <= limits[task_ids]).all()
    solved = np.asarray(e.episode_return)[done] == 1.0
    assert (np.asarray(e.progress)[done][solved] == 1.0).all()
    assert (lengths[~solved] == limits[task_ids[~solved]]).all()  # unsolved episodes hit the step limit
    assert len(set(task_ids.tolist())) > 1


def test_changing_tunables_and_env_fields_does_not_recompile():
    state = rollout_init(ENV, TASKS, SEQUENTIAL, jax.random.key(0), num_envs=16)
    run(ENV, TASKS, SEQUENTIAL, counting_policy, state, jax.random.key(1), 40, max_resets_per_step=2)
    first = len(TRACES)
    heavier = eqx.tree_at(lambda e: e.masscart, ENV, jnp.float32(3.0))
    stricter = SEQUENTIAL.with_thresholds(0, [50])
    _, output = run(heavier, TASKS, stricter, counting_policy, state, jax.random.key(1), 40, max_resets_per_step=2)
    assert len(TRACES) == first >= 1
    assert int(output.episodes.done.sum()) > 0


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="the curriculum has 3 tasks but the task table has 6"):
        rollout_init(ENV, TASKS, DomainRandomization(3), jax.random.key(0), num_envs=4)
    with pytest.raises(TypeError, match="tasks must be a TaskTable"):
        rollout_init(ENV, [0, 1], None, jax.random.key(0), num_envs=4)
    with pytest.raises(ValueError, match="num_envs must be a positive int, got 0"):
        rollout_init(ENV, TASKS, None, jax.random.key(0), num_envs=0)
    state = rollout_init(ENV, TASKS, None, jax.random.key(0), num_envs=4)
    with pytest.raises(ValueError, match="max_resets_per_step must be a positive int, got 0"):
        rollout(ENV, TASKS, None, POLICY, state, jax.random.key(0), 2, max_resets_per_step=0)
