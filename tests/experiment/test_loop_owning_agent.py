"""LearningTask.run with an agent that owns its training loop (``learn_task``), as SB3 models and the JAX PPO do."""

from __future__ import annotations

import numpy as np
import pytest
from experiment_helpers import RecordingAgent, ScriptedEnv

from syllabus_like import DiscreteTaskSpace, SequentialCurriculum
from syllabus_like.experiment import Agent, Experiment, LearningTask, LoopOwningAgent


class SteppingAgent:
    """Owns its loop: plays action 0 on the env it is given, asking the task when to evaluate and stop."""

    def __init__(self, stop_early_after=None):
        self.stop_early_after = stop_early_after
        self.greedy_flags = []
        self.seeds = []
        self.training_steps = 0

    def get_action(self, obs, legal_mask=None, greedy=False):
        self.greedy_flags.append(greedy)
        return 0

    def learn_task(self, task, env, *, seed=None, verbose=0):
        self.seeds.append(seed)
        env.reset(seed=seed)
        episodes = 0
        while not task.should_stop():
            _, _, terminated, truncated, _ = env.step(0)
            self.training_steps += 1
            if terminated or truncated:
                episodes += 1
                task.evaluate_if_due(self, verbose)
                if self.stop_early_after is not None and episodes >= self.stop_early_after:
                    return
                env.reset()


def test_a_loop_owning_agent_fills_the_same_stats_as_the_runner_loop():
    def task():
        return LearningTask(
            ScriptedEnv,
            {"returns": [1.0, 3.0], "length": 3},
            {"max_episodes": 7},
            evaluation_interval=3,
            evaluation_count=2,
            seed=4,
        )

    owning, stepped = task(), task()
    agent = SteppingAgent()
    owning.run(agent)
    stepped.run(RecordingAgent())
    assert isinstance(agent, LoopOwningAgent) and not isinstance(agent, Agent)
    for field in (
        "episode_rewards",
        "step_counts",
        "episode_rewards_moving_avg",
        "agent_evaluations",
        "evaluation_episodes",
        "evaluation_steps",
    ):
        assert getattr(owning.stats, field).tolist() == getattr(stepped.stats, field).tolist(), field
    assert owning.stats.episodes == 7 and agent.training_steps == 21
    assert owning.stats.evaluation_episodes.tolist() == [0, 3, 6]  # the initial evaluation, then every 3 episodes
    assert len(owning.stats.episode_wall_times) == len(owning.stats.episode_cpu_times) == 7
    assert set(agent.greedy_flags) == {True} and len(agent.greedy_flags) == 3 * 2 * 3  # 3 evaluations of 2 episodes
    training_seed = int(np.random.SeedSequence(4).spawn(2)[0].generate_state(1)[0])  # the runner's split of seed 4
    assert agent.seeds == [training_seed]


def test_the_curriculum_sees_training_episodes_only():
    space = DiscreteTaskSpace(3)
    curriculum = SequentialCurriculum([0, 1], ["episodes>=4"], space)
    task = LearningTask(
        ScriptedEnv, None, "episodes>=6", curriculum=curriculum, evaluation_interval=2, evaluation_count=3
    )
    task.run(SteppingAgent())
    assert curriculum.metrics()["total_episodes"] == 6  # 4 evaluations x 3 episodes never reached it
    assert task.stats.episode_tasks == [0, 0, 0, 0, 1, 1]
    assert task.stats.stage_switches[0]["to_stage"] == 1


def test_learn_task_returning_before_the_stop_condition_is_an_error_after_saving(tmp_path):
    task = LearningTask(
        ScriptedEnv,
        None,
        {"max_episodes": 10},
        include_init_eval=False,
        name="short",
        stats_save_path=str(tmp_path / "short"),
    )
    with pytest.raises(RuntimeError, match=r"learn_task returned before a stop condition of short .*after 2 episodes"):
        task.run(SteppingAgent(stop_early_after=2))
    assert (tmp_path / "short.stats.json").exists()


def test_no_training_when_a_stop_condition_holds_after_the_initial_evaluation():
    task = LearningTask(ScriptedEnv, {"returns": [2.0]}, "evaluation_score>=1", evaluation_count=2)
    agent = SteppingAgent()
    task.run(agent)
    assert agent.seeds == [] and task.stats.episodes == 0 and task.stats.agent_evaluations.tolist() == [2.0]


def test_an_experiment_runs_a_loop_owning_agent_through_its_tasks():
    tasks = [
        LearningTask(
            ScriptedEnv,
            {"returns": [float(index)]},
            {"max_episodes": 2 + index},
            name=f"t{index}",
            include_init_eval=False,
        )
        for index in range(2)
    ]
    stats = Experiment(tasks, seed=3).run(SteppingAgent())
    assert [stats[name].episode_rewards.tolist() for name in stats] == [[0.0, 0.0], [1.0, 1.0, 1.0]]


def test_an_object_with_neither_shape_is_rejected_naming_both():
    class NoAction:
        def learn_task(self, task, env, *, seed=None, verbose=0):
            pass

    task = LearningTask(ScriptedEnv, None, {"max_episodes": 1})
    with pytest.raises(TypeError, match=r"lacks \['get_action'\].*learn_task\(task, env"):
        task.run(NoAction())
    with pytest.raises(TypeError, match=r"lacks \['get_action', 'update'\]"):
        task.run(object())
