"""A single-file, CleanRL-style torch PPO that learns a family of CartPoles through a curriculum.

The tasks are CartPole physics, ``{"gravity": g, "length": l}`` (``length`` is
half the pole, in metres). A SequentialCurriculum starts on an easy pole (long,
under low gravity), moves to the standard CartPole once the recent mean return
passes a threshold, and ends on a random mix of gravities and pole lengths.

The loop is CleanRL's PPO (clipped objective, GAE, minibatch epochs, one file,
no framework), with the curriculum plugged in by the helpers of
``syllabus_like.integrations.cleanrl``:

* ``curriculum_env_fns(...)``: the env thunks, each a CurriculumWrapper whose
  client talks to a ``"process"`` TaskServer (the curriculum stays in this
  process; the envs run in ``AsyncVectorEnv`` workers);
* ``TaskTracker``: each sub-env's current task, read from the infos the loop
  already gets (``task_info="reset"``), used here to log returns per task;
* ``finished_episodes(infos)``: the episodes a step finished;
* ``evaluation(envs)``: a block whose episodes never reach the curriculum.

Run: python examples/cleanrl_ppo_curriculum.py   (a few minutes; SYLLABUS_LIKE_QUICK=1: well under a minute)
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from syllabus_like import DomainRandomization, SequentialCurriculum
from syllabus_like.envs import CartPoleTaskWrapper, cartpole_task_space
from syllabus_like.integrations.cleanrl import TaskTracker, curriculum_env_fns, evaluation, finished_episodes
from syllabus_like.server import TaskServer

QUICK = os.environ.get("SYLLABUS_LIKE_QUICK") == "1"
NUM_ENVS = 4 if QUICK else 8
NUM_STEPS = 128  # per env per rollout
TOTAL_TIMESTEPS = 12_000 if QUICK else 250_000
LEARNING_RATE = 2.5e-4
GAMMA, GAE_LAMBDA = 0.99, 0.95
NUM_MINIBATCHES, UPDATE_EPOCHS = 4, 4
CLIP_COEF, ENT_COEF, VF_COEF, MAX_GRAD_NORM = 0.2, 0.01, 0.5, 0.5

SHUFFLE_RNG = np.random.default_rng(0)
EASY = {"gravity": 5.0, "length": 1.0}
STANDARD = {"gravity": 9.8, "length": 0.5}


def make_curriculum() -> SequentialCurriculum:
    space = cartpole_task_space()
    mixed = cartpole_task_space(gravity=(5.0, 15.0), length=(0.3, 1.0))
    return SequentialCurriculum(
        [EASY, STANDARD, DomainRandomization(mixed, seed=1)],
        ["episodes>=10 & episode_return>=150", "episodes>=10 & episode_return>=150"],
        space,
        return_buffer_size=20,
    )


def layer(inputs: int, outputs: int, std: float = np.sqrt(2)) -> nn.Linear:
    linear = nn.Linear(inputs, outputs)
    nn.init.orthogonal_(linear.weight, std)
    nn.init.constant_(linear.bias, 0.0)
    return linear


class Agent(nn.Module):
    def __init__(self, observation_size: int, num_actions: int) -> None:
        super().__init__()
        self.critic = nn.Sequential(layer(observation_size, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, 1, 1.0))
        self.actor = nn.Sequential(
            layer(observation_size, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, num_actions, 0.01)
        )

    def value(self, observation: torch.Tensor) -> torch.Tensor:
        return self.critic(observation).squeeze(-1)

    def act(self, observation: torch.Tensor, action: torch.Tensor | None = None):
        distribution = torch.distributions.Categorical(logits=self.actor(observation))
        if action is None:
            action = distribution.sample()
        return action, distribution.log_prob(action), distribution.entropy(), self.value(observation)


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    curriculum = make_curriculum()
    with TaskServer(curriculum, backend="process") as server:
        env_fns = curriculum_env_fns(CartPoleTaskWrapper, server, NUM_ENVS)
        envs = gym.vector.AsyncVectorEnv(env_fns, context="forkserver")
        try:
            agent = train(envs, server)
            server.flush()
            trained = server.curriculum.metrics()["total_episodes"]
            with evaluation(envs):  # greedy episodes on the curriculum's current tasks, not reported
                print(f"greedy mean return on the current stage's tasks: {evaluate(agent, envs):.1f}")
            server.flush()
            assert server.curriculum.metrics()["total_episodes"] == trained
        finally:
            envs.close()  # each worker's client delivers what it still buffered
    for task in (EASY, STANDARD, {"gravity": 14.0, "length": 0.35}):  # each task alone, outside the curriculum
        print(f"task {task}: greedy return {play_greedy(agent, task):.0f}")


def train(envs: gym.vector.VectorEnv, server: TaskServer) -> Agent:
    observation_size = int(np.prod(envs.single_observation_space.shape))
    agent = Agent(observation_size, int(envs.single_action_space.n))
    optimizer = torch.optim.Adam(agent.parameters(), lr=LEARNING_RATE, eps=1e-5)
    batch_size = NUM_ENVS * NUM_STEPS
    minibatch_size = batch_size // NUM_MINIBATCHES

    observations = torch.zeros((NUM_STEPS, NUM_ENVS, observation_size))
    actions = torch.zeros((NUM_STEPS, NUM_ENVS), dtype=torch.long)
    log_probs, rewards, dones, values = (torch.zeros((NUM_STEPS, NUM_ENVS)) for _ in range(4))

    tracker = TaskTracker(NUM_ENVS)
    observation, infos = envs.reset(seed=0)
    tracker.update(infos)
    next_observation = torch.as_tensor(observation, dtype=torch.float32)
    next_done = torch.zeros(NUM_ENVS)
    returns_by_stage: dict[int, list[float]] = defaultdict(list)
    global_step, start = 0, time.time()

    for iteration in range(1, TOTAL_TIMESTEPS // batch_size + 1):
        for optimizer_group in optimizer.param_groups:  # linear learning-rate annealing, as CleanRL does
            optimizer_group["lr"] = LEARNING_RATE * (1.0 - (iteration - 1) / (TOTAL_TIMESTEPS // batch_size))
        for step in range(NUM_STEPS):
            global_step += NUM_ENVS
            observations[step], dones[step] = next_observation, next_done
            with torch.no_grad():
                action, log_prob, _, value = agent.act(next_observation)
            actions[step], log_probs[step], values[step] = action, log_prob, value
            observation, reward, terminated, truncated, infos = envs.step(action.numpy())
            rewards[step] = torch.as_tensor(reward, dtype=torch.float32)
            next_observation = torch.as_tensor(observation, dtype=torch.float32)
            next_done = torch.as_tensor(np.logical_or(terminated, truncated), dtype=torch.float32)
            for _, episode_return, _ in finished_episodes(infos):
                returns_by_stage[server.curriculum.stage].append(episode_return)
            tracker.update(infos)  # sub-envs that autoreset on this step announce their new task

        advantages = generalized_advantages(agent, next_observation, next_done, rewards, dones, values)
        update(agent, optimizer, observations, actions, log_probs, advantages, advantages + values, minibatch_size)

        if iteration % 5 == 0 or QUICK:
            stage = server.curriculum.stage
            recent = returns_by_stage[stage][-20:]
            gravities = sorted({round(task["gravity"], 1) for task in tracker.tasks})
            print(
                f"step {global_step:7d}  stage {stage}  mean return (last {len(recent)} episodes) "
                f"{np.mean(recent) if recent else float('nan'):6.1f}  gravities now {gravities[:4]}  "
                f"{int(global_step / (time.time() - start))} steps/s"
            )
    print(f"finished on stage {server.curriculum.stage} of 2 after {global_step} steps")
    return agent


def generalized_advantages(agent, next_observation, next_done, rewards, dones, values) -> torch.Tensor:
    """GAE(lambda), bootstrapping from the value of the observation after the rollout."""
    with torch.no_grad():
        next_value = agent.value(next_observation)
    advantages = torch.zeros_like(rewards)
    last = torch.zeros(NUM_ENVS)
    for step in reversed(range(NUM_STEPS)):
        not_done = 1.0 - (next_done if step == NUM_STEPS - 1 else dones[step + 1])
        following = next_value if step == NUM_STEPS - 1 else values[step + 1]
        delta = rewards[step] + GAMMA * following * not_done - values[step]
        last = delta + GAMMA * GAE_LAMBDA * not_done * last
        advantages[step] = last
    return advantages


def update(agent, optimizer, observations, actions, log_probs, advantages, returns, minibatch_size) -> None:
    """PPO's clipped policy loss, value loss and entropy bonus, over shuffled minibatches."""
    flat = [t.reshape(-1, *t.shape[2:]) for t in (observations, actions, log_probs, advantages, returns)]
    b_observations, b_actions, b_log_probs, b_advantages, b_returns = flat
    indices = np.arange(len(b_actions))
    for _ in range(UPDATE_EPOCHS):
        SHUFFLE_RNG.shuffle(indices)
        for begin in range(0, len(indices), minibatch_size):
            batch = indices[begin : begin + minibatch_size]
            _, new_log_prob, entropy, new_value = agent.act(b_observations[batch], b_actions[batch])
            ratio = (new_log_prob - b_log_probs[batch]).exp()
            advantage = b_advantages[batch]
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
            policy_loss = torch.max(
                -advantage * ratio, -advantage * torch.clamp(ratio, 1 - CLIP_COEF, 1 + CLIP_COEF)
            ).mean()
            value_loss = 0.5 * ((new_value - b_returns[batch]) ** 2).mean()
            loss = policy_loss - ENT_COEF * entropy.mean() + VF_COEF * value_loss
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), MAX_GRAD_NORM)
            optimizer.step()


def evaluate(agent: Agent, envs: gym.vector.VectorEnv) -> float:
    """Mean greedy return of the first episode each sub-env finishes."""
    observation, _ = envs.reset(seed=123)
    returns = np.zeros(NUM_ENVS)
    finished = np.zeros(NUM_ENVS, dtype=bool)
    while not finished.all():
        with torch.no_grad():
            action = agent.actor(torch.as_tensor(observation, dtype=torch.float32)).argmax(-1)
        observation, reward, terminated, truncated, _ = envs.step(action.numpy())
        returns += reward * ~finished
        finished |= terminated | truncated
    return float(returns.mean())


def play_greedy(agent: Agent, task: dict) -> float:
    env = CartPoleTaskWrapper()
    observation, _ = env.reset(seed=1, options={"task": task})
    total = 0.0
    while True:
        with torch.no_grad():
            action = int(agent.actor(torch.as_tensor(observation, dtype=torch.float32)).argmax())
        observation, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:
            return total


if __name__ == "__main__":
    main()
