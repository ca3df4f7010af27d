"""Experiment.run: tasks in order with one agent, output_dir, interruption and resume."""

from __future__ import annotations

import json

import pytest
from experiment_helpers import RecordingAgent, ScriptedEnv

from syllabus_like.agents import QLearningAgent
from syllabus_like.envs import GridCrossingEnv
from syllabus_like.experiment import Experiment, LearningStats, LearningTask


def three_tasks():
    return [
        LearningTask(
            ScriptedEnv,
            {"returns": [float(index)]},
            {"max_episodes": 2 + index},
            name=f"t{index}",
            include_init_eval=False,
            evaluation_interval=100,
        )
        for index in range(3)
    ]


def test_tasks_run_in_order_with_one_agent_and_stats_by_name():
    agent = RecordingAgent()
    seen = []
    experiment = Experiment(three_tasks())
    stats = experiment.run(agent, on_episode=lambda name, s: seen.append((name, s.episodes)))
    assert list(stats) == ["t0", "t1", "t2"]
    assert [stats[name].episode_rewards.tolist() for name in stats] == [[0.0] * 2, [1.0] * 3, [2.0] * 4]
    assert agent.updates == 2 * (2 + 3 + 4)
    assert seen == [("t0", 1), ("t0", 2), ("t1", 1), ("t1", 2), ("t1", 3)] + [("t2", n) for n in range(1, 5)]


def test_output_dir_gets_stats_agents_a_copy_and_run_json(tmp_path):
    tasks = [
        LearningTask(
            "syllabus_like.envs:GridCrossingEnv",
            {"level": level},
            {"max_episodes": 5},
            name=f"level{level}",
            evaluation_interval=5,
            evaluation_count=2,
        )
        for level in (0, 1)
    ]
    experiment = Experiment(tasks, tmp_path / "out", seed=11)
    agent = QLearningAgent(7 * 26, 4, seed=0)
    experiment.run(agent)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "experiment.yml",
        "level0.agent.npz",
        "level0.stats.json",
        "level1.agent.npz",
        "level1.stats.json",
        "run.json",
    ]
    record = json.loads((out / "run.json").read_text())
    assert record["seed"] == 11 and record["status"] == "finished" and record["ended"] is not None
    assert record["finished_tasks"] == ["level0", "level1"]
    assert {"python", "numpy", "gymnasium", "syllabus-like"} <= set(record["versions"])
    assert Experiment.load(out / "experiment.yml") == experiment
    assert LearningStats.load(out / "level1") == experiment.stats["level1"]


def test_seeded_experiments_repeat_exactly(tmp_path):
    def run_once():
        tasks = [
            LearningTask(
                GridCrossingEnv, {"level": 1}, {"max_episodes": 20}, evaluation_interval=10, evaluation_count=3
            )
        ]
        return Experiment(tasks, seed=5).run(QLearningAgent(7 * 26, 4, seed=0))["0"]

    assert run_once().to_dict() | {"episode_wall_times": 0, "episode_cpu_times": 0} == run_once().to_dict() | {
        "episode_wall_times": 0,
        "episode_cpu_times": 0,
    }


class FailingAgent(RecordingAgent):
    """Raises KeyboardInterrupt at its ``fail_at``-th update (once)."""

    def __init__(self, fail_at):
        super().__init__()
        self.fail_at = fail_at

    def update(self, *args):
        super().update(*args)
        if self.updates == self.fail_at:
            self.fail_at = None
            raise KeyboardInterrupt


def test_interruption_saves_the_task_in_progress_and_resume_skips_finished_tasks(tmp_path):
    out = tmp_path / "out"
    agent = FailingAgent(fail_at=2 * 2 + 3)  # first step of t1's 2nd episode
    with pytest.raises(KeyboardInterrupt):
        Experiment(three_tasks(), out).run(agent)
    record = json.loads((out / "run.json").read_text())
    assert record["finished_tasks"] == ["t0"] and record["status"] == "interrupted in task t1"
    assert LearningStats.load(out / "t1").episodes == 1  # the task in progress was saved too

    resumed_agent = RecordingAgent()
    experiment = Experiment(three_tasks(), out)
    stats = experiment.run(resumed_agent)
    assert resumed_agent.loaded == [str(out / "t0.agent.txt")]  # the agent as t0 left it
    assert resumed_agent.updates == 4 + 2 * (3 + 4)  # t0 is not run again
    assert stats["t0"].episodes == 2 and stats["t0"] == LearningStats.load(out / "t0")
    record = json.loads((out / "run.json").read_text())
    assert record["finished_tasks"] == ["t0", "t1", "t2"] and record["status"] == "finished"
    assert len(record["resumed"]) == 1


def test_resuming_needs_an_agent_that_loads(tmp_path):
    Experiment(three_tasks(), tmp_path).run(RecordingAgent())

    class NoLoad:
        get_action = RecordingAgent.get_action
        update = RecordingAgent.update

    with pytest.raises(ValueError, match="resuming it needs an agent with load"):
        Experiment(three_tasks(), tmp_path).run(NoLoad())


def test_logging_follows_verbosity(caplog):
    with caplog.at_level("INFO", logger="syllabus_like.experiment"):
        Experiment(three_tasks()).run(RecordingAgent(), verbose=1)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [f"t{i} finished after {2 + i} episodes, {2 * (2 + i)} steps" for i in range(3)]
    caplog.clear()
    with caplog.at_level("INFO", logger="syllabus_like.experiment"):
        Experiment(three_tasks()).run(RecordingAgent(), verbose=0)
    assert caplog.records == []


def test_the_experiment_layer_imports_no_plotting_statistics_or_progress_library():
    import subprocess
    import sys

    code = (
        "import sys, syllabus_like.experiment, syllabus_like.cli, syllabus_like.agents\n"
        "print(sorted(m for m in ('matplotlib', 'scipy', 'tqdm', 'jax', 'torch', 'ray') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_progress_reporter_draws_a_bar_or_writes_whole_lines(caplog):
    import io

    from syllabus_like.experiment.progress import ProgressReporter, episode_budget

    assert episode_budget({"max_episodes": 40}) == 40 and episode_budget("episodes>=40") is None
    stream = io.StringIO()
    bar = ProgressReporter("seed 0", {"a": 40}, stream, bar=True)
    stats = LearningStats(10)
    for number in range(1, 41):
        stats.update(number, 1.0, 2, 0.0, 0.0)
        bar("a", stats)
    bar.close()
    assert "seed 0 a" in stream.getvalue() and "40/40" in stream.getvalue()
    lines = ProgressReporter("seed 1", {"a": 40}, io.StringIO(), bar=False)
    with caplog.at_level("INFO", logger="syllabus_like.cli"):
        stats = LearningStats(10)
        for number in range(1, 9):
            stats.update(number, 1.0, 2, 0.0, 0.0)
            lines("a", stats)
    assert [r.getMessage() for r in caplog.records] == [
        "seed 1 a: 4/40 episodes, 8 steps",
        "seed 1 a: 8/40 episodes, 16 steps",
    ]
