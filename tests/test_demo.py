"""The Q-learning agent, the curriculum demo and the ``syllabus-like demo`` command."""

from __future__ import annotations

import numpy as np
import pytest

from syllabus_like import SequentialCurriculum, parse_condition
from syllabus_like.cli import main
from syllabus_like.demo import (
    DemoConfig,
    QLearningAgent,
    evaluate_greedy,
    format_table,
    make_sequential_curriculum,
    run_demo,
    stopping_condition,
)
from syllabus_like.envs import NUM_LEVELS

HARDEST = NUM_LEVELS - 1

#: Small enough to run in about a second, large enough for the curriculum to reach the last level.
SMALL = DemoConfig(seeds=(0,), episodes=300, eval_episodes=20, min_stage_episodes=30, return_buffer_size=30)


# ------------------------------------------------------------------------- the agent


def test_q_update_follows_the_one_step_target():
    agent = QLearningAgent(3, 2, learning_rate=0.5, discount=0.9, seed=0)
    agent.q_values[1] = [0.2, 0.6]
    agent.update(0, 1, 1.0, 1, terminated=False)
    assert agent.q_values[0, 1] == pytest.approx(0.5 * (1.0 + 0.9 * 0.6))
    agent.update(0, 0, 1.0, 1, terminated=True)  # no bootstrap from a terminal state
    assert agent.q_values[0, 0] == pytest.approx(0.5)
    assert agent.q_values[1].tolist() == [0.2, 0.6]  # only the updated entry moves


def test_greedy_actions_break_ties_at_random_among_the_best_only():
    agent = QLearningAgent(1, 4, epsilon=0.0, seed=0)
    agent.q_values[0] = [0.5, 0.1, 0.5, 0.0]
    actions = {agent.act(0) for _ in range(200)}
    assert actions == {0, 2}
    agent.q_values[0, 2] = 0.7
    assert {agent.act(0, greedy=True) for _ in range(50)} == {2}


def test_exploration_rate_and_seeding():
    agent = QLearningAgent(1, 4, epsilon=1.0, seed=3)
    agent.q_values[0, 1] = 1.0
    explored = [agent.act(0) for _ in range(400)]
    assert set(explored) == {0, 1, 2, 3}  # epsilon=1 ignores the values
    same_seed = QLearningAgent(1, 4, epsilon=1.0, seed=3)
    same_seed.q_values[0, 1] = 1.0
    assert [same_seed.act(0) for _ in range(400)] == explored


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_states": 0}, "num_states must be a positive int, got 0"),
        ({"num_actions": 2.5}, "num_actions must be a positive int, got 2.5"),
        ({"learning_rate": 0.0}, r"learning_rate must be in \(0, 1\], got 0.0"),
        ({"discount": 1.5}, r"discount must be in \[0, 1\], got 1.5"),
        ({"epsilon": -0.1}, r"epsilon must be in \[0, 1\], got -0.1"),
    ],
)
def test_agent_rejects_bad_settings(kwargs, message):
    settings = {"num_states": 4, "num_actions": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        QLearningAgent(settings.pop("num_states"), settings.pop("num_actions"), **settings)


# -------------------------------------------------------------------------- the demo


def test_the_curriculum_is_a_sequence_of_levels_with_parsed_conditions():
    curriculum = make_sequential_curriculum(SMALL, seed=0)
    assert isinstance(curriculum, SequentialCurriculum)
    assert curriculum.num_stages == NUM_LEVELS and curriculum.stage == 0
    expected = parse_condition(stopping_condition(SMALL))
    assert curriculum.stopping_conditions == [expected] * (NUM_LEVELS - 1)
    assert stopping_condition(SMALL) == "episodes>=30 & episode_return>=0.9"
    assert curriculum.sample(3) == [0, 0, 0]


def test_small_demo_switches_stages_and_the_curriculum_beats_direct_training():
    events: list[str] = []
    progress: list[tuple] = []
    result = run_demo(SMALL, on_event=events.append, on_progress=lambda *args: progress.append(args))

    assert [(run.seed, run.method) for run in result.runs] == [(0, "direct"), (0, "curriculum")]
    direct, curriculum = result.runs
    assert direct.stage_switches == ()
    levels = [(s.from_level, s.to_level) for s in curriculum.stage_switches]
    assert levels == [(level, level + 1) for level in range(HARDEST)]  # reached the hardest level
    at = [s.episode for s in curriculum.stage_switches]
    assert at == sorted(at) and at[0] >= SMALL.min_stage_episodes
    assert all(b - a >= SMALL.min_stage_episodes for a, b in zip(at, at[1:]))
    assert curriculum.stage_switches[0].condition == str(parse_condition(stopping_condition(SMALL)))

    for run in result.runs:
        assert run.train_episodes == SMALL.episodes
        assert run.train_steps >= run.train_episodes
    # Same budget: the direct run never even sees the goal, the curriculum run learns the way.
    assert direct.train_successes == 0 and direct.success_rate <= 0.2
    assert curriculum.success_rate >= 0.8
    assert result.mean_success("curriculum") == curriculum.success_rate

    assert sum("level 0 -> 1" in event for event in events) == 1
    assert sum("greedy success" in event for event in events) == 2
    assert progress[-1] == (0, "curriculum", SMALL.episodes, SMALL.episodes, HARDEST)
    assert {p[1] for p in progress} == {"direct", "curriculum"}


def test_result_table_has_a_row_per_seed_and_a_mean():
    config = DemoConfig(seeds=(4, 5), episodes=40, eval_episodes=5, min_stage_episodes=10, return_buffer_size=10)
    result = run_demo(config)
    lines = format_table(result).splitlines()
    assert lines[0].split()[:3] == ["seed", "direct", "curriculum"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert [line.split()[0] for line in lines[2:]] == ["4", "5", "mean"]
    rates = {run.method: [] for run in result.runs}
    for run in result.runs:
        rates[run.method].append(run.success_rate)
    mean_row = lines[-1].split()
    assert mean_row[1:] == [f"{np.mean(rates['direct']):.2f}", f"{np.mean(rates['curriculum']):.2f}"]


def test_demo_is_reproducible():
    config = DemoConfig(seeds=(1,), episodes=60, eval_episodes=5, min_stage_episodes=10, return_buffer_size=10)
    first, second = run_demo(config), run_demo(config)
    strip = lambda result: [(r.method, r.success_rate, r.train_steps, r.stage_switches) for r in result.runs]  # noqa: E731
    assert strip(first) == strip(second)


def test_greedy_evaluation_of_an_untrained_agent_rarely_succeeds_on_the_hardest_level():
    agent = QLearningAgent(7 * 26, 4, seed=0)
    assert evaluate_greedy(agent, level=HARDEST, episodes=10, seed=0) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": ()}, "at least one seed"),
        ({"episodes": 0}, "episodes must be a positive int, got 0"),
        ({"advance_return": 2.0}, r"advance_return must be in \[0, 1\], got 2.0"),
    ],
)
def test_demo_config_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DemoConfig(**kwargs)


# ------------------------------------------------------------------------ the command


def test_demo_command_prints_switches_and_the_table(capsys):
    code = main(["demo", "--seeds", "0", "--episodes", "300", "--eval-episodes", "20",
                 "--min-stage-episodes", "30", "--return-buffer-size", "30"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "episodes>=30 & episode_return>=0.9" in out
    assert "seed 0 curriculum: level 3 -> 4 after" in out
    table = out[out.index("seed  direct"):].splitlines()
    assert table[2].split()[:3] == ["0", "0.00", "1.00"]
    assert table[3].startswith("mean")
    assert "\r" in err and "300/300 episodes" in err  # the progress line goes to stderr


def test_demo_command_quiet_and_bad_options(capsys):
    assert main(["demo", "--seeds", "0", "--episodes", "20", "--eval-episodes", "2", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["demo", "--episodes", "0"]) == 2
    assert "episodes must be a positive int, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--episodes", "many"])
    with pytest.raises(SystemExit):
        main([])
