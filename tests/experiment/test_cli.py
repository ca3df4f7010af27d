"""The ``syllabus-like`` command end to end: run (2 seeds, also in 2 processes), aggregate, plot, and errors."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from syllabus_like.cli import main
from syllabus_like.experiment import LearningStats

TINY = """\
agent:
  type: syllabus_like.agents:QLearningAgent
  args: {epsilon: 0.2}
defaults:
  env_type: syllabus_like.envs:GridCrossingEnv
  evaluation_interval: 10
  evaluation_count: 3
order: [warmup, target]
tasks:
  warmup:
    env_args: {level: 0}
    stop_conditions: {max_episodes: $episodes}
  target:
    env_args: {level: 2}
    stop_conditions: "episodes>=$episodes"
    curriculum: {type: SequentialCurriculum, curriculum_list: [1, 2], stopping_conditions: ["episodes>=5"]}
variables:
  episodes: 20
"""


@pytest.fixture
def experiment_file(tmp_path):
    path = tmp_path / "tiny.experiment.yml"
    path.write_text(textwrap.dedent(TINY))
    return path


def test_run_two_seeds_then_aggregate_and_plot(tmp_path, experiment_file, capsys):
    runs = tmp_path / "runs"
    assert main(["run", str(experiment_file), "--seeds", "0", "1", "--output", str(runs), "--var", "episodes=30"]) == 0
    out, err = capsys.readouterr()
    assert "seed 1  target: 30 episodes" in out and "2 run(s) in" in out
    assert "seed 0 warmup: 30/30 episodes" in err and "\r" not in err  # plain lines when not a terminal
    assert "target finished after 30 episodes" in err  # verbosity 1: task events
    for seed in (0, 1):
        folder = runs / f"seed_{seed}"
        record = json.loads((folder / "run.json").read_text())
        assert record["seed"] == seed and record["finished_tasks"] == ["warmup", "target"]
        stats = LearningStats.load(folder / "target")
        assert stats.episodes == 30 and stats.stage_switches[0]["episode"] == 5
        assert (folder / "target.agent.npz").exists() and (folder / "experiment.yml").exists()
    seed_stats = [LearningStats.load(runs / f"seed_{seed}" / "warmup") for seed in (0, 1)]
    assert seed_stats[0].episode_rewards.tolist() != seed_stats[1].episode_rewards.tolist()  # seeded differently

    assert main(["aggregate", str(runs), "--time-domain", "episodes", "--value-domain", "episode_rewards"]) == 0
    out, _ = capsys.readouterr()
    summary = json.loads((runs / "aggregate.json").read_text())
    assert list(summary["tasks"]) == ["warmup", "target"] and len(summary["runs"]) == 2
    warmup = summary["tasks"]["warmup"]
    expected = np.mean([s.episode_rewards for s in seed_stats], axis=0)
    np.testing.assert_allclose(warmup["mean"], expected, rtol=1e-6)
    assert warmup["timestamps"] == list(range(1, 31))
    row = next(line for line in out.splitlines() if " warmup " in line).split()
    assert row[2:4] == ["2", "30"] and float(row[4]) == pytest.approx(expected[-1], abs=1e-3)
    assert out.splitlines()[1].split()[4:9] == ["mean", "std", "min", "max", "iqm"]

    image = tmp_path / "plot.png"
    assert main(["plot", str(runs), str(runs / "seed_0"), "-o", str(image)]) == 0
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000


def test_run_in_parallel_processes_matches_the_serial_run(tmp_path, experiment_file, capsys):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert main(["run", str(experiment_file), "--seeds", "3", "4", "--output", str(serial), "-q"]) == 0
    assert main(["run", str(experiment_file), "--seeds", "3", "4", "--jobs", "2", "--output", str(parallel), "-q"]) == 0
    for seed in (3, 4):
        for task in ("warmup", "target"):
            a = LearningStats.load(serial / f"seed_{seed}" / task)
            b = LearningStats.load(parallel / f"seed_{seed}" / task)
            assert a.episode_rewards.tolist() == b.episode_rewards.tolist()
            assert a.agent_evaluations.tolist() == b.agent_evaluations.tolist()


def test_rerunning_into_the_same_output_resumes(tmp_path, experiment_file, capsys):
    runs = tmp_path / "runs"
    assert main(["run", str(experiment_file), "--output", str(runs), "-q"]) == 0
    assert main(["run", str(experiment_file), "--output", str(runs)]) == 0
    err = capsys.readouterr().err
    assert "warmup already finished" in err and "target already finished" in err
    assert len(json.loads((runs / "seed_0" / "run.json").read_text())["resumed"]) == 1


def test_agent_named_on_the_command_line(tmp_path, experiment_file, capsys):
    text = experiment_file.read_text().split("defaults:", 1)[1]
    bare = tmp_path / "bare.yml"
    bare.write_text("defaults:" + text)
    assert main(["run", str(bare), "--output", str(tmp_path / "a"), "-q"]) == 2
    assert "names no agent" in capsys.readouterr().err
    assert (
        main(
            ["run", str(bare), "--output", str(tmp_path / "b"), "-q", "--agent", "syllabus_like.agents.QLearningAgent"]
        )
        == 0
    )


def test_command_errors(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.yml")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "x.yml", "--var", "no-equals-sign"])
    assert main(["aggregate", str(tmp_path)]) == 2
    assert "holds no run" in capsys.readouterr().err
    assert main(["plot", str(tmp_path), "-o", str(tmp_path / "x.png")]) == 2
    with pytest.raises(SystemExit):
        main(["aggregate", str(tmp_path), "--value-domain", "returns"])


def test_a_task_without_values_is_skipped_not_fatal(tmp_path, experiment_file, capsys):
    text = experiment_file.read_text().replace("evaluation_interval: 10", "evaluation_interval: 1000")
    text = text.replace("defaults:", "defaults:\n  include_init_eval: false")
    no_evaluations = tmp_path / "no_eval.yml"
    no_evaluations.write_text(text)
    runs = tmp_path / "runs"
    assert main(["run", str(no_evaluations), "--output", str(runs), "-q"]) == 0
    capsys.readouterr()
    assert main(["aggregate", str(runs)]) == 0  # agent_evaluations: there are none
    out = capsys.readouterr().out
    assert next(line for line in out.splitlines() if " warmup " in line).split()[3:] == ["-"] * 7
    assert "skipped" in json.loads((runs / "aggregate.json").read_text())["tasks"]["warmup"]


def test_missing_extras_are_named(tmp_path, experiment_file, capsys, monkeypatch):
    import sys

    runs = tmp_path / "runs"
    assert main(["run", str(experiment_file), "--output", str(runs), "-q"]) == 0
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert main(["plot", str(runs), "-o", str(tmp_path / "x.png")]) == 2
    assert "pip install 'syllabus-like[plot]'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "scipy", None)
    assert main(["aggregate", str(runs)]) == 2
    assert "pip install 'syllabus-like[experiment]'" in capsys.readouterr().err


def test_bench_hands_its_arguments_to_the_efficacy_suite(capsys):
    from syllabus_like.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "efficacy", "--help"])
    assert exit_info.value.code == 0
    assert "--quick" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["bench", "speed"])
    assert "invalid choice: 'speed'" in capsys.readouterr().err
