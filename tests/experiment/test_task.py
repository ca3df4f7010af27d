"""LearningTask: env types, stop conditions at their boundaries, evaluation, curricula, interruption."""

from __future__ import annotations

import numpy as np
import pytest
from experiment_helpers import RecordingAgent, ScriptedEnv, scripted_env_factory

from syllabus_like import SequentialCurriculum, parse_condition
from syllabus_like.agents import QLearningAgent
from syllabus_like.envs import GridCrossingEnv
from syllabus_like.experiment import STOP_METRICS, Agent, LearningStats, LearningTask
from syllabus_like.wrappers import CurriculumWrapper


def make_task(stop, returns=(1.0,), length=2, **kwargs):
    kwargs.setdefault("include_init_eval", False)
    kwargs.setdefault("evaluation_interval", 1000)
    return LearningTask(ScriptedEnv, {"returns": returns, "length": length}, stop, **kwargs)


# ------------------------------------------------------------------ env types


def test_env_type_as_class_callable_gym_id_and_dotted_paths():
    assert isinstance(LearningTask(ScriptedEnv, None, {"max_episodes": 1}).env, ScriptedEnv)
    assert LearningTask(scripted_env_factory, {"length": 4}, {"max_episodes": 1}).env.length == 4
    cartpole = LearningTask("CartPole-v1", {}, {"max_episodes": 1})
    assert cartpole.env.spec.id == "CartPole-v1"
    for text in (
        "syllabus_like.envs:GridCrossingEnv",
        "syllabus_like.envs.GridCrossingEnv",
        "syllabus_like.envs.gridworld.GridCrossingEnv",
        "syllabus_like/GridCrossing-v0",
    ):
        task = LearningTask(text, {"level": 1}, {"max_episodes": 1})
        assert task.env.unwrapped.level == 1, text


def test_env_type_that_resolves_to_nothing_names_what_was_tried():
    with pytest.raises(
        ValueError,
        match=r"'no_such_pkg.Env' names nothing importable; tried no_such_pkg:Env.*"
        r"not a registered Gymnasium id",
    ):
        LearningTask("no_such_pkg.Env", {}, {"max_episodes": 1})
    with pytest.raises(ValueError, match="env_type must be a Gymnasium env class"):
        LearningTask(42, {}, {"max_episodes": 1})


# ---------------------------------------------------------- stop conditions


@pytest.mark.parametrize("conditions", [None, {}, ""])
def test_no_stop_condition_is_refused(conditions):
    with pytest.raises(ValueError, match="needs at least one stop condition"):
        LearningTask(ScriptedEnv, {}, conditions)


def test_unknown_stop_key_and_metric_list_the_valid_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown stop condition 'max_epsiodes'; valid ones are: max_episodes, "
        r"max_steps, min_avg_reward",
    ):
        LearningTask(ScriptedEnv, {}, {"max_epsiodes": 3})
    with pytest.raises(
        ValueError, match=r"unknown metric 'episode'; valid metrics are: avg_length, avg_return, cpu_time, episodes"
    ):
        LearningTask(ScriptedEnv, {}, "episode>=3")
    with pytest.raises(ValueError, match="reads unknown metrics"):
        LearningTask(ScriptedEnv, {}, parse_condition("nope>1"))
    with pytest.raises(ValueError, match=r"'max_episodes' needs a number, got 'ten'"):
        LearningTask(ScriptedEnv, {}, {"max_episodes": "ten"})
    with pytest.raises(ValueError, match="expected a number"):
        LearningTask(ScriptedEnv, {}, "episodes >= ")


def test_max_episodes_trains_exactly_that_many_episodes():
    agent = RecordingAgent()
    stats = make_task({"max_episodes": 30}).run(agent)
    assert stats.episodes == 30 and len(stats.episode_rewards) == 30
    assert agent.updates == 30 * 2


def test_max_steps_stops_after_the_episode_that_reaches_it():
    assert make_task({"max_steps": 9}, length=3).run(RecordingAgent()).total_steps == 9
    assert make_task({"max_steps": 10}, length=3).run(RecordingAgent()).total_steps == 12


def test_min_avg_reward_needs_five_episodes_and_reaches_its_value_exactly():
    # Returns 1,1,1,1,1: the average is 1 from the start, but only counts from the 5th episode.
    assert make_task({"min_avg_reward": 1.0, "max_episodes": 50}).run(RecordingAgent()).episodes == 5
    # Returns 0,0,0,0,0,1,1,1,1,1: the mean of the last five reaches 0.6 at episode 8.
    stats = make_task({"min_avg_reward": 0.6, "max_episodes": 50}, returns=[0] * 5 + [1] * 50).run(RecordingAgent())
    assert stats.episodes == 8
    assert stats.episode_rewards_moving_avg[-1] == pytest.approx(0.6)


def test_max_reward_std_dev_reads_the_last_ten_returns_from_the_tenth_episode():
    stats = make_task({"max_reward_std_dev": 0.0, "max_episodes": 50}).run(RecordingAgent())
    assert stats.episodes == 10
    returns = [0.0, 4.0] * 5 + [1.0] * 40
    stats = make_task({"max_reward_std_dev": 0.5, "max_episodes": 50}, returns=returns).run(RecordingAgent())
    # Window std <= 0.5 first when at most one "4" and ... check against numpy directly.
    expected = next(n for n in range(10, 51) if np.std(returns[n - 10 : n]) <= 0.5)
    assert stats.episodes == expected


def test_min_evaluation_score_reads_the_latest_evaluation():
    task = make_task({"min_evaluation_score": 1.0, "max_episodes": 50}, evaluation_interval=4, evaluation_count=2)
    stats = task.run(RecordingAgent())
    assert stats.episodes == 4 and stats.agent_evaluations.tolist() == [1.0]
    # An initial evaluation that already meets it stops the task before any training.
    task = make_task({"min_evaluation_score": 1.0}, include_init_eval=True, evaluation_count=2)
    assert task.run(RecordingAgent()).episodes == 0


def test_max_wall_time_sums_training_episode_times():
    assert make_task({"max_wall_time": 0.0}).run(RecordingAgent()).episodes == 0  # 0 s >= 0 before any episode
    assert make_task({"max_wall_time": 1e-12}).run(RecordingAgent()).episodes == 1  # every episode takes time
    stats = make_task({"max_wall_time": 1e9, "max_episodes": 3}).run(RecordingAgent())
    assert stats.episodes == 3 and stats.total_wall_time == pytest.approx(stats.episode_wall_times.sum())


def test_dict_entries_are_ored():
    stats = make_task({"max_episodes": 7, "max_steps": 1000}).run(RecordingAgent())
    assert stats.episodes == 7
    stats = make_task({"max_episodes": 1000, "max_steps": 6}).run(RecordingAgent())
    assert stats.episodes == 3


@pytest.mark.parametrize(
    ("condition", "returns", "expected_episodes"),
    [
        ("episodes>=30", (1.0,), 30),
        ("steps>=8", (1.0,), 4),
        ("avg_return>=0.6", [0] * 5 + [1] * 50, 8),
        ("return_std<=0", (1.0,), 10),
        ("last_return>=3", (0, 1, 2, 3), 4),
        ("avg_length>=2", (1.0,), 5),
        ("evaluations>=3", (1.0,), 6),  # evaluations after 2, 4 and 6 episodes (no initial one)
        ("evaluation_score>=1", (1.0,), 2),  # no value before the first evaluation
        ("cpu_time>=0 & episodes>=2", (1.0,), 2),
        ("wall_time>=0 & episodes>=2", (1.0,), 2),
        ("stage>=0 & episodes>=2", (1.0,), 2),
        ("stage_switches>=0 & episodes>=2", (1.0,), 2),
        ("episodes>=5 | avg_return>=100", (1.0,), 5),
        ("!(episodes<3)", (1.0,), 3),
    ],
)
def test_every_condition_metric_at_its_boundary(condition, returns, expected_episodes):
    task = make_task(condition, returns=returns, evaluation_interval=2, evaluation_count=1)
    assert task.run(RecordingAgent()).episodes == expected_episodes


class TickingClock:
    """A fake ``time`` for :mod:`syllabus_like.experiment.episode_statistics`: it moves only when a
    :class:`TickingEnv` steps, so every episode takes a known, exactly representable time."""

    def __init__(self):
        self.wall = 0.0
        self.cpu = 0.0

    def perf_counter(self):
        return self.wall

    def process_time(self):
        return self.cpu


class TickingEnv(ScriptedEnv):
    """A ScriptedEnv whose every step advances ``clock`` by 0.25 wall seconds and 0.125 CPU seconds."""

    def __init__(self, clock, **kwargs):
        super().__init__(**kwargs)
        self.clock = clock

    def step(self, action):
        self.clock.wall += 0.25
        self.clock.cpu += 0.125
        return super().step(action)


@pytest.fixture
def clock(monkeypatch):
    from syllabus_like.experiment import episode_statistics

    fake = TickingClock()
    monkeypatch.setattr(episode_statistics, "time", fake)
    return fake


def make_ticking_task(stop, clock, **kwargs):
    kwargs.setdefault("include_init_eval", False)
    kwargs.setdefault("evaluation_interval", 1000)
    return LearningTask(TickingEnv, {"clock": clock, "length": 2}, stop, **kwargs)


@pytest.mark.parametrize(
    ("stop", "expected_episodes"),
    [
        # Episodes of 2 steps: 0.5 wall seconds and 0.25 CPU seconds each.
        ("wall_time>=1.5", 3),
        ("wall_time>=1.625", 4),  # 1.5 after episode 3 is not enough
        ("wall_time>1.5", 4),
        ("cpu_time>=0.75", 3),
        ("cpu_time>=0.875", 4),
        ("cpu_time>0.75", 4),
        pytest.param({"max_wall_time": 1.5}, 3, id="max_wall_time-1.5"),
        pytest.param({"max_wall_time": 1.625}, 4, id="max_wall_time-1.625"),
    ],
)
def test_wall_and_cpu_time_stop_at_the_first_episode_that_reaches_them(clock, stop, expected_episodes):
    # Evaluations (initial and after every episode) tick the same clock on their own env: they must not count.
    task = make_ticking_task(stop, clock, include_init_eval=True, evaluation_interval=1, evaluation_count=3)
    stats = task.run(RecordingAgent())
    assert stats.episodes == expected_episodes
    assert stats.episode_wall_times.tolist() == [0.5] * expected_episodes
    assert stats.episode_cpu_times.tolist() == [0.25] * expected_episodes
    assert stats.total_wall_time == 0.5 * expected_episodes and stats.total_cpu_time == 0.25 * expected_episodes
    assert clock.wall == 0.5 * expected_episodes + 0.5 * 3 * (expected_episodes + 1)  # evaluations did run


def three_stage_curriculum():
    """Stages 0, 1, 2 (tasks 0, 1, 2): stage 0 lasts 3 episodes, stage 1 lasts 2, stage 2 never ends."""
    return SequentialCurriculum([0, 1, 2], ["episodes>=3", "episodes>=2"], ScriptedEnv().task_space, seed=0)


def test_stage_and_stage_switches_read_the_curriculum_switch_rule():
    # Reference run: where the curriculum's own history says the stages switched.
    reference = three_stage_curriculum()
    stats = make_task({"max_episodes": 8}, curriculum=reference).run(RecordingAgent())
    switch_episodes = [entry["episode"] for entry in reference.stage_history]
    assert switch_episodes == [3, 5]  # from the switch rule: 3 episodes of stage 0, then 2 of stage 1
    assert [switch["episode"] for switch in stats.stage_switches] == switch_episodes
    assert [switch["to_stage"] for switch in stats.stage_switches] == [1, 2]
    assert stats.episode_tasks == [0, 0, 0, 1, 1, 2, 2, 2]


@pytest.mark.parametrize(
    ("condition", "expected_episodes"),
    [
        ("stage>=1", 3),  # on the episode that ends stage 0
        ("stage>=2", 5),  # not at 3: stage is 1 there
        ("stage>=3 | episodes>=8", 8),  # the last stage is 2: never
        ("stage==1", 3),
        ("stage_switches>=1", 3),
        ("stage_switches>=2", 5),  # not at 3: one switch there
        ("stage_switches>=3 | episodes>=8", 8),  # two switches only
    ],
)
def test_stage_and_stage_switches_stop_on_the_switching_episode(condition, expected_episodes):
    curriculum = three_stage_curriculum()
    stats = make_task(condition, curriculum=curriculum).run(RecordingAgent())
    assert stats.episodes == expected_episodes
    switched = [entry["episode"] for entry in curriculum.stage_history]
    assert switched == [episode for episode in (3, 5) if episode <= expected_episodes]
    assert [switch["episode"] for switch in stats.stage_switches] == switched


def test_stage_metrics_with_a_looping_curriculum_and_a_dict_curriculum():
    # A looping curriculum returns to stage 0: "stage" follows it, "stage_switches" keeps counting.
    config = {
        "type": "SequentialCurriculum",
        "curriculum_list": [0, 1],
        "stopping_conditions": ["episodes>=2", "episodes>=1"],
        "loop": True,
    }
    task = make_task("stage_switches>=3", curriculum=config, seed=0)
    stats = task.run(RecordingAgent())
    assert [entry["episode"] for entry in task.curriculum.stage_history] == [2, 3, 5]
    assert stats.episodes == 5 and [s["to_stage"] for s in stats.stage_switches] == [1, 0, 1]
    task = make_task("stage>=1 & episodes>=4", curriculum=config, seed=0)
    assert task.run(RecordingAgent()).episodes == 5  # stage is 0 again at episode 4


def test_metric_table_is_complete():
    assert set(STOP_METRICS) == {
        "episodes",
        "steps",
        "avg_return",
        "return_std",
        "last_return",
        "avg_length",
        "evaluation_score",
        "evaluations",
        "wall_time",
        "cpu_time",
        "stage",
        "stage_switches",
    }


def test_stop_predicates_registry_is_extensible():
    calls = []

    def max_positive_returns(value, stats):
        calls.append(value)
        return int(np.sum(stats.episode_rewards > 0)) >= value

    LearningTask.stop_predicates["max_positive_returns"] = max_positive_returns
    try:
        stats = make_task({"max_positive_returns": 3}, returns=(0, 1)).run(RecordingAgent())
    finally:
        del LearningTask.stop_predicates["max_positive_returns"]
    assert stats.episodes == 6 and set(calls) == {3}
    with pytest.raises(ValueError, match="unknown stop condition 'max_positive_returns'"):
        make_task({"max_positive_returns": 3})


# ---------------------------------------------------------------- evaluation


def test_evaluation_schedule_greedy_flag_and_isolation_from_training_stats():
    agent = RecordingAgent()
    task = make_task(
        {"max_episodes": 6}, include_init_eval=True, evaluation_interval=3, evaluation_count=4, greedy_evaluation=False
    )
    stats = task.run(agent)
    assert stats.evaluation_episodes.tolist() == [0, 3, 6]
    assert stats.evaluation_steps.tolist() == [0, 6, 12]
    assert stats.agent_evaluations.tolist() == [1.0, 1.0, 1.0]
    assert stats.episodes == 6 and agent.updates == 12  # evaluation episodes neither recorded nor learned from
    assert task.env.episodes_started == 6  # ... nor played on the training env
    assert agent.greedy_flags.count(True) == 0
    agent = RecordingAgent()
    make_task({"max_episodes": 2}, include_init_eval=True, evaluation_count=3).run(agent)
    assert agent.greedy_flags.count(True) == 3 * 2  # greedy by default: 3 episodes of 2 steps


def test_evaluation_never_reaches_the_curriculum():
    curriculum = SequentialCurriculum([0, 1], ["episodes>=3"], ScriptedEnv().task_space, seed=0)
    task = make_task(
        {"max_episodes": 8}, curriculum=curriculum, include_init_eval=True, evaluation_interval=2, evaluation_count=5
    )
    assert isinstance(task.env, CurriculumWrapper)
    stats = task.run(RecordingAgent())
    assert curriculum.stage_metrics()["total_episodes"] == 8  # 5 evaluations x 5 episodes never reported
    assert stats.episode_tasks == [0, 0, 0, 1, 1, 1, 1, 1]
    assert stats.stage_switches == [{"episode": 3, "step": 6, "from_stage": 0, "to_stage": 1}]
    assert stats.episode_rewards.tolist() == [1.0] * 3 + [11.0] * 5  # the training env played task 1
    assert stats.agent_evaluations.tolist() == [1.0] * 5  # the evaluation env did not


def test_curriculum_from_a_dict_is_seeded_by_the_task():
    config = {"type": "DomainRandomization"}
    first = make_task({"max_episodes": 20}, curriculum=config, seed=4).run(RecordingAgent()).episode_tasks
    second = make_task({"max_episodes": 20}, curriculum=config, seed=4).run(RecordingAgent()).episode_tasks
    assert first == second and set(first) == {0, 1, 2}
    with pytest.raises(ValueError, match="needs a 'type'"):
        make_task({"max_episodes": 1}, curriculum={"curriculum_list": [0]})
    with pytest.raises(ValueError, match="is not a Curriculum subclass"):
        make_task({"max_episodes": 1}, curriculum={"type": "syllabus_like.envs:GridCrossingEnv"})


def test_action_masks_from_infos_reach_the_agent():
    agent = RecordingAgent()
    LearningTask(ScriptedEnv, {"action_mask": True}, {"max_episodes": 2}, evaluation_count=1).run(agent)
    assert all(mask is not None and mask.tolist() == [True, False] for mask in agent.masks)
    agent = RecordingAgent()
    make_task({"max_episodes": 2}).run(agent)
    assert agent.masks == [None] * 4


# ------------------------------------------------- end of training, interruption


def test_exploration_reset_and_saving_on_completion(tmp_path):
    agent = RecordingAgent()
    task = make_task(
        {"max_episodes": 3},
        exploration_reset_value=0.05,
        stats_save_path=str(tmp_path / "stats"),
        agent_save_path=str(tmp_path / "agent"),
    )
    task.run(agent)
    assert agent.exploration == 0.05
    assert LearningStats.load(tmp_path / "stats").episode_rewards.tolist() == [1.0] * 3
    assert agent.saved == [str(tmp_path / "agent") + ".txt"]


class InterruptingAgent(RecordingAgent):
    def __init__(self, after_updates, error):
        super().__init__()
        self.after_updates = after_updates
        self.error = error

    def update(self, *args):
        super().update(*args)
        if self.updates == self.after_updates:
            raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("boom")])
def test_interruption_saves_then_reraises(tmp_path, error):
    agent = InterruptingAgent(after_updates=7, error=error)
    task = make_task(
        {"max_episodes": 100},
        exploration_reset_value=0.0,
        stats_save_path=str(tmp_path / "s.json"),
        agent_save_path=str(tmp_path / "agent"),
    )
    with pytest.raises(type(error)):
        task.run(agent)
    assert LearningStats.load(tmp_path / "s.json").episodes == 3  # episodes 1-3 done, the 4th interrupted
    assert agent.saved and agent.exploration is None  # saved, no exploration reset


def test_run_rejects_a_non_agent_and_bad_verbosity():
    with pytest.raises(TypeError, match=r"lacks \['get_action', 'update'\]"):
        make_task({"max_episodes": 1}).run(object())
    with pytest.raises(ValueError, match="verbose must be an int from 0 to 4, got 7"):
        make_task({"max_episodes": 1}).run(RecordingAgent(), verbose=7)


def test_bad_settings_are_refused_at_construction():
    with pytest.raises(ValueError, match="evaluation_interval must be a positive int, got 0"):
        make_task({"max_episodes": 1}, evaluation_interval=0)
    with pytest.raises(ValueError, match="include_init_eval must be True or False, got 'yes'"):
        make_task({"max_episodes": 1}, include_init_eval="yes")
    with pytest.raises(ValueError, match="exploration_reset_value must be a number or None"):
        make_task({"max_episodes": 1}, exploration_reset_value="high")


# ------------------------------------------------ agents that own their loop


def test_an_outside_training_loop_fills_the_stats_through_the_training_env():
    task = make_task({"max_episodes": 4}, evaluation_interval=2, evaluation_count=1)
    env = task.training_env()
    agent = RecordingAgent()
    env.reset(seed=0)
    while not task.should_stop():
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            task.evaluate_if_due(agent)
            task.evaluate_if_due(agent)  # at most once per interval
            env.reset()
    assert task.stats.episodes == 4 and task.stats.evaluation_episodes.tolist() == [2, 4]


def test_q_learning_agent_implements_the_protocol_and_learns_level_zero(tmp_path):
    task = LearningTask(
        GridCrossingEnv, {"level": 0}, "episodes>=200", evaluation_interval=50, evaluation_count=20, seed=0
    )
    agent = QLearningAgent.from_spaces(task.env.observation_space, task.env.action_space, seed=0)
    assert isinstance(agent, Agent)
    stats = task.run(agent)
    assert stats.evaluation_episodes.tolist() == [0, 50, 100, 150, 200]
    assert stats.agent_evaluations[-1] >= 0.9 > stats.agent_evaluations[0]


def test_every_run_starts_fresh_stats_and_a_fresh_dict_curriculum():
    config = {"type": "SequentialCurriculum", "curriculum_list": [0, 1], "stopping_conditions": ["episodes>=3"]}
    task = make_task({"max_episodes": 5}, curriculum=config, seed=2)
    first = task.run(RecordingAgent())
    second = task.run(RecordingAgent())
    assert first.episode_tasks == second.episode_tasks == [0, 0, 0, 1, 1]
    assert second.episodes == 5 and task.curriculum.stage == 1
