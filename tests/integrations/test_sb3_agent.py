"""SB3Agent: Stable-Baselines3 models run by LearningTask / Experiment, with the tabular agent's statistics."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the sb3 extra is part of `make test`; install syllabus-like[sb3]")
torch.set_num_threads(1)

from stable_baselines3 import DQN, PPO  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from syllabus_like import DiscreteTaskSpace, SequentialCurriculum  # noqa: E402
from syllabus_like.envs import GridCrossingEnv  # noqa: E402
from syllabus_like.experiment import Experiment, LearningTask, LoopOwningAgent  # noqa: E402
from syllabus_like.experiment.agent_spec import build_agent  # noqa: E402
from syllabus_like.integrations.sb3 import CurriculumCallback, SB3Agent  # noqa: E402

SMALL_PPO = {"n_steps": 64, "batch_size": 64, "n_epochs": 1, "device": "cpu"}


def grid_task(level: int = 0, stop: object = None, **settings: object) -> LearningTask:
    settings = {"evaluation_interval": 5, "evaluation_count": 2, "seed": 0, **settings}
    return LearningTask(GridCrossingEnv, {"level": level}, stop or {"max_episodes": 12}, **settings)


def ppo_agent(task: LearningTask, **kwargs: object) -> SB3Agent:
    return SB3Agent.from_spaces(task.env.observation_space, task.env.action_space, **{"seed": 0, **SMALL_PPO, **kwargs})


def recording_predict(agent: SB3Agent) -> list[bool]:
    """Record the ``deterministic`` flag of every ``model.predict`` call (PPO's own rollouts never call it)."""
    flags: list[bool] = []
    predict = agent.model.predict

    def spy(obs, **kwargs):
        flags.append(kwargs["deterministic"])
        return predict(obs, **kwargs)

    agent.model.predict = spy
    return flags


def test_ppo_learns_until_the_stop_condition_with_complete_statistics():
    task = grid_task()
    agent = ppo_agent(task)
    assert isinstance(agent, LoopOwningAgent)
    stats = task.run(agent)
    assert stats.episodes == 12  # max_episodes: 12 is exact, as in the tabular runner
    assert agent.model.num_timesteps == stats.total_steps == int(stats.step_counts.sum())
    for field in (
        "episode_rewards",
        "step_counts",
        "episode_rewards_moving_avg",
        "step_counts_moving_avg",
        "episode_wall_times",
        "episode_cpu_times",
    ):
        assert len(getattr(stats, field)) == 12, field
    assert np.all(stats.episode_wall_times > 0)
    np.testing.assert_allclose(stats.episode_rewards_moving_avg[-1], stats.episode_rewards[-5:].mean())
    assert stats.evaluation_episodes.tolist() == [0, 5, 10]  # initial evaluation, then every 5 episodes
    assert stats.evaluation_steps.tolist() == [0, int(stats.step_counts[:5].sum()), int(stats.step_counts[:10].sum())]
    assert len(stats.agent_evaluations) == 3


def test_a_step_budget_stops_at_the_first_episode_end_past_it():
    task = grid_task(stop="steps>=100", include_init_eval=False)
    stats = task.run(ppo_agent(task))
    assert stats.total_steps >= 100 and stats.total_steps - int(stats.step_counts[-1]) < 100


def test_evaluation_predicts_greedily_or_not_as_the_task_says_and_never_trains():
    for greedy in (True, False):
        task = grid_task(stop={"max_episodes": 3}, greedy_evaluation=greedy, evaluation_interval=3)
        agent = ppo_agent(task)
        flags = recording_predict(agent)
        task.run(agent)
        assert flags and set(flags) == {greedy}
        assert agent.model.num_timesteps == task.stats.total_steps  # evaluation steps are not training steps


def test_the_tasks_curriculum_sees_training_episodes_only_and_curriculum_callback_finds_it():
    space = DiscreteTaskSpace(5)
    curriculum = SequentialCurriculum([0, 1], ["episodes>=4"], space)
    task = grid_task(stop={"max_episodes": 8}, curriculum=curriculum, evaluation_interval=2, evaluation_count=2)
    logger_callback = CurriculumCallback()
    agent = ppo_agent(task)
    agent.callbacks.append(logger_callback)
    stats = task.run(agent)
    assert curriculum.metrics()["total_episodes"] == 8  # the 5 evaluations x 2 episodes never reached it
    assert stats.episode_tasks == [0] * 4 + [1] * 4
    assert [switch["to_stage"] for switch in stats.stage_switches] == [1]
    assert logger_callback.curriculum is curriculum and logger_callback.last_metrics["stage"] == 1.0


def test_an_experiment_counts_timesteps_on_and_saves_and_resumes_the_model(tmp_path):
    def experiment():
        return Experiment(
            [grid_task(0, {"max_episodes": 4}, name="easy"), grid_task(1, {"max_episodes": 3}, name="harder")],
            tmp_path / "run",
            seed=1,
        )

    first = experiment()
    agent = ppo_agent(first.tasks[0])
    stats = first.run(agent)
    assert agent.model.num_timesteps == stats["easy"].total_steps + stats["harder"].total_steps
    saved = tmp_path / "run" / "harder.agent.zip"
    assert saved.exists() and (tmp_path / "run" / "easy.agent.zip").exists()

    resumed_agent = ppo_agent(first.tasks[0], seed=5)
    experiment().run(resumed_agent)  # both tasks finished: nothing trains, the last model is loaded
    assert resumed_agent.model.num_timesteps == agent.model.num_timesteps
    observations = np.arange(0, 182, 7)
    assert [resumed_agent.get_action(o, greedy=True) for o in observations] == [
        agent.get_action(o, greedy=True) for o in observations
    ]


def test_save_returns_the_zip_written_and_load_restores_in_place(tmp_path):
    task = grid_task(stop={"max_episodes": 2}, include_init_eval=False)
    agent = ppo_agent(task)
    task.run(agent)
    path = agent.save(tmp_path / "model")
    assert path == str(tmp_path / "model.zip") and (tmp_path / "model.zip").exists()
    other = ppo_agent(task, seed=9)
    other.load(tmp_path / "model")
    assert isinstance(other.model, PPO) and other.model.num_timesteps == agent.model.num_timesteps
    for name, value in agent.model.policy.state_dict().items():
        assert torch.equal(value, other.model.policy.state_dict()[name]), name
    with pytest.raises(FileNotFoundError, match="no saved SB3 model at .*nothing"):
        other.load(tmp_path / "nothing")


def test_the_same_seeds_repeat_a_run_exactly():
    def run() -> list[float]:
        task = grid_task(1, {"max_episodes": 6})
        return task.run(ppo_agent(task)).episode_rewards.tolist() + task.stats.agent_evaluations.tolist()

    assert run() == run()


def test_dqn_trains_and_exploration_reset_value_fixes_its_exploration_rate():
    task = grid_task(stop={"max_steps": 150}, exploration_reset_value=0.05, include_init_eval=False)
    agent = SB3Agent.from_spaces(
        task.env.observation_space,
        task.env.action_space,
        algorithm="DQN",
        learning_starts=50,
        learn_timesteps=1000,
        device="cpu",
        seed=0,
    )
    assert isinstance(agent.model, DQN)
    task.run(agent)
    assert agent.model.exploration_rate == 0.05
    grid_task(stop={"max_steps": 60}, include_init_eval=False).run(agent)  # the rate stays where it was set
    assert agent.model.exploration_rate == 0.05


def test_an_experiment_yaml_agent_block_builds_an_sb3_agent_seeded_by_the_run():
    data = {
        "agent": {
            "type": "syllabus_like.integrations.sb3:SB3Agent",
            "args": {"algorithm": "A2C", "policy": "MlpPolicy", "n_steps": 8, "device": "cpu", "learn_timesteps": 5000},
        },
        "tasks": {
            "level0": {
                "env_type": "syllabus_like.envs:GridCrossingEnv",
                "stop_conditions": "episodes>=2",
                "include_init_eval": False,
            }
        },
    }
    experiment = Experiment.from_dict(data)
    agent = build_agent(experiment.agent_config, experiment.tasks[0].env, seed=7)
    assert isinstance(agent, SB3Agent) and type(agent.model).__name__ == "A2C"
    assert agent.model.seed == 7 and agent.model.n_steps == 8 and agent.learn_timesteps == 5000
    assert experiment.run(agent)["level0"].episodes == 2


def test_bad_models_and_arguments_are_refused_naming_what_was_given():
    env = GridCrossingEnv()
    with pytest.raises(TypeError, match="needs a Stable-Baselines3 model .*got 'PPO'"):
        SB3Agent("PPO")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="built on 2 envs; build it on one"):
        SB3Agent(PPO("MlpPolicy", make_vec_env(GridCrossingEnv, 2), device="cpu"))
    with pytest.raises(ValueError, match="unknown SB3 algorithm 'PPO2'; give one of A2C, DDPG, DQN, PPO, SAC, TD3"):
        SB3Agent.from_spaces(env.observation_space, env.action_space, algorithm="PPO2")
    with pytest.raises(ValueError, match="must name a Stable-Baselines3 algorithm class, got 'numpy:ndarray'"):
        SB3Agent.from_spaces(env.observation_space, env.action_space, algorithm="numpy:ndarray")
    with pytest.raises(ValueError, match=r"PPO rejects the arguments \{'n_stepz': 8\}"):
        SB3Agent.from_spaces(env.observation_space, env.action_space, n_stepz=8)
    model = PPO("MlpPolicy", env, device="cpu")
    with pytest.raises(ValueError, match="learn_timesteps must be a positive int, got 0"):
        SB3Agent(model, learn_timesteps=0)
    with pytest.raises(ValueError, match=r"learn_kwargs may not set \['total_timesteps'\]"):
        SB3Agent(model, learn_kwargs={"total_timesteps": 5})
    with pytest.raises(TypeError, match="callback must be an SB3 BaseCallback or a list of them, got 3"):
        SB3Agent(model, callback=[3])  # type: ignore[list-item]


def test_a_task_with_other_spaces_is_refused_before_training():
    import gymnasium as gym

    task = LearningTask("CartPole-v1", None, {"max_episodes": 1}, include_init_eval=False)
    grid = GridCrossingEnv()
    agent = SB3Agent.from_spaces(grid.observation_space, grid.action_space, device="cpu")
    assert isinstance(task.env.observation_space, gym.spaces.Box)
    with pytest.raises(ValueError, match=r"SB3Agent\(PPO\) cannot train on LearningTask\(.*CartPole-v1.*spaces do not"):
        task.run(agent)


def test_a_callback_that_stops_learning_early_is_an_error_not_a_busy_loop():
    class StopAtOnce(BaseCallback):
        def _on_step(self) -> bool:
            return False

    task = grid_task(stop={"max_episodes": 50}, include_init_eval=False)
    agent = ppo_agent(task)
    agent.callbacks.append(StopAtOnce())
    with pytest.raises(RuntimeError, match="model.learn stopped at 1 timesteps, before .*stop condition held"):
        task.run(agent)


def test_the_example_yaml_runs_through_the_cli_with_an_sb3_agent(tmp_path, capsys):
    from pathlib import Path

    from syllabus_like.cli import main
    from syllabus_like.experiment import LearningStats

    path = Path(__file__).resolve().parents[2] / "examples" / "experiments" / "sb3_gridworld.yml"
    output = tmp_path / "runs"
    code = main(
        [
            "run",
            str(path),
            "--seeds",
            "3",
            "--output",
            str(output),
            "-q",
            "--var",
            "episodes=6",
            "--var",
            "eval_every=3",
            "--var",
            "eval_episodes=2",
        ]
    )
    assert code == 0, capsys.readouterr()
    run = output / "seed_3"
    assert {"curriculum.agent.zip", "level3.agent.zip", "run.json"} <= {p.name for p in run.iterdir()}
    for name in ("curriculum", "level3"):
        stats = LearningStats.load(run / name)
        assert stats.episodes == 6 and stats.evaluation_episodes.tolist() == [0, 3, 6]
    assert LearningStats.load(run / "curriculum").episode_tasks[0] == 0
    assert "seed 3  level3: 6 episodes" in capsys.readouterr().out


class MaskRecordingPPO(PPO):
    """A PPO whose predict takes action masks, as sb3-contrib's MaskablePPO's does; records them."""

    masks: list = []

    def predict(self, observation, state=None, episode_start=None, deterministic=False, action_masks=None):
        MaskRecordingPPO.masks.append(action_masks)
        return super().predict(observation, state, episode_start, deterministic)


def test_an_envs_action_mask_reaches_models_that_take_masks_and_others_ignore_it():
    from experiment_helpers import ScriptedEnv

    def task() -> LearningTask:
        return LearningTask(
            ScriptedEnv, {"action_mask": True}, {"max_episodes": 2}, evaluation_interval=2, evaluation_count=1
        )

    MaskRecordingPPO.masks = []
    masked = task()
    masked.run(SB3Agent(MaskRecordingPPO("MlpPolicy", masked.env, **SMALL_PPO)))
    assert len(MaskRecordingPPO.masks) == 4 and all(m.tolist() == [True, False] for m in MaskRecordingPPO.masks)
    plain = task()
    assert plain.run(SB3Agent(PPO("MlpPolicy", plain.env, **SMALL_PPO))).agent_evaluations.tolist() == [1.0, 1.0]


def test_an_interrupted_task_saves_the_model_then_re_raises(tmp_path):
    class InterruptAfter(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 40:
                raise KeyboardInterrupt
            return True

    task = grid_task(
        stop={"max_episodes": 1000},
        include_init_eval=False,
        agent_save_path=str(tmp_path / "agent"),
        stats_save_path=str(tmp_path / "agent"),
    )
    agent = ppo_agent(task, callback=InterruptAfter())
    with pytest.raises(KeyboardInterrupt):
        task.run(agent)
    assert (tmp_path / "agent.zip").exists() and (tmp_path / "agent.stats.json").exists()
    assert PPO.load(tmp_path / "agent.zip").num_timesteps == 40


def test_the_overhead_benchmark_trains_both_ways_and_prints_its_ratio(capsys):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "sb3_agent_overhead.py"
    spec = importlib.util.spec_from_file_location("sb3_agent_overhead", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.plain_sb3(128) == 512  # one rollout of n_steps
    assert module.through_learning_task(128) >= 128
    assert module.run(rounds=1, steps=256) > 0
    assert "ratio ours / plain" in capsys.readouterr().out
