"""Building the agent an experiment file names (``agent: {type, args}``)."""

from __future__ import annotations

import pytest
from experiment_helpers import RecordingAgent

from syllabus_like.agents import QLearningAgent
from syllabus_like.envs import GridCrossingEnv
from syllabus_like.experiment.agent_spec import build_agent


def test_a_library_agent_without_its_sizes_is_built_from_the_env_and_seeded_by_the_run():
    env = GridCrossingEnv()
    agent = build_agent({"type": "syllabus_like.agents:QLearningAgent", "args": {"epsilon": 0.3}}, env, seed=5)
    assert isinstance(agent, QLearningAgent)
    assert agent.q_values.shape == (env.observation_space.n, env.action_space.n) and agent.epsilon == 0.3
    twin = QLearningAgent(env.observation_space.n, 4, epsilon=0.3, seed=5)
    assert [agent.get_action(0) for _ in range(30)] == [twin.get_action(0) for _ in range(30)]


def test_explicit_arguments_win_and_a_plain_string_names_the_type():
    env = GridCrossingEnv()
    agent = build_agent(
        {"type": "syllabus_like.agents.QLearningAgent", "args": {"num_states": 3, "num_actions": 2, "seed": 1}},
        env,
        seed=9,
    )
    assert agent.q_values.shape == (3, 2)
    assert isinstance(build_agent("experiment_helpers:RecordingAgent", env, seed=4), RecordingAgent)
    assert build_agent("experiment_helpers:RecordingAgent", env, seed=4).seed == 4


def test_bad_agent_blocks_name_the_fault():
    env = GridCrossingEnv()
    with pytest.raises(ValueError, match=r"unknown agent setting\(s\) \['arguments'\]; valid ones are: type, args"):
        build_agent({"type": "syllabus_like.agents:QLearningAgent", "arguments": {}}, env)
    with pytest.raises(ValueError, match="an agent is given as"):
        build_agent({"args": {}}, env)
    with pytest.raises(ValueError, match="'nowhere:Agent' names nothing importable"):
        build_agent("nowhere:Agent", env)
    with pytest.raises(ValueError, match="rejects the arguments"):
        build_agent({"type": "experiment_helpers:RecordingAgent", "args": {"speed": 3}}, env)
