"""PPO on the JAX CartPole: does it reach the maximum return, and how fast does it train?

Run: ``python benchmarks/ppo.py`` (``--seeds``, ``--timesteps``, ``--envs``, ``--steps`` to change the run).

For each seed, one ``PPO.train`` call runs the whole training as a single
compiled program (``lax.while_loop`` over jitted iterations). Reported:

* learning: the greedy policy's mean return over 100 evaluation episodes
  (CartPole-v1's maximum is 500), the training episodes' mean return over the
  last 20 iterations, and the first iteration from which every training
  episode of 10 consecutive iterations reached 500;
* speed: compile time (separately), wall time and environment steps per
  second of the compiled run, against two baselines measured in the same
  process: the same PPO iterations driven by a Python loop (one jitted
  iteration per call, the usual way to write a training loop), and a bare
  random-action rollout of the same environments (no learning: the ceiling
  for environment throughput).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from syllabus_like.envs.cartpole_jax import CartPoleJax
from syllabus_like.jax.training.callback import AbstractIterationCallback, as_callback
from syllabus_like.jax.training.policy import MLPActorCritic
from syllabus_like.jax.training.ppo import PPO


class ReturnHistory(AbstractIterationCallback):
    """Keeps the training log's mean episode return (and episode count) of every iteration."""

    capacity: int = eqx.field(static=True)

    def reset(self, ctx, *, key):
        return jnp.full((self.capacity, 2), jnp.nan)

    def on_iteration(self, ctx, *, key):
        row = jnp.stack([ctx.training_log["episode_return"], ctx.training_log["episodes"].astype(jnp.float32)])
        return ctx.state.at[ctx.iteration_count].set(row)


def evaluate(policy: MLPActorCritic, env: CartPoleJax, key: jax.Array, episodes: int = 100) -> float:
    """Mean return of the greedy policy (argmax action) over ``episodes`` episodes of at most 500 steps."""

    @jax.jit
    def run(key):
        def episode(key):
            state, observation = env.reset(key)

            def step(carry, _):
                state, observation, total, alive = carry
                action = jnp.argmax(policy.logits(observation))
                state, observation, reward, terminated, truncated, _ = env.step(key, state, action)
                total = total + jnp.where(alive, reward, 0.0)
                return (state, observation, total, alive & ~(terminated | truncated)), None

            (_, _, total, _), _ = jax.lax.scan(step, (state, observation, 0.0, True), None, length=500)
            return total

        return jnp.mean(jax.vmap(episode)(jax.random.split(key, episodes)))

    return float(run(key))


def python_loop_train(ppo: PPO, env, policy, num_iterations: int, key: jax.Array):
    """The baseline: the same iterations, one jitted call each from Python."""
    callback = as_callback(None)
    state = ppo.reset(env, policy, key=key, callback=callback)
    step = eqx.filter_jit(lambda state, key: ppo.iteration(state, key=key, callback=callback)[0])
    state = step(state, key)  # compile (and one iteration) outside the timing
    jax.block_until_ready(state)
    start = time.perf_counter()
    for i in range(num_iterations):
        state = step(state, jax.random.fold_in(key, i))
    jax.block_until_ready(state)
    return time.perf_counter() - start


def random_rollout_steps_per_second(env, num_envs: int, num_steps: int, repeats: int, key: jax.Array) -> float:
    """Bare environment throughput: random actions, automatic resets, no policy, no learning."""

    @jax.jit
    def run(key):
        keys = jax.random.split(key, num_envs)
        state, _ = jax.vmap(env.reset)(keys)

        def one_step(state, key):
            action_key, step_key, reset_key = jax.random.split(key, 3)
            action = jax.random.randint(action_key, (num_envs,), 0, 2)
            state, _, reward, terminated, truncated, _ = jax.vmap(env.step)(
                jax.random.split(step_key, num_envs), state, action
            )
            fresh, _ = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))
            done = terminated | truncated
            state = jax.tree.map(lambda a, b: jnp.where(done.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), fresh, state)
            return state, jnp.sum(done) + jnp.sum(state.physics)  # data-dependent, so nothing is optimised away

        _, outputs = jax.lax.scan(one_step, state, jax.random.split(key, num_steps * repeats))
        return outputs.sum()

    jax.block_until_ready(run(key))
    start = time.perf_counter()
    jax.block_until_ready(run(jax.random.fold_in(key, 1)))
    return num_envs * num_steps * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--timesteps", type=int, default=500_000)
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--no-anneal", action="store_true", help="constant learning rate instead of linear decay to 0")
    args = parser.parse_args()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}, {jax.devices()[0].platform}"
    )
    env = CartPoleJax()
    epochs, minibatches = 4, 4
    iterations = -(-args.timesteps // (args.envs * args.steps))
    # Linear decay of the step size to 0 over the run (optax schedule counted in gradient steps).
    learning_rate = (
        args.learning_rate
        if args.no_anneal
        else optax.linear_schedule(args.learning_rate, 0.0, iterations * epochs * minibatches)
    )
    optimizer = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(learning_rate, eps=1e-5))
    ppo = PPO(
        num_envs=args.envs, num_steps=args.steps, num_epochs=epochs, num_minibatches=minibatches, optimizer=optimizer
    )
    steps = iterations * ppo.batch_size
    history = ReturnHistory(iterations)
    print(
        f"PPO: {args.envs} envs x {args.steps} steps per iteration, {iterations} iterations = {steps} env steps per seed"
    )

    policy = MLPActorCritic(4, 2, key=jax.random.key(0))
    start = time.perf_counter()
    jax.block_until_ready(ppo.train(env, policy, 0, key=jax.random.key(0), callback=history))
    compile_seconds = time.perf_counter() - start
    print(f"compile (one program for every seed and budget): {compile_seconds:.1f} s")

    walls, finals, solved_at = [], [], []
    for seed in range(args.seeds):
        key = jax.random.key(seed)
        policy = MLPActorCritic(4, 2, key=jax.random.fold_in(key, 1))
        start = time.perf_counter()
        state = ppo.train(env, policy, args.timesteps, key=key, callback=history)
        jax.block_until_ready(state)
        walls.append(time.perf_counter() - start)
        finals.append(evaluate(state.policy, env, jax.random.fold_in(key, 2)))
        log = np.asarray(state.callback_state)  # per iteration: mean return of the episodes that ended, count
        ended = log[:, 1] > 0
        last = log[-20:]
        last_mean = float(np.sum(last[:, 0] * last[:, 1]) / max(np.sum(last[:, 1]), 1))
        # First iteration after which every training episode that ended (over 10 iterations) reached 500.
        window = [
            i
            for i in range(len(log) - 9)
            if ended[i : i + 10].any() and np.all(log[i : i + 10][ended[i : i + 10], 0] >= 500)
        ]
        solved_at.append(window[0] + 1 if window else None)
        print(
            f"seed {seed}: {walls[-1]:.2f} s, {steps / walls[-1]:,.0f} env steps/s, greedy return {finals[-1]:.1f} / 500, "
            f"training episodes' mean return over the last 20 iterations {last_mean:.1f}, "
            f"10 iterations of only 500-return episodes from iteration {solved_at[-1]}"
        )

    ours = steps / float(np.median(walls))
    loop_seconds = python_loop_train(
        ppo, env, MLPActorCritic(4, 2, key=jax.random.key(0)), iterations, jax.random.key(0)
    )
    loop = steps / loop_seconds
    bare = random_rollout_steps_per_second(env, args.envs, args.steps, iterations, jax.random.key(0))
    print()
    print(f"{'':40s} {'env steps/s':>14s} {'ratio':>8s}")
    print(f"{'PPO.train (one compiled program)':40s} {ours:14,.0f} {1.0:8.2f}")
    print(f"{'PPO, Python loop of jitted iterations':40s} {loop:14,.0f} {loop / ours:8.2f}")
    print(f"{'random-action rollout (no learning)':40s} {bare:14,.0f} {bare / ours:8.2f}")
    print(f"ours / Python loop: {ours / loop:.2f}x;  training throughput / bare env throughput: {ours / bare:.3f}")
    print(
        f"greedy return per seed: {[round(f, 1) for f in finals]} (max 500); every training episode at 500 from iteration {solved_at}"
    )


if __name__ == "__main__":
    main()
