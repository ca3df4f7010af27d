"""Proximal Policy Optimization (PPO) with a clipped surrogate, as one jitted iteration.

One iteration collects ``num_steps`` steps from each of ``num_envs``
vmapped environments (an environment that finishes is reset inside the
``lax.scan``), computes advantages with GAE, and runs ``num_epochs`` passes
of ``num_minibatches`` minibatch updates over the batch.

Generalised advantage estimation (Schulman et al., 2016, "High-dimensional
continuous control using generalized advantage estimation")::

    delta_t = r_t + gamma * V(s_{t+1}) * (1 - d_t) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - d_t) * A_{t+1}
    R_t     = A_t + V(s_t)                       (the value target)

where ``d_t`` marks the end of an episode. A *truncated* episode (time limit)
did not end in the MDP, so its last reward is bootstrapped with the value of
the final observation: ``r_t + gamma * V(s_final)`` (Pardo et al., 2018,
"Time limits in reinforcement learning").

The loss (Schulman et al., 2017, "Proximal policy optimization algorithms"),
with ``rho = pi(a|s) / pi_old(a|s)`` and advantages normalised per minibatch::

    L_clip  = -mean( min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) )
    L_value = 0.5 * mean( (V(s) - R)^2 )         (optionally clipped around the old value)
    L       = L_clip + value_coef * L_value - entropy_coef * mean(entropy)

Every tunable number (learning rate, gamma, lambda, clip range, loss
coefficients, gradient-norm limit) is an array field, so changing one reuses
the compiled program; the batch shape (``num_envs``, ``num_steps``,
``num_epochs``, ``num_minibatches``) is static.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import lax
from jaxtyping import Array, Bool, Float, Int, Key, PyTree

from syllabus_like.jax.curricula.episodes import EpisodeBatch
from syllabus_like.jax.curricula.level_scores import EpisodeAccumulator, episode_means, max_mc_scores
from syllabus_like.jax.rollout import (
    DRAWS_AHEAD_STREAM,
    count_episode_step,
    handed_out_draws,
    reset_finished,
    reset_on_tasks,
    reset_width,
)
from syllabus_like.jax.training.algorithm import AbstractAlgorithm
from syllabus_like.jax.training.callback import AbstractCallback, ResetContext, StepContext, as_callback
from syllabus_like.jax.training.curriculum_env import CurriculumEnv, CurriculumEnvState
from syllabus_like.jax.training.policy import AbstractActorCritic
from syllabus_like.jax.training.state import AbstractAlgorithmState, AbstractStepState
from syllabus_like.validation import check_positive_int

__all__ = ["PPO", "PPORollout", "PPOState", "PPOStepState"]


class PPOStepState(AbstractStepState):
    """PPO's environment-loop state; every leaf has a leading ``num_envs`` axis.

    Attributes:
        env_state: the environments' states.
        policy_state: ``None`` (feed-forward policies).
        callback_state: the callbacks' step-level states.
        observation: the current observation of every environment.
        episode_return: return of the running episode so far.
        episode_length: steps of the running episode so far.
        curriculum_state: with a :class:`~syllabus_like.jax.CurriculumEnv`, the
            functional curriculum's state: the only copy, from which every
            reset draws its task and which learns from the finished episodes
            after each iteration (``None`` for any other environment).
        score_accumulator: with a :class:`~syllabus_like.jax.CurriculumEnv`,
            the per-environment sums behind the episode scores of episodes
            that span iterations (``None`` otherwise).
    """

    env_state: PyTree
    policy_state: PyTree
    callback_state: PyTree
    observation: Array
    episode_return: Float[Array, " num_envs"]
    episode_length: Int[Array, " num_envs"]
    curriculum_state: PyTree = None
    score_accumulator: EpisodeAccumulator | None = None


class PPORollout(eqx.Module):
    """One iteration's rollout as callbacks see it (``IterationContext.rollout``): ``[T, B]`` arrays.

    Replaces the string-keyed ``locals["rollout"]`` dict; indexing by field
    name (``rollout["done"]``) still works, so code written for the dict
    keeps working.

    Attributes:
        reward: the rewards as the environments returned them.
        terminated, truncated: how each step ended (``truncated`` excludes ``terminated``).
        done: ``terminated | truncated``.
        info: the environments' info dicts.
        episode_return, episode_length: of the running episode including that
            step (the episode's totals where ``done``).
        value: ``V(s_t)`` before each step.
        advantage: the GAE advantages.
        last_value: ``[B]``, ``V`` of the state after the last step.
        task_id: with a :class:`~syllabus_like.jax.CurriculumEnv`, the task
            each environment played at that step (``None`` otherwise).
    """

    reward: Float[Array, "T B"]
    terminated: Bool[Array, "T B"]
    truncated: Bool[Array, "T B"]
    done: Bool[Array, "T B"]
    info: PyTree
    episode_return: Float[Array, "T B"]
    episode_length: Int[Array, "T B"]
    value: Float[Array, "T B"]
    advantage: Float[Array, "T B"]
    last_value: Float[Array, " B"]
    task_id: Int[Array, "T B"] | None = None

    def __getitem__(self, name: str) -> Any:
        """``rollout["done"]`` is ``rollout.done``: the dict interface this record replaces."""
        if not isinstance(name, str) or name not in {field.name for field in dataclasses.fields(self)}:
            raise KeyError(f"PPORollout has no field {name!r}")
        return getattr(self, name)


class PPOState(AbstractAlgorithmState):
    """PPO's training state: a complete checkpoint of a run (see :class:`AbstractAlgorithmState`)."""

    iteration_count: Int[Array, ""]
    step_state: PPOStepState
    env: PyTree
    policy: AbstractActorCritic
    opt_state: PyTree
    callback_state: PyTree


class _Trajectory(eqx.Module):
    """One iteration's experience, leaves shaped ``(num_steps, num_envs, ...)``."""

    observation: Array
    action: Int[Array, "T B"]
    log_prob: Float[Array, "T B"]
    value: Float[Array, "T B"]
    reward: Float[Array, "T B"]  # with the truncation bootstrap added
    done: Bool[Array, "T B"]


class _Minibatch(eqx.Module):
    observation: Array
    action: Int[Array, " N"]
    log_prob: Float[Array, " N"]
    value: Float[Array, " N"]
    advantage: Float[Array, " N"]
    target: Float[Array, " N"]


def _positive_int(name: str, value: Any) -> int:
    return check_positive_int(f"PPO {name}", value)


def _scalar(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> Float[Array, ""]:
    array = jnp.asarray(value, dtype=jnp.float32)
    if array.shape != ():
        raise ValueError(f"PPO {name} must be a scalar, got shape {array.shape}")
    if not isinstance(array, jax.core.Tracer):
        number = float(array)
        below = number <= low if low_open else number < low
        if below or number > high or number != number:
            interval = f"{'(' if low_open else '['}{low}, {high}]"
            raise ValueError(f"PPO {name} must be in {interval}, got {value!r}")
    return array


class PPO(AbstractAlgorithm):
    """PPO-Clip for discrete actions with an :class:`~syllabus_like.jax.training.policy.AbstractActorCritic`.

    Args:
        num_envs: environments stepped in parallel (vmapped).
        num_steps: steps per environment per iteration (batch = ``num_envs * num_steps``).
        num_epochs: passes over each batch.
        num_minibatches: minibatches per pass; must divide ``num_envs * num_steps``.
        learning_rate: Adam step size (ignored when ``optimizer`` is given).
        max_grad_norm: global gradient-norm clip (ignored when ``optimizer`` is given).
        gamma: discount factor.
        gae_lambda: GAE's lambda.
        clip_coef: the clip range ``eps`` of the ratio (and of the value, if clipped).
        value_coef: weight of the value loss.
        entropy_coef: weight of the entropy bonus.
        normalize_advantages: normalise advantages per minibatch.
        clip_value_loss: clip the value update around the old value (as PPO2 does).
        optimizer: an optax transformation to use instead of
            ``clip_by_global_norm(max_grad_norm)`` then ``adam(learning_rate, eps=1e-5)``.
    """

    num_envs: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    num_epochs: int = eqx.field(static=True)
    num_minibatches: int = eqx.field(static=True)
    learning_rate: Float[Array, ""]
    max_grad_norm: Float[Array, ""]
    gamma: Float[Array, ""]
    gae_lambda: Float[Array, ""]
    clip_coef: Float[Array, ""]
    value_coef: Float[Array, ""]
    entropy_coef: Float[Array, ""]
    normalize_advantages: bool = eqx.field(static=True)
    clip_value_loss: bool = eqx.field(static=True)
    custom_optimizer: optax.GradientTransformation | None = eqx.field(static=True)

    def __init__(
        self,
        *,
        num_envs: int = 8,
        num_steps: int = 128,
        num_epochs: int = 4,
        num_minibatches: int = 4,
        learning_rate: float = 2.5e-4,
        max_grad_norm: float = 0.5,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_coef: float = 0.2,
        value_coef: float = 0.5,
        entropy_coef: float = 0.01,
        normalize_advantages: bool = True,
        clip_value_loss: bool = False,
        optimizer: optax.GradientTransformation | None = None,
    ) -> None:
        self.num_envs = _positive_int("num_envs", num_envs)
        self.num_steps = _positive_int("num_steps", num_steps)
        self.num_epochs = _positive_int("num_epochs", num_epochs)
        self.num_minibatches = _positive_int("num_minibatches", num_minibatches)
        if (num_envs * num_steps) % num_minibatches:
            raise ValueError(
                f"PPO num_minibatches ({num_minibatches}) must divide the batch num_envs * num_steps "
                f"= {num_envs} * {num_steps} = {num_envs * num_steps}"
            )
        self.learning_rate = _scalar("learning_rate", learning_rate, 0.0, float("inf"), low_open=True)
        self.max_grad_norm = _scalar("max_grad_norm", max_grad_norm, 0.0, float("inf"), low_open=True)
        self.gamma = _scalar("gamma", gamma, 0.0, 1.0)
        self.gae_lambda = _scalar("gae_lambda", gae_lambda, 0.0, 1.0)
        self.clip_coef = _scalar("clip_coef", clip_coef, 0.0, float("inf"), low_open=True)
        self.value_coef = _scalar("value_coef", value_coef, 0.0, float("inf"))
        self.entropy_coef = _scalar("entropy_coef", entropy_coef, 0.0, float("inf"))
        self.normalize_advantages = bool(normalize_advantages)
        self.clip_value_loss = bool(clip_value_loss)
        if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(f"PPO optimizer must be an optax.GradientTransformation, got {optimizer!r}")
        self.custom_optimizer = optimizer

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """The optax transformation applied to the policy's gradients."""
        if self.custom_optimizer is not None:
            return self.custom_optimizer
        return optax.chain(optax.clip_by_global_norm(self.max_grad_norm), optax.adam(self.learning_rate, eps=1e-5))

    @property
    def batch_size(self) -> int:
        """Environment steps per iteration: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    def num_iterations(self, total_timesteps: int) -> int:
        return -(-int(total_timesteps) // self.batch_size)

    # ------------------------------------------------------------------ reset
    def reset(
        self,
        env: PyTree,
        policy: AbstractActorCritic,
        *,
        key: Key[Array, ""],
        callback: AbstractCallback | None = None,
    ) -> PPOState:
        """The initial state: ``num_envs`` freshly reset environments, a fresh optimizer state, callback states."""
        for method in ("reset", "step"):
            if not callable(getattr(env, method, None)):
                raise TypeError(
                    f"PPO needs an environment with pure reset(key) and step(key, state, action) methods; "
                    f"{type(env).__name__} has no callable {method!r}"
                )
        if not isinstance(policy, AbstractActorCritic):
            raise TypeError(
                f"PPO needs an AbstractActorCritic policy (e.g. MLPActorCritic), got {type(policy).__name__}"
            )
        return _reset(self, env, policy, key, as_callback(callback))

    # ------------------------------------------------------------------ iteration
    def per_iteration(self, state: AbstractAlgorithmState) -> AbstractAlgorithmState:
        """PPO needs no bookkeeping between iterations: the state is returned unchanged."""
        return state

    def iteration(
        self, state: AbstractAlgorithmState, *, key: Key[Array, ""], callback: AbstractCallback
    ) -> tuple[AbstractAlgorithmState, Bool[Array, ""]]:
        state = self.begin_iteration(state, callback)
        rollout_key, update_key, callback_key = jax.random.split(key, 3)
        step_state, trajectory, report, last_value, rollout_log = self._collect(state, rollout_key, callback)
        advantage, target = self._advantages(trajectory, last_value)
        rollout = PPORollout(
            **report, value=trajectory.value, done=trajectory.done, advantage=advantage, last_value=last_value
        )
        if isinstance(state.env, CurriculumEnv):
            step_state = _update_curriculum(state.env, step_state, rollout)
        policy, opt_state, update_log = self._update(
            state.policy, state.opt_state, trajectory, advantage, target, update_key
        )
        return self.end_iteration(
            state,
            step_state=step_state,
            policy=policy,
            opt_state=opt_state,
            training_log={**rollout_log, **update_log},
            key=callback_key,
            callback=callback,
            rollout=rollout,
        )

    def _collect(
        self, state: AbstractAlgorithmState, key: Key[Array, ""], callback: AbstractCallback
    ) -> tuple[PPOStepState, _Trajectory, dict[str, Any], Float[Array, " B"], dict[str, Array]]:
        """Run ``num_steps`` vmapped environment steps with automatic resets and ``on_step`` callbacks.

        Returns the new step state, the learning trajectory, the rollout's
        ``[T, B]`` fields for :class:`PPORollout`, the value after the last
        step and the rollout's statistics. With a :class:`CurriculumEnv`, the
        finished environments reset through :func:`~syllabus_like.jax.rollout.reset_finished`,
        which draws one task per reset from the step state's curriculum state.
        """
        env, policy, num_envs = state.env, state.policy, self.num_envs
        curriculum_env = env if isinstance(env, CurriculumEnv) else None
        width = reset_width(num_envs)
        start = state.step_state
        # As in rollout(): a curriculum that draws ahead is asked once for the whole rollout's
        # few-resets draws, and the ones handed out are counted after the scan.
        drawing_ahead = curriculum_env is not None and curriculum_env.curriculum.draws_ahead
        # Drawing ahead, every draw is made from this state, which the scan only reads (see reset_finished).
        drawn_from = start.curriculum_state
        if drawing_ahead:
            ahead_state, drawn_ahead = curriculum_env.curriculum.sample(  # type: ignore[union-attr]
                drawn_from,
                jax.random.fold_in(key, DRAWS_AHEAD_STREAM),
                self.num_steps * width,
                mask=jnp.zeros((self.num_steps * width,), bool),
            )
            start = dataclasses.replace(start, curriculum_state=None)  # out of the scan's carry
            drawn_ahead = drawn_ahead.reshape(self.num_steps, width)
        else:
            ahead_state = None
            drawn_ahead = jnp.zeros((self.num_steps, 0), jnp.int32)

        def one_step(carry: tuple[PPOStepState, Array, Array, Array], inputs: tuple[Key[Array, ""], Array]):
            step_state, finished_return, finished_length, finished = carry
            step_key, step_draws = inputs
            act_key, env_key, reset_key, callback_key = jax.random.split(step_key, 4)
            observation = step_state.observation
            action, log_prob, value = jax.vmap(policy.action_and_value)(
                observation, jax.random.split(act_key, num_envs)
            )
            env_state, next_observation, reward, terminated, truncated, info = jax.vmap(env.step)(
                jax.random.split(env_key, num_envs), step_state.env_state, action
            )
            reward = jnp.asarray(reward, jnp.float32)
            terminated = jnp.asarray(terminated, bool)
            truncated = jnp.asarray(truncated, bool) & ~terminated
            done = terminated | truncated

            # Time-limit truncation: bootstrap from the final observation (rarely needed, hence the cond).
            final_value = lax.cond(
                jnp.any(truncated),
                lambda: jax.vmap(policy.value)(next_observation),
                lambda: jnp.zeros(num_envs, jnp.float32),
            )
            learning_reward = reward + self.gamma * jnp.where(truncated, final_value, 0.0)

            curriculum_state = step_state.curriculum_state  # None while drawing ahead
            if curriculum_env is not None:
                played = step_state.env_state.task_id
                sample_key, reset_key = jax.random.split(reset_key)

                def reset_on_drawn_tasks(operands: tuple[PyTree, PyTree, Array, PyTree]):
                    inner_state, observation, task_id, curriculum_state = operands
                    (inner_state, observation, task_id, curriculum_state), index, fits = reset_finished(
                        curriculum_env.env,
                        curriculum_env.tasks,
                        curriculum_env.curriculum,
                        done,
                        inner_state,
                        observation,
                        task_id,
                        drawn_from if drawing_ahead else curriculum_state,
                        sample_key,
                        reset_key,
                        width=width,
                        drawn_ahead=step_draws if drawing_ahead else None,
                    )
                    operands = (inner_state, observation, task_id, None if drawing_ahead else curriculum_state)
                    # The draws this step handed out (only a curriculum drawing ahead counts them afterwards).
                    return operands, (handed_out_draws(done, index, fits) if drawing_ahead else None)

                # Most steps end no episode: skip the draw and the resets then (a draw for no reset counts nothing).
                (inner_state, new_observation, task_id, curriculum_state), handed_out = lax.cond(
                    jnp.any(done),
                    reset_on_drawn_tasks,
                    lambda operands: (operands, jnp.zeros((width + num_envs,), bool) if drawing_ahead else None),
                    (env_state.env_state, next_observation, played, curriculum_state),
                )
                env_state = CurriculumEnvState(inner_state, task_id)
            else:
                played = None
                handed_out = None

                def reset_all_finished() -> tuple[PyTree, Array]:
                    fresh_state, fresh_observation = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))
                    return (
                        _where_envs(done, fresh_state, env_state),
                        _where_envs(done, fresh_observation, next_observation),
                    )

                # Most steps end no episode: skip the resets then.
                env_state, new_observation = lax.cond(
                    jnp.any(done), reset_all_finished, lambda: (env_state, next_observation)
                )

            episode_return, episode_length, next_return, next_length = count_episode_step(
                step_state.episode_return, step_state.episode_length, reward, done
            )
            finished_return = finished_return + jnp.sum(jnp.where(done, episode_return, 0.0))
            finished_length = finished_length + jnp.sum(jnp.where(done, episode_length, 0))
            finished = finished + jnp.sum(done)

            step_locals = {
                "observation": observation,
                "action": action,
                "next_observation": next_observation,
                "terminated": terminated,
                "truncated": truncated,
                "info": info,
                "value": value,
                "log_prob": log_prob,
            }

            def callback_step(callback_state, done, reward, step_locals, key):
                context = StepContext(
                    state=callback_state,
                    env=env,
                    policy=policy,
                    done=done,
                    reward=reward,
                    locals=step_locals,
                    iteration_count=state.iteration_count,
                )
                return callback.on_step(context, key=key)

            callback_state = jax.vmap(callback_step)(
                step_state.callback_state, done, reward, step_locals, jax.random.split(callback_key, num_envs)
            )
            next_step_state = PPOStepState(
                env_state=env_state,
                policy_state=step_state.policy_state,
                callback_state=callback_state,
                observation=new_observation,
                episode_return=next_return,
                episode_length=next_length,
                curriculum_state=curriculum_state,
                score_accumulator=step_state.score_accumulator,
            )
            transition = _Trajectory(
                observation=observation,
                action=action,
                log_prob=log_prob,
                value=value,
                reward=learning_reward,
                done=done,
            )
            report = {
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "info": info,
                "episode_return": episode_return,
                "episode_length": episode_length,
                "task_id": played,
            }
            return (next_step_state, finished_return, finished_length, finished), (transition, report, handed_out)

        zero_f, zero_i = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        (step_state, finished_return, finished_length, finished), (trajectory, rollout, handed_out) = lax.scan(
            one_step, (start, zero_f, zero_i, zero_i), (jax.random.split(key, self.num_steps), drawn_ahead)
        )
        if drawing_ahead:
            counted = curriculum_env.curriculum.count_draws(ahead_state, handed_out)  # type: ignore[union-attr]
            step_state = dataclasses.replace(step_state, curriculum_state=counted)
        last_value = jax.vmap(policy.value)(step_state.observation)
        denominator = jnp.maximum(finished, 1)
        rollout_log = {
            "episodes": finished,
            "episode_return": finished_return / denominator,
            "episode_length": finished_length / denominator,
            "reward": jnp.mean(trajectory.reward),
        }
        return step_state, trajectory, rollout, last_value, rollout_log

    def _advantages(
        self, trajectory: _Trajectory, last_value: Float[Array, " B"]
    ) -> tuple[Float[Array, "T B"], Float[Array, "T B"]]:
        """GAE(gamma, lambda) advantages and value targets (reverse scan over time)."""

        def backward(carry, step):
            next_advantage, next_value = carry
            reward, value, done = step
            not_done = 1.0 - done.astype(jnp.float32)
            delta = reward + self.gamma * next_value * not_done - value
            advantage = delta + self.gamma * self.gae_lambda * not_done * next_advantage
            return (advantage, value), advantage

        _, advantage = lax.scan(
            backward,
            (jnp.zeros_like(last_value), last_value),
            (trajectory.reward, trajectory.value, trajectory.done),
            reverse=True,
        )
        return advantage, advantage + trajectory.value

    def _loss(self, params: PyTree, static: PyTree, batch: _Minibatch) -> tuple[Float[Array, ""], dict[str, Array]]:
        policy = eqx.combine(params, static)
        log_prob, entropy, value = jax.vmap(policy.evaluate)(batch.observation, batch.action)
        advantage = batch.advantage
        if self.normalize_advantages:
            advantage = (advantage - jnp.mean(advantage)) / (jnp.std(advantage) + 1e-8)
        log_ratio = log_prob - batch.log_prob
        ratio = jnp.exp(log_ratio)
        clipped_ratio = jnp.clip(ratio, 1.0 - self.clip_coef, 1.0 + self.clip_coef)
        policy_loss = jnp.mean(jnp.maximum(-advantage * ratio, -advantage * clipped_ratio))
        value_error = jnp.square(value - batch.target)
        if self.clip_value_loss:
            clipped_value = batch.value + jnp.clip(value - batch.value, -self.clip_coef, self.clip_coef)
            value_error = jnp.maximum(value_error, jnp.square(clipped_value - batch.target))
        value_loss = 0.5 * jnp.mean(value_error)
        entropy = jnp.mean(entropy)
        loss = policy_loss + self.value_coef * value_loss - self.entropy_coef * entropy
        log = {
            "loss": loss,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            # KL(old || new) estimator (r - 1) - log r, Schulman's "approximating KL divergence" note.
            "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
            "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > self.clip_coef).astype(jnp.float32)),
        }
        return loss, log

    def _update(
        self,
        policy: AbstractActorCritic,
        opt_state: PyTree,
        trajectory: _Trajectory,
        advantage: Float[Array, "T B"],
        target: Float[Array, "T B"],
        key: Key[Array, ""],
    ) -> tuple[AbstractActorCritic, PyTree, dict[str, Array]]:
        """``num_epochs`` shuffled passes of ``num_minibatches`` gradient steps over the flattened batch."""
        params, static = eqx.partition(policy, eqx.is_inexact_array)
        optimizer = self.optimizer
        batch_size = self.batch_size
        flat = _Minibatch(
            observation=trajectory.observation,
            action=trajectory.action,
            log_prob=trajectory.log_prob,
            value=trajectory.value,
            advantage=advantage,
            target=target,
        )
        flat = jax.tree_util.tree_map(lambda x: x.reshape((batch_size,) + x.shape[2:]), flat)
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)

        def minibatch_step(carry, minibatch: _Minibatch):
            params, opt_state = carry
            (_, log), grads = grad_fn(params, static, minibatch)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), log

        def epoch(carry, epoch_key):
            order = jax.random.permutation(epoch_key, batch_size)
            shuffled = jax.tree_util.tree_map(
                lambda x: x[order].reshape((self.num_minibatches, -1) + x.shape[1:]), flat
            )
            return lax.scan(minibatch_step, carry, shuffled)

        (params, opt_state), logs = lax.scan(epoch, (params, opt_state), jax.random.split(key, self.num_epochs))
        update_log = jax.tree_util.tree_map(jnp.mean, logs)
        return eqx.combine(params, static), opt_state, update_log


def _where_envs(done: Bool[Array, " B"], if_done: PyTree, otherwise: PyTree) -> PyTree:
    """Per-environment select over pytrees whose leaves have a leading environment axis."""

    def select(a: Array, b: Array) -> Array:
        return jnp.where(done.reshape(done.shape + (1,) * (jnp.ndim(b) - 1)), a, b)

    return jax.tree_util.tree_map(select, if_done, otherwise)


@eqx.filter_jit
def _reset(
    ppo: PPO, env: PyTree, policy: AbstractActorCritic, key: Key[Array, ""], callback: AbstractCallback
) -> PPOState:
    env_key, callback_key, step_callback_key = jax.random.split(key, 3)
    curriculum_state = score_accumulator = None
    if isinstance(env, CurriculumEnv):
        # The run's one copy of the curriculum state starts here; the first resets draw from it.
        sample_key, env_key = jax.random.split(env_key)
        curriculum_state, task_ids = env.curriculum.sample(env.curriculum_state, sample_key, ppo.num_envs)
        inner_state, observation = reset_on_tasks(env.env, env.tasks, task_ids, env_key)
        env_state = CurriculumEnvState(inner_state, task_ids)
        score_accumulator = EpisodeAccumulator.zeros(ppo.num_envs)
    else:
        env_state, observation = jax.vmap(env.reset)(jax.random.split(env_key, ppo.num_envs))
    context = ResetContext(env=env, policy=policy, locals=ppo.algorithm_locals())
    callback_state = callback.reset(context, key=callback_key)
    step_callback_state = jax.vmap(lambda k: callback.step_reset(context, key=k))(
        jax.random.split(step_callback_key, ppo.num_envs)
    )
    step_state = PPOStepState(
        env_state=env_state,
        policy_state=None,
        callback_state=step_callback_state,
        observation=observation,
        episode_return=jnp.zeros(ppo.num_envs, jnp.float32),
        episode_length=jnp.zeros(ppo.num_envs, jnp.int32),
        curriculum_state=curriculum_state,
        score_accumulator=score_accumulator,
    )
    return PPOState(
        iteration_count=jnp.asarray(0, jnp.int32),
        step_state=step_state,
        env=env,
        policy=policy,
        opt_state=ppo.optimizer.init(eqx.filter(policy, eqx.is_inexact_array)),
        callback_state=callback_state,
    )


def _update_curriculum(env: CurriculumEnv, step_state: PPOStepState, rollout: PPORollout) -> PPOStepState:
    """Let the curriculum learn from the rollout's finished episodes, with the episode scores ``env.score`` names.

    Scores (for :class:`~syllabus_like.jax.PrioritizedLevelReplay`; other
    curricula ignore them): ``"positive_value_loss"`` is ``mean_t max(A_t, 0)``
    over the episode with PPO's GAE advantages (Jiang et al., 2021);
    ``"max_mc"`` is ``max(R_max, G) - mean_t V(s_t)``; ``"none"`` gives none.
    """
    accumulator = step_state.score_accumulator
    curriculum_state = step_state.curriculum_state
    if env.score == "positive_value_loss":
        score, accumulator = episode_means(jnp.maximum(rollout.advantage, 0.0), rollout.done, accumulator)
    elif env.score == "max_mc":
        mean_value, accumulator = episode_means(rollout.value, rollout.done, accumulator)
        max_returns = env.curriculum.max_returns(curriculum_state)  # type: ignore[attr-defined]
        score = max_mc_scores(max_returns, rollout.task_id, rollout.episode_return, mean_value)
    else:
        score = None
    info = rollout.info if isinstance(rollout.info, dict) else {}
    progress = info.get("task_completion", jnp.zeros_like(rollout.reward))
    episodes = EpisodeBatch(
        rollout.task_id,
        rollout.episode_return,
        rollout.episode_length,
        progress=progress,
        done=rollout.done,
        score=score,
    )
    return dataclasses.replace(
        step_state, curriculum_state=env.curriculum.update(curriculum_state, episodes), score_accumulator=accumulator
    )
