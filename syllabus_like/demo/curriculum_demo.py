"""The curriculum demo: the same agent and budget, with and without a curriculum.

A tabular Q-learning agent (:class:`~syllabus_like.demo.q_learning.QLearningAgent`)
is trained for the hardest level of :class:`~syllabus_like.envs.GridCrossingEnv`
twice, each time for the same number of training episodes:

* **direct**: every episode plays the hardest level
  (a :class:`~syllabus_like.Constant` curriculum);
* **curriculum**: a :class:`~syllabus_like.SequentialCurriculum` plays level
  0, 1, ... in turn, moving on when the stopping condition (in the condition
  language, e.g. ``"episodes>=50 & episode_return>=0.9"``) holds, and ends on
  the hardest level, which takes whatever budget is left.

Both runs go through :class:`~syllabus_like.wrappers.CurriculumWrapper`, which
samples each episode's task at reset and reports each finished episode back.
Afterwards each agent is evaluated greedily on the hardest level. The demo
repeats this for several seeds.

This module computes and reports through callbacks; it never prints. The
``syllabus-like demo`` command (:mod:`syllabus_like.cli`) shows the events, a
progress line and the final table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from syllabus_like.curricula import Constant, Curriculum, SequentialCurriculum
from syllabus_like.agents.q_learning import QLearningAgent
from syllabus_like.envs.gridworld import NUM_LEVELS, GridCrossingEnv
from syllabus_like.wrappers import CurriculumWrapper

__all__ = [
    "HARDEST_LEVEL",
    "DemoConfig",
    "DemoResult",
    "RunResult",
    "StageSwitch",
    "evaluate_greedy",
    "format_table",
    "make_sequential_curriculum",
    "run_demo",
    "stopping_condition",
    "train",
]

logger = logging.getLogger(__name__)

METHODS: tuple[str, str] = ("direct", "curriculum")
#: The level both runs are evaluated on.
HARDEST_LEVEL: int = NUM_LEVELS - 1

#: ``on_progress(seed, method, episodes_done, episodes_total, level)``
ProgressCallback = Callable[[int, str, int, int, int], None]
#: ``on_event(message)``: a line worth showing (stage switches, run results).
EventCallback = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    """Everything the demo can be told; the defaults are the built-in demo.

    Attributes:
        seeds: one direct and one curriculum run per seed (agent, env and
            curriculum are all seeded from it).
        episodes: training episodes per run (the shared budget).
        eval_episodes: greedy evaluation episodes on the hardest level.
        min_stage_episodes: a stage lasts at least this many episodes.
        advance_return: ... and until the mean return of its last
            ``return_buffer_size`` episodes (= the success rate: the reward is
            1 at the goal, 0 elsewhere) reaches this.
        return_buffer_size: episodes in the ``episode_return`` mean.
        learning_rate, discount, epsilon: the Q-learning agent's settings.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    episodes: int = 1000
    eval_episodes: int = 100
    min_stage_episodes: int = 50
    advance_return: float = 0.9
    return_buffer_size: int = 50
    learning_rate: float = 0.5
    discount: float = 0.95
    epsilon: float = 0.1

    def __post_init__(self) -> None:
        if len(self.seeds) == 0:
            raise ValueError("DemoConfig.seeds must name at least one seed, got none")
        for name in ("episodes", "eval_episodes", "min_stage_episodes", "return_buffer_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DemoConfig.{name} must be a positive int, got {value!r}")
        if not 0.0 <= self.advance_return <= 1.0:
            raise ValueError(f"DemoConfig.advance_return must be in [0, 1], got {self.advance_return!r}")


@dataclass(frozen=True)
class StageSwitch:
    """The curriculum moved from ``from_level`` to ``to_level`` after ``episode`` training episodes."""

    episode: int
    from_level: int
    to_level: int
    condition: str


@dataclass(frozen=True)
class RunResult:
    """One training run (one seed, one method) and its greedy evaluation."""

    seed: int
    method: str
    success_rate: float
    train_episodes: int
    train_steps: int
    train_successes: int
    seconds: float
    stage_switches: tuple[StageSwitch, ...] = ()


@dataclass(frozen=True)
class DemoResult:
    """All runs of a demo, with the per-method mean success rate."""

    config: DemoConfig
    runs: tuple[RunResult, ...] = field(default_factory=tuple)

    def success_rates(self, method: str) -> list[float]:
        return [run.success_rate for run in self.runs if run.method == method]

    def mean_success(self, method: str) -> float:
        return float(np.mean(self.success_rates(method)))


def stopping_condition(config: DemoConfig) -> str:
    """The condition that ends every easier stage, in the condition language."""
    return f"episodes>={config.min_stage_episodes} & episode_return>={config.advance_return:g}"


def make_sequential_curriculum(config: DemoConfig, seed: int) -> SequentialCurriculum:
    """Levels ``0, 1, ..., hardest`` in turn, each easier one ended by :func:`stopping_condition`."""
    levels = list(range(NUM_LEVELS))
    return SequentialCurriculum(
        levels,
        [stopping_condition(config)] * (len(levels) - 1),
        GridCrossingEnv().task_space,
        return_buffer_size=config.return_buffer_size,
        seed=seed,
    )


def train(
    env: CurriculumWrapper,
    agent: QLearningAgent,
    episodes: int,
    *,
    seed: int,
    on_episode: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Run ``episodes`` Q-learning episodes on ``env``.

    Returns the number of steps taken and of episodes that reached the goal.
    ``on_episode(episodes_done, level_just_played)`` is called after each episode.
    """
    total_steps = 0
    successes = 0
    for episode in range(episodes):
        state, _ = env.reset(seed=seed if episode == 0 else None)
        level = int(env.task)
        done = False
        while not done:
            action = agent.act(state)
            next_state, reward, terminated, truncated, _ = env.step(action)
            agent.update(state, action, float(reward), next_state, terminated)
            state = next_state
            total_steps += 1
            done = terminated or truncated
        successes += int(terminated)
        if on_episode is not None:
            on_episode(episode + 1, level)
    return total_steps, successes


def evaluate_greedy(agent: QLearningAgent, *, level: int, episodes: int, seed: int) -> float:
    """Fraction of ``episodes`` greedy episodes on ``level`` that reach the goal (no learning)."""
    env = GridCrossingEnv(level=level)
    successes = 0
    for episode in range(episodes):
        state, _ = env.reset(seed=seed if episode == 0 else None)
        while True:
            state, _, terminated, truncated, _ = env.step(agent.act(state, greedy=True))
            if terminated or truncated:
                successes += int(terminated)
                break
    return successes / episodes


def _run(
    config: DemoConfig,
    seed: int,
    method: str,
    on_progress: ProgressCallback | None,
    on_event: EventCallback | None,
) -> RunResult:
    start = time.perf_counter()
    base_env = GridCrossingEnv()
    curriculum: Curriculum
    if method == "direct":
        curriculum = Constant(base_env.task_space, HARDEST_LEVEL, seed=seed)
    else:
        curriculum = make_sequential_curriculum(config, seed)
    env = CurriculumWrapper(base_env, curriculum)
    agent = QLearningAgent(
        base_env.observation_space.n,
        base_env.action_space.n,
        learning_rate=config.learning_rate,
        discount=config.discount,
        epsilon=config.epsilon,
        seed=seed,
    )
    switches: list[StageSwitch] = []
    progress_every = max(1, config.episodes // 100)

    previous_stage = getattr(curriculum, "stage", 0)

    def on_episode(done: int, level: int) -> None:
        nonlocal previous_stage
        # The curriculum checks its condition when the episode is reported, so
        # a switch shows here; stage i of the sequential curriculum plays level i.
        stage = getattr(curriculum, "stage", 0)
        if stage != previous_stage:
            condition = str(curriculum.stopping_conditions[previous_stage])  # type: ignore[attr-defined]
            switch = StageSwitch(done, previous_stage, stage, condition)
            switches.append(switch)
            previous_stage = stage
            logger.info("seed %d: curriculum level %d -> %d after %d episodes", seed, switch.from_level, stage, done)
            if on_event is not None:
                on_event(
                    f"seed {seed} curriculum: level {switch.from_level} -> {switch.to_level} "
                    f"after {done} episodes ({switch.condition})"
                )
        if on_progress is not None and (done % progress_every == 0 or done == config.episodes):
            on_progress(seed, method, done, config.episodes, level)

    steps, successes = train(env, agent, config.episodes, seed=seed, on_episode=on_episode)
    success = evaluate_greedy(agent, level=HARDEST_LEVEL, episodes=config.eval_episodes, seed=seed + 10_000)
    result = RunResult(
        seed=seed,
        method=method,
        success_rate=success,
        train_episodes=config.episodes,
        train_steps=steps,
        train_successes=successes,
        seconds=time.perf_counter() - start,
        stage_switches=tuple(switches),
    )
    if on_event is not None:
        on_event(
            f"seed {seed} {method}: greedy success on level {HARDEST_LEVEL} = {success:.2f} "
            f"(trained {config.episodes} episodes, {successes} reached the goal, {steps} steps, "
            f"{result.seconds:.1f} s)"
        )
    return result


def run_demo(
    config: DemoConfig | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    on_event: EventCallback | None = None,
) -> DemoResult:
    """Train and evaluate both methods for every seed of ``config`` (default: the built-in demo)."""
    config = DemoConfig() if config is None else config
    runs = [
        _run(config, seed, method, on_progress, on_event) for seed in config.seeds for method in METHODS
    ]
    return DemoResult(config=config, runs=tuple(runs))


def format_table(result: DemoResult) -> str:
    """A plain-text table: per seed, each method's greedy success rate on the hardest level; then the mean."""
    header = ["seed", *METHODS, "curriculum stages reached at episode"]
    rows: list[Sequence[str]] = []
    for seed in result.config.seeds:
        by_method = {run.method: run for run in result.runs if run.seed == seed}
        switches = by_method["curriculum"].stage_switches
        reached = ", ".join(f"L{s.to_level}@{s.episode}" for s in switches) or "-"
        rows.append([str(seed), *(f"{by_method[m].success_rate:.2f}" for m in METHODS), reached])
    rows.append(["mean", *(f"{result.mean_success(m):.2f}" for m in METHODS), ""])
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(header, widths)).rstrip(),
        "  ".join("-" * width for width in widths),
    ]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
