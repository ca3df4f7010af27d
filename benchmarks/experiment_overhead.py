"""What the experiment layer's runner costs per environment step.

A :class:`~syllabus_like.experiment.LearningTask` trains an agent through its
own loop, with an :class:`~syllabus_like.experiment.EpisodeStatistics`
wrapper recording every episode and the stop condition checked after each.
The baseline is the loop anyone would write by hand for the same agent on the
same env: reset, act, step, update, keep each episode's return and length in
a list, stop after N episodes.

Agent and env: the tabular :class:`~syllabus_like.agents.QLearningAgent` on
:class:`~syllabus_like.envs.GridCrossingEnv`, where a step (env + agent)
takes a few microseconds, so per-step and per-episode overheads show in full.
Each round trains a fresh agent (same seed) for ``--episodes`` episodes with
each method, in alternating order; steps/s is the best round and the ratio is
the median over rounds of ours / hand-written (also in process CPU time, which
a busy neighbour disturbs less). Evaluations are off in both (evaluation
episodes are extra work, not overhead), so the ratio is the runner's price.

Sections: the plain env (level 2), and the env under a SequentialCurriculum
in a ``CurriculumWrapper`` (both loops on the same wrapped env; ours adds the
stage tracking of the statistics wrapper). Target: ratio >= 0.95.

Usage: ``python benchmarks/experiment_overhead.py [--rounds N] [--episodes N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from syllabus_like import SequentialCurriculum
from syllabus_like.agents import QLearningAgent
from syllabus_like.envs import GridCrossingEnv
from syllabus_like.experiment import LearningTask
from syllabus_like.wrappers import CurriculumWrapper


def hand_written_loop(env, agent, episodes: int, seed: int) -> int:
    """The baseline: N episodes of act / step / update, returns and lengths kept; the steps taken."""
    returns, lengths = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed if episode == 0 else None)
        episode_return, length = 0.0, 0
        while True:
            action = agent.get_action(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            agent.update(obs, action, reward, next_obs, terminated, truncated)
            obs = next_obs
            episode_return += reward
            length += 1
            if terminated or truncated:
                break
        returns.append(episode_return)
        lengths.append(length)
    return sum(lengths)


def make_curriculum(seed: int) -> SequentialCurriculum:
    return SequentialCurriculum(
        [0, 1, 2, 3, 4],
        ["episodes>=50 & episode_return>=0.9"] * 4,
        GridCrossingEnv().task_space,
        return_buffer_size=50,
        seed=seed,
    )


def time_once(function) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    steps = function()
    return time.perf_counter() - wall, time.process_time() - cpu, steps


def run_section(name: str, with_curriculum: bool, rounds: int, episodes: int) -> float:
    def agent() -> QLearningAgent:
        return QLearningAgent(7 * 26, 4, seed=0)

    def ours() -> int:
        task = LearningTask(
            GridCrossingEnv,
            {"level": 2},
            {"max_episodes": episodes},
            include_init_eval=False,
            evaluation_interval=episodes + 1,
            seed=0,
            curriculum={
                "type": "SequentialCurriculum",
                "curriculum_list": [0, 1, 2, 3, 4],
                "stopping_conditions": ["episodes>=50 & episode_return>=0.9"] * 4,
                "return_buffer_size": 50,
            }
            if with_curriculum
            else None,
        )
        return task.run(agent()).total_steps

    def hand() -> int:
        env = GridCrossingEnv(level=2)
        if with_curriculum:
            env = CurriculumWrapper(env, make_curriculum(0))
        return hand_written_loop(env, agent(), episodes, seed=0)

    rates = {"ours": [], "hand-written": []}
    ratios, cpu_ratios = [], []
    for round_number in range(rounds):
        order = [("ours", ours), ("hand-written", hand)]
        if round_number % 2:
            order.reverse()
        measured = {label: time_once(function) for label, function in order}
        for label, (wall, _, steps) in measured.items():
            rates[label].append(steps / wall)
        ours_wall, ours_cpu, ours_steps = measured["ours"]
        hand_wall, hand_cpu, hand_steps = measured["hand-written"]
        ratios.append((ours_steps / ours_wall) / (hand_steps / hand_wall))
        cpu_ratios.append((ours_steps / ours_cpu) / (hand_steps / hand_cpu))
    ratio = statistics.median(ratios)
    print(f"== {name}: {episodes} episodes per round, {rounds} rounds")
    for label, values in rates.items():
        print(f"  {label:<13} {max(values):>12,.0f} steps/s (best round)")
    print(
        f"  ratio ours / hand-written: {ratio:.3f} (wall, median; rounds {min(ratios):.3f}-{max(ratios):.3f}), "
        f"{statistics.median(cpu_ratios):.3f} (CPU time)"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    plain = run_section(
        "LearningTask.run vs hand-written loop, GridCrossing level 2", False, args.rounds, args.episodes
    )
    curriculum = run_section("... with a SequentialCurriculum in a CurriculumWrapper", True, args.rounds, args.episodes)
    print(
        f"target >= 0.95: plain {'met' if plain >= 0.95 else 'MISSED'}, "
        f"curriculum {'met' if curriculum >= 0.95 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
