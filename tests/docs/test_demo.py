"""The Q-learning agent, the curriculum demo (run through the experiment layer) and ``syllabus-like demo``."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from syllabus_like import parse_condition
from syllabus_like.agents import QLearningAgent
from syllabus_like.cli import main
from syllabus_like.demo import DEMO_FILES, DemoConfig, experiments_directory, format_table, run_demo, stopping_condition
from syllabus_like.envs import NUM_LEVELS
from syllabus_like.experiment import Agent, Experiment, LearningStats

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


def test_the_demo_module_keeps_the_agent_under_its_old_name():
    from syllabus_like.demo.q_learning import QLearningAgent as OldName

    assert OldName is QLearningAgent


def test_agent_protocol_spaces_masks_and_exploration_reset():
    agent = QLearningAgent.from_spaces(spaces.Discrete(3), spaces.Discrete(4), epsilon=1.0, seed=0)
    assert isinstance(agent, Agent) and agent.q_values.shape == (3, 4)
    mask = np.array([0, 1, 0, 1])
    assert {agent.get_action(0, mask) for _ in range(100)} == {1, 3}  # random choices stay legal
    agent.q_values[0] = [9.0, 1.0, 9.0, 2.0]
    assert {agent.get_action(0, mask, greedy=True) for _ in range(20)} == {3}  # best legal, not best overall
    with pytest.raises(ValueError, match="legal_mask must mark at least one of 4 actions"):
        agent.get_action(0, np.zeros(4))
    agent.reset_exploration(0.05)
    assert agent.epsilon == 0.05
    with pytest.raises(ValueError, match=r"exploration value \(epsilon\) must be in \[0, 1\], got 2"):
        agent.reset_exploration(2)
    with pytest.raises(ValueError, match="QLearningAgent needs a Discrete observation_space"):
        QLearningAgent.from_spaces(spaces.Box(0, 1, (2,)), spaces.Discrete(2))
    assert QLearningAgent(spaces.Discrete(5), spaces.Discrete(2)).q_values.shape == (5, 2)  # spaces work too
    with pytest.raises(ValueError, match="QLearningAgent needs a Discrete space for num_actions"):
        QLearningAgent(5, spaces.Box(0, 1, (2,)))


def test_agent_save_and_load_restore_table_settings_and_generator(tmp_path):
    agent = QLearningAgent(3, 2, learning_rate=0.3, epsilon=0.5, seed=1)
    agent.update(0, 1, 1.0, 2, terminated=True)
    path = agent.save(str(tmp_path / "q"))
    assert path == str(tmp_path / "q.npz")
    restored = QLearningAgent(3, 2, seed=99)
    restored.load(str(tmp_path / "q"))
    np.testing.assert_array_equal(restored.q_values, agent.q_values)
    assert (restored.learning_rate, restored.epsilon) == (0.3, 0.5)
    assert [restored.get_action(1) for _ in range(50)] == [agent.get_action(1) for _ in range(50)]
    with pytest.raises(ValueError, match=r"holds a Q-table of shape \(3, 2\), this agent's is \(4, 2\)"):
        QLearningAgent(4, 2).load(path)


# -------------------------------------------------------------------------- the demo


def test_the_demo_runs_the_yaml_files_under_examples():
    directory = experiments_directory()
    assert directory.name == "experiments" and directory.parent.name == "examples"
    curriculum = Experiment.load(directory / DEMO_FILES["curriculum"], variables=SMALL.variables())
    sequential = curriculum.tasks[0].curriculum
    assert sequential.num_stages == NUM_LEVELS
    assert sequential.stopping_conditions == [parse_condition(stopping_condition(SMALL))] * (NUM_LEVELS - 1)
    assert stopping_condition(SMALL) == "episodes>=30 & episode_return>=0.9"
    assert curriculum.tasks[0].stop_conditions == {"max_episodes": 300}
    direct = Experiment.load(directory / DEMO_FILES["direct"], variables=SMALL.variables())
    assert direct.tasks[0].curriculum is None and direct.tasks[0].env.level == HARDEST


def test_small_demo_switches_stages_and_the_curriculum_beats_direct_training(tmp_path):
    events: list[str] = []
    progress: list[tuple] = []
    result = run_demo(
        SMALL,
        output_dir=tmp_path,
        on_event=events.append,
        on_progress=lambda seed, method, task, stats: progress.append((seed, method, stats.episodes)),
    )

    assert [(run.seed, run.method) for run in result.runs] == [(0, "direct"), (0, "curriculum")]
    direct, curriculum = result.runs
    assert direct.stage_switches == ()
    levels = [(s.from_level, s.to_level) for s in curriculum.stage_switches]
    assert levels == [(level, level + 1) for level in range(HARDEST)]  # reached the hardest level
    at = [s.episode for s in curriculum.stage_switches]
    assert at == sorted(at) and at[0] >= SMALL.min_stage_episodes
    assert all(b - a >= SMALL.min_stage_episodes for a, b in zip(at, at[1:], strict=False))

    for run in result.runs:
        assert run.train_episodes == SMALL.episodes
        assert run.train_steps >= run.train_episodes
    # Same budget: the direct run never even sees the goal, the curriculum run learns the way.
    assert direct.train_successes == 0 and direct.success_rate <= 0.2
    assert curriculum.success_rate >= 0.8
    assert result.mean_success("curriculum") == curriculum.success_rate

    assert sum("level 0 -> 1" in event for event in events) == 1
    assert sum("greedy success" in event for event in events) == 2
    assert progress[-1] == (0, "curriculum", SMALL.episodes)
    assert {p[1] for p in progress} == {"direct", "curriculum"}
    kept = LearningStats.load(tmp_path / "curriculum" / "seed_0" / "curriculum")
    assert kept.agent_evaluations.tolist() == [curriculum.success_rate]
    assert len(kept.stage_switches) == HARDEST


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
    code = main(
        [
            "demo",
            "--seeds",
            "0",
            "--episodes",
            "300",
            "--eval-episodes",
            "20",
            "--min-stage-episodes",
            "30",
            "--return-buffer-size",
            "30",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "episodes>=30 & episode_return>=0.9" in out and "gridworld_curriculum.yml" in out
    assert "seed 0 curriculum: level 3 -> 4 after" in out
    table = out[out.index("seed  direct") :].splitlines()
    assert table[2].split()[:3] == ["0", "0.00", "1.00"]
    assert table[3].startswith("mean")
    assert "\r" not in err  # not a terminal: whole progress lines, no carriage returns
    assert "seed 0 curriculum: 300/300 episodes" in err


def test_demo_command_quiet_and_bad_options(capsys):
    assert main(["demo", "--seeds", "0", "--episodes", "20", "--eval-episodes", "2", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["demo", "--episodes", "0"]) == 2
    assert "episodes must be a positive int, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--episodes", "many"])
    with pytest.raises(SystemExit):
        main([])
