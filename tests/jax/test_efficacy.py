"""The efficacy suite: its statistics, its task families, and the whole --quick run (as CI runs it)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from syllabus_like.efficacy import FAMILIES, main, run_suite
from syllabus_like.efficacy.continuous import tolerance
from syllabus_like.efficacy.continuous import train_and_evaluate as train_continuous
from syllabus_like.efficacy.statistics import format_table, interval_estimates


def test_interval_estimates_are_the_interquartile_mean_with_a_bootstrap_interval():
    scores = {"a": [0.0, 1.0, 2.0, 3.0, 100.0, -100.0, 1.5, 2.5], "b": [5.0] * 8}
    estimates = interval_estimates(scores)
    # IQM: the mean of the middle half of the sorted scores (1.0, 1.5, 2.0, 2.5).
    assert estimates["a"][0] == pytest.approx(1.75)
    assert estimates["a"][1] <= 1.75 <= estimates["a"][2]
    assert estimates["b"] == pytest.approx((5.0, 5.0, 5.0))


def test_format_table_says_which_intervals_lie_apart_from_domain_randomization():
    table = format_table(
        "toy",
        {
            "domain_randomization": (0.5, 0.4, 0.6),
            "plr": (0.8, 0.7, 0.9),
            "lp": (0.55, 0.45, 0.65),
            "x": (0.1, 0.0, 0.2),
        },
    )
    assert "| plr | 0.800 | [0.700, 0.900] | better (intervals apart) |" in table
    assert "| lp | 0.550 | [0.450, 0.650] | overlapping |" in table
    assert "| x | 0.100 | [0.000, 0.200] | worse (intervals apart) |" in table


def test_the_continuous_family_has_an_infeasible_region():
    np.testing.assert_allclose(tolerance(np.array([0.0, 0.4, 0.8])), [0.47, 0.45 * 0.25 + 0.02, 0.02])
    assert np.all(tolerance(np.array([0.81, 1.0])) < 0)


def test_a_continuous_run_learns_something_and_is_deterministic_per_seed():
    untrained = train_continuous("domain_randomization", 0, 0)
    trained = train_continuous("domain_randomization", 0, 3000)
    assert trained > untrained
    assert train_continuous("plr", 3, 1000) == train_continuous("plr", 3, 1000)


def test_unknown_families_and_arms_are_named():
    with pytest.raises(ValueError, match=r"unknown families \['atari'\]"):
        run_suite(families=["atari"])
    with pytest.raises(ValueError, match=r"unknown continuous arm 'x'"):
        train_continuous("x", 0, 10)


@pytest.mark.slow
def test_quick_suite_runs_every_arm_and_writes_table_json_and_plot(tmp_path, capsys):
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True and results["seeds"] == 2
    for family in FAMILIES:
        outcome = results["families"][family]
        assert outcome["budget"] == FAMILIES[family]["budget"][1]
        for arm, scores in outcome["scores"].items():
            assert len(scores) == 2 and all(0.0 <= score <= 1.0 for score in scores)
            iqm, low, high = outcome["estimates"][arm]
            assert low - 1e-9 <= iqm <= high + 1e-9
            assert f"| {arm} | {iqm:.3f} |" in output
    assert set(results["families"]["continuous"]["scores"]) >= {"alp_gmm", "plr", "domain_randomization"}
    assert (tmp_path / "efficacy.png").stat().st_size > 1000


def test_goal_reach_rate_counts_episodes_that_reach_the_goal():
    """Shared by the suite and benchmarks/jax_curriculum_learning.py: a random policy often reaches
    the goal from the goal room, never from four rooms away within the step limit."""
    import jax

    from syllabus_like.efficacy.discrete import goal_reach_rate
    from syllabus_like.envs.gridworld_jax import GridCrossingJax
    from syllabus_like.jax.training.policy import MLPActorCritic

    rates = []
    for level in (0, 4):
        env = GridCrossingJax(level=level)
        policy = MLPActorCritic(env.num_cells, 4, key=jax.random.key(0))
        rates.append(float(goal_reach_rate(env, policy, jax.random.key(1), 256, int(env.max_steps))))
    assert 0.2 < rates[0] < 1.0
    assert rates[1] == 0.0
