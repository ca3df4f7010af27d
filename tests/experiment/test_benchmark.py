"""benchmarks/experiment_overhead.py runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "experiment_overhead.py"


def load_script():
    spec = importlib.util.spec_from_file_location("experiment_overhead", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_hand_written_loop_trains_the_agent_and_counts_its_steps():
    script = load_script()
    from syllabus_like.agents import QLearningAgent
    from syllabus_like.envs import GridCrossingEnv

    hand_agent = QLearningAgent(7 * 26, 4, seed=0)
    hand_steps = script.hand_written_loop(GridCrossingEnv(level=1), hand_agent, 30, seed=0)
    assert hand_steps >= 30 and hand_agent.q_values.any()


def test_a_short_section_prints_its_ratio(capsys):
    script = load_script()
    ratio = script.run_section("tiny", True, rounds=2, episodes=20)
    out = capsys.readouterr().out
    assert ratio > 0 and "ratio ours / hand-written" in out and "steps/s" in out
