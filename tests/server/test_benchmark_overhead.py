"""The command line of benchmarks/server_overhead.py: its bad-input message and the syllabus-rl fallback."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "server_overhead.py"


@pytest.fixture(scope="module")
def server_overhead():
    spec = importlib.util.spec_from_file_location("server_overhead_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_unknown_section_names_it_and_the_valid_ones(server_overhead, capsys):
    with pytest.raises(SystemExit):
        server_overhead.main(["--sections", "sync,bogus"])
    error = capsys.readouterr().err
    assert "unknown sections ['bogus']" in error
    assert "sync, async, ray, syllabus-rl" in error


def test_without_syllabus_rl_the_script_says_so_and_gives_the_reference(server_overhead, capsys, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == "syllabus" else real_find_spec(name, *args)
    )
    server_overhead.main(["--sections", "syllabus-rl"])
    output = capsys.readouterr().out
    assert "syllabus-rl: not installed" in output
    assert "pip install syllabus-rl matplotlib torch==2.13.0" in output
    assert "0.034 of bare" in output


def test_the_floor_wrapper_applies_each_draw_and_reports_each_episode_whole(server_overhead):
    import gymnasium as gym

    draws = iter([9.5, 10.5])
    reports: list[tuple] = []
    env = server_overhead.LeastCurriculumWrapper(
        gym.make("CartPole-v1"), lambda k: [next(draws)], lambda *episode: reports.append(episode)
    )
    env.reset(seed=0)
    assert env.unwrapped.force_mag == 9.5
    total, steps, finished = 0.0, 0, False
    while not finished:
        _, reward, terminated, truncated, _ = env.step(0)
        total, steps, finished = total + float(reward), steps + 1, terminated or truncated
    assert reports == [(total, steps, 9.5)]
    env.reset()
    assert env.unwrapped.force_mag == 10.5
    env.step(0)
    assert len(reports) == 1  # an episode is reported at its end only
