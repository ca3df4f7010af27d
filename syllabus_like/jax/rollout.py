"""Batched rollouts with a curriculum inside the jitted program.

``B`` environments (vmapped) run ``T`` steps in a ``lax.scan``. Each env
carries its own task id; an env whose episode ends is reset, in the same
step, on a task freshly drawn from the curriculum, and its episode is written
to a ``[T, B]`` :class:`EpisodeBatch` (``done`` marks the slots where an
episode ended; no dynamic shapes). After the scan the curriculum is updated
with that batch, still inside the same program::

    env = CartPoleJax()
    tasks = cartpole_task_table(env, gravity=np.linspace(5, 15, 8), length=[0.25, 0.5, 1.0])
    curriculum = DomainRandomization(tasks.num_tasks)
    run = eqx.filter_jit(rollout)
    state = rollout_init(env, tasks, curriculum, jax.random.key(0), num_envs=1024)
    state, output = run(env, tasks, curriculum, random_policy(env), state, jax.random.key(1), 128)

Sampling costs one uniform number per env per step (all curricula here draw
by inverse CDF or uniform integers, never a categorical over all tasks per
env). Tasks for the ``T`` steps of one rollout are drawn from the curriculum
state as of the start of the rollout (counters such as ``tasks`` advance step
by step); the curriculum learns from the rollout's episodes at its end. Use a
smaller ``T`` for more frequent updates. A curriculum whose ``draws_ahead``
is True (its draws depend only on the state after the last update and the
key) has the draws for all ``T`` steps made in one call before the scan, and
the ones the steps handed out counted after it: one table search or condition
check for the rollout, not one per step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from syllabus_like.jax._numerics import prefix_sum
from syllabus_like.jax.curricula.base import AbstractCurriculum
from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.environment import AbstractEnvironment, TaskTable
from syllabus_like.validation import check_positive_int

__all__ = [
    "RolloutOutput",
    "RolloutState",
    "count_episode_step",
    "random_policy",
    "handed_out_draws",
    "reset_finished",
    "reset_on_tasks",
    "reset_width",
    "rollout",
    "rollout_init",
]

Policy = Callable[[PRNGKeyArray, PyTree], Array]
ScoreFunction = Callable[[EpisodeBatch], Float[Array, "T B"]]

#: ``fold_in`` tag of the key for the draws made before the scan (the step keys stay ``split(key, T)``).
DRAWS_AHEAD_STREAM = 0x5A4D


class RolloutState(eqx.Module):
    """Everything that carries over from one rollout to the next; env leaves have a leading ``B`` axis."""

    env_state: PyTree
    observation: PyTree
    task_id: Int[Array, " B"]
    episode_return: Float[Array, " B"]
    episode_length: Int[Array, " B"]
    curriculum_state: PyTree


class RolloutOutput(eqx.Module):
    """Per-step results of one rollout, ``[T, B]``; ``episodes.done`` marks finished episodes."""

    episodes: EpisodeBatch
    reward: Float[Array, "T B"]
    terminated: Bool[Array, "T B"]
    truncated: Bool[Array, "T B"]


def random_policy(env: AbstractEnvironment) -> Policy:
    """A policy drawing uniform discrete actions, one per env."""
    num_actions = env.num_actions

    def policy(key: PRNGKeyArray, observation: PyTree) -> Int[Array, " B"]:
        batch = jax.tree_util.tree_leaves(observation)[0].shape[0]
        return jax.random.randint(key, (batch,), 0, num_actions)

    return policy


def _select(mask: Bool[Array, " B"], when_true: PyTree, when_false: PyTree) -> PyTree:
    def pick(a: Array, b: Array) -> Array:
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, when_true, when_false)


def _check(env: Any, tasks: Any, curriculum: Any) -> None:
    if not isinstance(env, AbstractEnvironment):
        raise TypeError(f"env must be a syllabus_like.jax AbstractEnvironment, got {type(env).__name__}")
    if not isinstance(tasks, TaskTable):
        raise TypeError(f"tasks must be a TaskTable, got {type(tasks).__name__}")
    if curriculum is not None:
        if not isinstance(curriculum, AbstractCurriculum):
            raise TypeError(
                f"curriculum must be a syllabus_like.jax curriculum or None, got {type(curriculum).__name__}"
            )
        if curriculum.num_tasks != tasks.num_tasks:
            raise ValueError(
                f"the curriculum has {curriculum.num_tasks} tasks but the task table has {tasks.num_tasks}"
            )


def count_episode_step(
    episode_return: Float[Array, " B"],
    episode_length: Int[Array, " B"],
    reward: Float[Array, " B"],
    done: Bool[Array, " B"],
) -> tuple[Float[Array, " B"], Int[Array, " B"], Float[Array, " B"], Int[Array, " B"]]:
    """One step of every env's episode bookkeeping, shared by :func:`rollout` and PPO.

    Returns the running episode's return and length *including* this step
    (an episode's totals where ``done``) and the values to carry to the next
    step (0 where ``done``: a new episode starts).
    """
    episode_return = episode_return + reward
    episode_length = episode_length + 1
    return episode_return, episode_length, jnp.where(done, 0.0, episode_return), jnp.where(done, 0, episode_length)


def reset_on_tasks(
    env: AbstractEnvironment, tasks: TaskTable, task_ids: Int[Array, " n"], key: PRNGKeyArray
) -> tuple[PyTree, PyTree]:
    """Reset one environment per entry of ``task_ids``, each on its task: ``(env_states, observations)``."""
    count = task_ids.shape[0]
    return jax.vmap(lambda task, k: tasks.apply(env, task).reset(k))(task_ids, jax.random.split(key, count))


def reset_width(num_envs: int, max_resets_per_step: int | None = None) -> int:
    """``P``, the slots a step's resets use when few environments finish (default ``B // 8``, at least 1)."""
    if max_resets_per_step is None:
        return max(1, num_envs // 8)
    return min(check_positive_int("max_resets_per_step", max_resets_per_step), num_envs)


def reset_finished(
    env: AbstractEnvironment,
    tasks: TaskTable,
    curriculum: AbstractCurriculum | None,
    done: Bool[Array, " B"],
    env_state: PyTree,
    observation: PyTree,
    task_id: Int[Array, " B"],
    curriculum_state: PyTree,
    sample_key: PRNGKeyArray,
    reset_key: PRNGKeyArray,
    *,
    width: int,
    drawn_ahead: Int[Array, " P"] | None = None,
) -> tuple[tuple[PyTree, PyTree, Int[Array, " B"], PyTree], Int[Array, " P"], Bool[Array, ""]]:
    """Reset the finished environments on freshly drawn tasks: one draw per finished environment, no more.

    The one reset path of the library: :func:`rollout` and
    :class:`~syllabus_like.jax.PPO` (with a
    :class:`~syllabus_like.jax.CurriculumEnv`) both call it after each step.
    The finished environments are gathered, in order, into ``width`` slots;
    when at most ``width`` finished, a step draws ``width`` tasks (those past
    the finished ones masked out of the curriculum's counters) and runs
    ``width`` resets, otherwise the full-width path draws ``B`` tasks with
    ``mask=done``. Either way the curriculum counts exactly one draw per
    finished environment (with ``drawn_ahead``, the caller counts them).

    Args:
        curriculum: draws the new tasks from ``curriculum_state``; ``None``
            keeps each environment's task.
        done: the environments that finished this step.
        env_state: the environments' states after the step (leading axis ``B``).
        observation: their observations after the step.
        task_id: their tasks.
        drawn_ahead: this step's ``width`` tasks drawn before the scan (for a
            curriculum with ``draws_ahead``), used on the few-resets path. Then
            pass as ``curriculum_state`` the state those tasks were drawn
            *from*: it is only read (the full-width path draws from it, with
            nothing counted, so a SequentialCurriculum's check there picks the
            stage the draws before the scan picked) and returned as given. The
            caller counts every draw handed out (:func:`handed_out_draws`) with
            ``count_draws`` on the state the draws before the scan returned.
            So the curriculum state need not travel through the scan's carry,
            which on a CPU costs more than the draws (a SequentialCurriculum's
            windows, copied at every step).

    Returns:
        ``(env_state, observation, task_id, curriculum_state)`` after the resets,
        the slot ``index`` (``[P]``, ``B`` marks an unused slot) and whether the
        finished environments ``fit`` in the slots.
    """
    num_envs = done.shape[0]
    # The finished envs in order, in ``width`` slots (``B`` marks an unused slot).
    rank = prefix_sum(done.astype(jnp.int32)) - 1
    index = (
        jnp.full((width,), num_envs, jnp.int32)
        .at[jnp.where(done, rank, width)]
        .set(jnp.arange(num_envs, dtype=jnp.int32), mode="drop")
    )
    fits = rank[-1] < width

    ahead = drawn_ahead is not None

    def resets(count: int):
        def run(operands: tuple[PyTree, PyTree, Array, PyTree]) -> tuple[PyTree, PyTree, Array, PyTree]:
            # The curriculum state is an operand only when the draws change it (not drawing ahead).
            env_state, observation, task_id, carried_curriculum_state = operands
            if count == num_envs:
                slots, used = jnp.arange(num_envs), done
            else:
                slots, used = index, index < num_envs
            if ahead and count == width:
                drawn = drawn_ahead
            elif ahead:  # drawn from the state as given, counted by the caller after the scan
                _, drawn = curriculum.sample(curriculum_state, sample_key, count, mask=jnp.zeros((count,), bool))
            elif curriculum is not None:
                carried_curriculum_state, drawn = curriculum.sample(
                    carried_curriculum_state, sample_key, count, mask=used
                )
            else:
                drawn = task_id[jnp.minimum(slots, num_envs - 1)]
            fresh_state, fresh_observation = reset_on_tasks(env, tasks, drawn, reset_key)
            if count == num_envs:
                return (
                    _select(done, fresh_state, env_state),
                    _select(done, fresh_observation, observation),
                    jnp.where(done, drawn, task_id),
                    carried_curriculum_state,
                )
            target = jnp.where(used, slots, num_envs)

            def scatter(full: Array, part: Array) -> Array:
                return full.at[target].set(part, mode="drop")

            return (
                jax.tree.map(scatter, env_state, fresh_state),
                jax.tree.map(scatter, observation, fresh_observation),
                scatter(task_id, drawn),
                carried_curriculum_state,
            )

        return run

    operands = (env_state, observation, task_id, None if ahead else curriculum_state)
    full = resets(num_envs)
    after = full(operands) if width == num_envs else jax.lax.cond(fits, resets(width), full, operands)
    if ahead:
        after = (*after[:3], curriculum_state)
    return after, index, fits


def handed_out_draws(
    done: Bool[Array, "*T B"], index: Int[Array, "*T P"], fits: Bool[Array, "*T"]
) -> Bool[Array, "*T P+B"]:
    """The draws steps of :func:`reset_finished` with ``drawn_ahead`` handed out, for ``count_draws``.

    Per step, the first ``P`` entries are the drawn-ahead slots used on the
    few-resets path; the last ``B`` the full-width path's draws (one per
    finished environment). Leading axes (the steps of a rollout) broadcast.
    """
    fits = jnp.asarray(fits)[..., None]
    return jnp.concatenate([fits & (index < done.shape[-1]), ~fits & done], axis=-1)


def rollout_init(
    env: AbstractEnvironment,
    tasks: TaskTable,
    curriculum: AbstractCurriculum | None,
    key: PRNGKeyArray,
    num_envs: int,
    *,
    task_ids: Int[Array, " B"] | None = None,
) -> RolloutState:
    """``num_envs`` envs reset on tasks drawn from ``curriculum``.

    Without a curriculum every env keeps a fixed task: ``task_ids``, or by
    default ``arange(num_envs) % num_tasks``.
    """
    _check(env, tasks, curriculum)
    check_positive_int("num_envs", num_envs)
    curriculum_key, sample_key, reset_key = jax.random.split(key, 3)
    if curriculum is not None:
        curriculum_state = curriculum.init(curriculum_key)
        curriculum_state, drawn = curriculum.sample(curriculum_state, sample_key, num_envs)
    else:
        curriculum_state = None
        drawn = jnp.arange(num_envs, dtype=jnp.int32) % tasks.num_tasks
    if task_ids is not None:
        drawn = jnp.asarray(task_ids, jnp.int32)
        if drawn.shape != (num_envs,):
            raise ValueError(f"task_ids must have shape ({num_envs},), got {drawn.shape}")
    env_state, observation = reset_on_tasks(env, tasks, drawn, reset_key)
    return RolloutState(
        env_state=env_state,
        observation=observation,
        task_id=drawn,
        episode_return=jnp.zeros((num_envs,), jnp.float32),
        episode_length=jnp.zeros((num_envs,), jnp.int32),
        curriculum_state=curriculum_state,
    )


def rollout(
    env: AbstractEnvironment,
    tasks: TaskTable,
    curriculum: AbstractCurriculum | None,
    policy: Policy,
    state: RolloutState,
    key: PRNGKeyArray,
    num_steps: int,
    *,
    score_fn: ScoreFunction | None = None,
    max_resets_per_step: int | None = None,
) -> tuple[RolloutState, RolloutOutput]:
    """Run ``num_steps`` steps of every env; reset finished envs on new tasks; update the curriculum.

    Args:
        env: the environment (fields not set by ``tasks`` are shared by all envs).
        tasks: the task table; env ``b`` plays ``tasks.apply(env, state.task_id[b])``.
        curriculum: draws the task of each env that resets, and learns from the
            finished episodes at the end; ``None`` keeps every env's task fixed.
        policy: ``policy(key, observations) -> actions`` for the whole batch.
        state: from :func:`rollout_init` or the previous rollout.
        key: randomness for this rollout.
        num_steps: ``T`` (static).
        score_fn: per-episode scores for the curriculum update (e.g. for
            :class:`PrioritizedLevelReplay`), computed from the ``[T, B]``
            episode batch; value-based scores come from
            :mod:`syllabus_like.jax.curricula.level_scores` in a training loop.
        max_resets_per_step: ``P`` (static, default ``B // 8``). Only the envs
            that finished need a new task and a reset; when at most ``P`` did,
            they are gathered into ``P`` slots, so a step draws ``P`` tasks and
            runs ``P`` resets instead of ``B``. Steps where more envs finish
            take the full-width path. Either way every finished env gets an
            independent draw.

    Returns:
        The new state and the ``[T, B]`` output (episodes, rewards, terminations).
    """
    _check(env, tasks, curriculum)
    num_envs = state.task_id.shape[0]
    width = reset_width(num_envs, max_resets_per_step)

    # Draws made before the scan, one row of ``width`` per step, for curricula that allow it.
    drawing_ahead = curriculum is not None and curriculum.draws_ahead
    # Drawing ahead, every draw of the rollout is made from this state (the full-width steps' too,
    # see reset_finished), which the scan only reads: it stays out of the scan's carry.
    drawn_from = state.curriculum_state
    if drawing_ahead:
        # Counted after the scan (count_draws): only the draws the steps hand out.
        ahead_state, drawn_ahead = curriculum.sample(
            drawn_from,
            jax.random.fold_in(key, DRAWS_AHEAD_STREAM),
            num_steps * width,
            mask=jnp.zeros((num_steps * width,), bool),
        )
        state = dataclasses.replace(state, curriculum_state=None)
        drawn_ahead = drawn_ahead.reshape(num_steps, width)
    else:
        ahead_state = None
        drawn_ahead = jnp.zeros((num_steps, 0), jnp.int32)

    def one_step(
        carry: RolloutState, inputs: tuple[PRNGKeyArray, Int[Array, " P"]]
    ) -> tuple[RolloutState, RolloutOutput]:
        step_key, step_draws = inputs
        action_key, env_key, sample_key, reset_key = jax.random.split(step_key, 4)
        action = policy(action_key, carry.observation)
        env_state, observation, reward, terminated, truncated, info = jax.vmap(
            lambda task, k, s, a: tasks.apply(env, task).step(k, s, a)
        )(carry.task_id, jax.random.split(env_key, num_envs), carry.env_state, action)
        done = terminated | truncated
        episode_return, episode_length, next_return, next_length = count_episode_step(
            carry.episode_return, carry.episode_length, reward, done
        )
        progress = (
            info.get("task_completion", jnp.zeros_like(reward)) if isinstance(info, dict) else jnp.zeros_like(reward)
        )
        finished = EpisodeBatch(carry.task_id, episode_return, episode_length, progress=progress, done=done)

        (env_state, observation, task_id, curriculum_state), index, fits = reset_finished(
            env,
            tasks,
            curriculum,
            done,
            env_state,
            observation,
            carry.task_id,
            drawn_from if drawing_ahead else carry.curriculum_state,
            sample_key,
            reset_key,
            width=width,
            drawn_ahead=step_draws if drawing_ahead else None,
        )
        carry = RolloutState(
            env_state=env_state,
            observation=observation,
            task_id=task_id,
            episode_return=next_return,
            episode_length=next_length,
            curriculum_state=None if drawing_ahead else curriculum_state,
        )
        return carry, (RolloutOutput(finished, reward, terminated, truncated), index, fits)

    state, (output, index, fits) = jax.lax.scan(one_step, state, (jax.random.split(key, num_steps), drawn_ahead))
    if drawing_ahead:  # every draw the steps handed out
        handed_out = handed_out_draws(output.episodes.done, index, fits)
        state = dataclasses.replace(state, curriculum_state=curriculum.count_draws(ahead_state, handed_out))
    if score_fn is not None:
        episodes = output.episodes
        scores = jnp.asarray(score_fn(episodes), jnp.float32)
        scored = EpisodeBatch(
            episodes.task_id,
            episodes.episode_return,
            episodes.length,
            progress=episodes.progress,
            done=episodes.done,
            score=scores,
        )
        output = dataclasses.replace(output, episodes=scored)
    if curriculum is not None:
        state = dataclasses.replace(state, curriculum_state=_update(curriculum, state, output.episodes, index, fits))
    return state, output


def _update(
    curriculum: AbstractCurriculum,
    state: RolloutState,
    episodes: EpisodeBatch,
    index: Int[Array, "T P"],
    fits: Bool[Array, " T"],
) -> PyTree:
    """Update the curriculum with the rollout's episodes.

    When every step had at most ``P`` finished envs, the ``[T, P]`` batch of
    just those (same order) replaces the mostly-masked ``[T, B]`` one: the
    update then touches ``B / P`` times fewer entries.
    """
    num_envs = episodes.task_id.shape[1]
    if index.shape[1] == num_envs:
        return curriculum.update(state.curriculum_state, episodes)

    def compact(field: Array | None) -> Array | None:
        if field is None:
            return None
        return jnp.take_along_axis(field, jnp.minimum(index, num_envs - 1), axis=1)

    compacted = EpisodeBatch(
        compact(episodes.task_id),
        compact(episodes.episode_return),
        compact(episodes.length),
        progress=compact(episodes.progress),
        done=index < num_envs,
        score=compact(episodes.score),
    )
    return jax.lax.cond(
        jnp.all(fits),
        lambda: curriculum.update(state.curriculum_state, compacted),
        lambda: curriculum.update(state.curriculum_state, episodes),
    )
