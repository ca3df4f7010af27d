"""YAML: task and experiment round trips, academia's files, ``path`` includes, variables, defaults."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from syllabus_like.agents import QLearningAgent
from syllabus_like.envs import GridCrossingEnv
from syllabus_like.experiment import Experiment, LearningStats, LearningTask

#: academia's LearningTask example file, with its env replaced by ours.
ACADEMIA_TASK_YML = """\
env_type: syllabus_like.envs.GridCrossingEnv
env_args:
    level: 2
    render_mode: ansi
stop_conditions:
    max_episodes: 1000
stats_save_path: ./my_task_stats.json
"""

#: academia's Curriculum example file (the one with a path include), env replaced by ours.
ACADEMIA_CURRICULUM_YML = """\
output_dir: './my_curriculum/'
order:
- 0
- 1
tasks:
  0:
    # this task's config is specified here directly:
    env_args:
      level: 0
      render_mode: ansi
    env_type: syllabus_like.envs.GridCrossingEnv
    evaluation_interval: 100
    stop_conditions:
      max_episodes: 500
  1:
    # this task's config lies in a separate file
    # path is relative to the location of my_config.curriculum.yml
    path: ./lava_crossing_hard.task.yml
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_academia_task_file_loads_unchanged(tmp_path):
    task = LearningTask.load(write(tmp_path / "my_config.task.yml", ACADEMIA_TASK_YML))
    assert isinstance(task.env, GridCrossingEnv) and task.env.level == 2 and task.env.render_mode == "ansi"
    assert task.stop_conditions == {"max_episodes": 1000}
    assert task.stats_save_path == "./my_task_stats.json"
    assert LearningTask.load(tmp_path / "my_config") == task  # ".task.yml" appended, as academia does


def test_academia_task_file_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    task = LearningTask.load(write(tmp_path / "short.task.yml", ACADEMIA_TASK_YML.replace("1000", "120")))
    agent = QLearningAgent.from_spaces(task.env.observation_space, task.env.action_space, seed=0)
    task.run(agent, verbose=1)
    saved = LearningStats.load(tmp_path / "my_task_stats.json")
    assert saved.episodes == 120 and saved.evaluation_episodes.tolist() == [0, 100]


def test_academia_curriculum_file_with_a_path_include_loads_and_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the included task saves its stats to ./my_task_stats.json
    write(tmp_path / "configs" / "lava_crossing_hard.task.yml", ACADEMIA_TASK_YML.replace("1000", "4"))
    path = write(tmp_path / "configs" / "my_config.curriculum.yml", ACADEMIA_CURRICULUM_YML.replace("500", "3"))
    experiment = Experiment.load(path)
    assert experiment.task_names == ["0", "1"]
    assert [task.env.level for task in experiment.tasks] == [0, 2]
    assert experiment.output_dir == "./my_curriculum/"
    experiment.output_dir = None
    agent = QLearningAgent(7 * 26, 4, seed=0)
    stats = experiment.run(agent)
    assert [stats[name].episodes for name in ("0", "1")] == [3, 4]
    assert LearningStats.load(tmp_path / "my_task_stats.json") == stats["1"]


def test_task_round_trip_keeps_every_setting(tmp_path):
    task = LearningTask(
        "syllabus_like.envs:GridCrossingEnv",
        {"level": 1},
        "episodes>=10 | avg_return>=0.8",
        evaluation_interval=5,
        evaluation_count=3,
        include_init_eval=False,
        greedy_evaluation=False,
        exploration_reset_value=0.1,
        name="warmup",
        agent_save_path="a",
        stats_save_path="s",
        curriculum={"type": "SequentialCurriculum", "curriculum_list": [0, 1], "stopping_conditions": ["episodes>=5"]},
        seed=3,
    )
    path = task.save(tmp_path / "warmup")
    assert path.endswith("warmup.task.yml")
    loaded = LearningTask.load(path)
    assert loaded == task and loaded.to_dict() == task.to_dict()
    assert loaded.curriculum.num_stages == 2 and loaded.seed == 3 and loaded.greedy_evaluation is False
    assert LearningTask.from_dict(task.to_dict()) == task


def test_class_env_types_are_written_as_importable_references(tmp_path):
    task = LearningTask(GridCrossingEnv, None, {"max_steps": 100})
    assert task.to_dict()["env_type"] == "syllabus_like.envs.gridworld:GridCrossingEnv"
    assert LearningTask.load(task.save(tmp_path / "t")) == task
    with pytest.raises(ValueError, match="cannot be written to YAML: it is not an importable class or function"):
        LearningTask(lambda: GridCrossingEnv(), None, {"max_steps": 1}).to_dict()


def test_a_curriculum_object_cannot_be_saved_but_says_how_to():
    from syllabus_like import Constant

    env = GridCrossingEnv()
    task = LearningTask(GridCrossingEnv, None, {"max_steps": 1}, curriculum=Constant(env.task_space, 1))
    with pytest.raises(ValueError, match="give it as a dict like"):
        task.to_dict()


def test_unknown_task_keys_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown task setting\(s\) \['max_episodes'\]; valid ones are: env_type"):
        LearningTask.from_dict({"env_type": "CartPole-v1", "max_episodes": 3})
    with pytest.raises(ValueError, match="needs env_type"):
        LearningTask.from_dict({"stop_conditions": {"max_episodes": 3}})


EXPERIMENT_YML = """\
seed: 7
variables:
  episodes: 20
  level: 1
agent:
  type: syllabus_like.agents:QLearningAgent
  args: {epsilon: 0.2}
defaults:
  env_type: syllabus_like.envs:GridCrossingEnv
  env_args: {render_mode: ansi}
  evaluation_interval: 10
  stop_conditions: {max_episodes: $episodes}
order: [easy, hard]
tasks:
  easy:
    env_args: {level: $level}
    evaluation_count: 2
  hard:
    path: hard
    stop_conditions: "episodes>=${episodes} | avg_return>=0.9"
"""


def test_experiment_variables_defaults_includes_and_round_trip(tmp_path):
    write(tmp_path / "hard.task.yml", "env_args: {level: 4}\nevaluation_interval: 5\nname: hardest\n")
    write(tmp_path / "exp.experiment.yml", EXPERIMENT_YML)
    experiment = Experiment.load(tmp_path / "exp", variables={"level": 2})
    easy, hard = experiment.tasks
    assert experiment.task_names == ["easy", "hardest"]  # a name in the included file wins over the key
    assert easy.env.level == 2 and easy.env.render_mode == "ansi"  # the variable given beats the file's
    assert easy.stop_conditions == {"max_episodes": 20} and easy.evaluation_interval == 10
    assert hard.env.level == 4 and hard.env.render_mode == "ansi"  # env_args merged key by key
    assert hard.evaluation_interval == 5 and hard.stop_conditions == "episodes>=20 | avg_return>=0.9"
    assert experiment.agent_config == {"type": "syllabus_like.agents:QLearningAgent", "args": {"epsilon": 0.2}}
    assert experiment.seed == 7 and easy.seed is None  # tasks' seeds are derived from it when they run

    saved = experiment.save(tmp_path / "copy")
    assert saved.endswith("copy.experiment.yml")
    again = Experiment.load(saved)
    assert again == experiment and again.task_names == ["easy", "hardest"]


def test_experiment_errors_name_the_fault(tmp_path):
    with pytest.raises(ValueError, match=r"unknown variable \$episodes; variables given: level"):
        Experiment.from_dict(
            {
                "variables": {"level": 1},
                "tasks": {"a": {"env_type": "CartPole-v1", "stop_conditions": {"max_episodes": "$episodes"}}},
            }
        )
    with pytest.raises(ValueError, match=r"'order' names task 'c', which is not in 'tasks' \(a\)"):
        Experiment.from_dict({"order": ["c"], "tasks": {"a": {"env_type": "CartPole-v1"}}})
    with pytest.raises(ValueError, match=r"unknown experiment setting\(s\) \['task'\]"):
        Experiment.from_dict({"task": {}})
    with pytest.raises(ValueError, match=r"task 'a': a learning task needs at least one stop condition"):
        Experiment.from_dict({"tasks": {"a": {"env_type": "CartPole-v1"}}})
    with pytest.raises(ValueError, match="task names must be unique"):
        task = LearningTask("CartPole-v1", {}, {"max_episodes": 1}, name="x")
        Experiment([task, task])
    with pytest.raises(ValueError, match="non-empty list of LearningTask"):
        Experiment([])


def test_tasks_given_as_a_list_are_named_by_position():
    experiment = Experiment.from_dict({"tasks": [{"env_type": "CartPole-v1", "stop_conditions": "episodes>=1"}] * 2})
    assert experiment.task_names == ["0", "1"] and list(experiment.stats) == ["0", "1"]


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "experiments").glob("*.yml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_experiment_loads_and_round_trips(path, tmp_path):
    experiment = Experiment.load(path)
    assert experiment.agent_config is not None
    assert experiment.agent_config["type"].startswith(("syllabus_like.agents", "syllabus_like.integrations"))
    assert Experiment.load(experiment.save(tmp_path / "copy")) == experiment


def test_the_levels_example_includes_its_hardest_task_from_a_file():
    path = next(p for p in EXAMPLES if p.name == "gridworld_levels.experiment.yml")
    experiment = Experiment.load(path)
    assert experiment.task_names == ["level_1", "level_2", "level_3", "level_4"]
    assert experiment.tasks[-1].env.level == 4 and experiment.tasks[-1].stop_conditions == {"max_episodes": 300}
