"""The efficacy suite: do the automatic curricula beat domain randomization?

For each of two task families (see :mod:`.discrete` and :mod:`.continuous`)
every arm trains with one fixed budget and several seeds and is scored on
held-out target tasks; per arm the suite reports the interquartile mean over
seeds and its 95 % stratified-bootstrap interval (rliable), as a markdown
table and a plot. ``--quick`` runs every arm with 2 seeds and a small budget
(a smoke test for CI, not a result).

Run: ``python benchmarks/efficacy.py [--quick] [--seeds N] [--out DIR]``
(or ``syllabus-like bench efficacy``). Needs the ``efficacy`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FAMILIES", "main", "run_suite"]

#: Per family: budget (full, quick), the budget's unit, and what the score is.
FAMILIES: dict[str, dict[str, Any]] = {
    "discrete": {"budget": (32_768, 4_096), "unit": "env steps", "score": "target success rate"},
    "continuous": {"budget": (20_000, 2_000), "unit": "episodes", "score": "target success rate"},
}


def _family_module(family: str) -> Any:
    if family == "discrete":
        from syllabus_like.efficacy import discrete

        return discrete
    from syllabus_like.efficacy import continuous

    return continuous


def run_suite(
    *,
    quick: bool = False,
    seeds: int | None = None,
    families: Sequence[str] = tuple(FAMILIES),
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Train and score every arm of ``families``; return per-seed scores, estimates and timings."""
    from syllabus_like.efficacy.statistics import interval_estimates

    num_seeds = seeds if seeds is not None else (2 if quick else 10)
    if num_seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {num_seeds}")
    unknown = [family for family in families if family not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; choose from {list(FAMILIES)}")
    results: dict[str, Any] = {"quick": quick, "seeds": num_seeds, "families": {}}
    for family in families:
        module = _family_module(family)
        budget = FAMILIES[family]["budget"][1 if quick else 0]
        scores: dict[str, list[float]] = {}
        seconds: dict[str, float] = {}
        for arm in module.ARMS:
            start = time.perf_counter()
            scores[arm] = [module.train_and_evaluate(arm, seed, budget) for seed in range(num_seeds)]
            seconds[arm] = time.perf_counter() - start
            log(f"{family:>10} {arm:<22} {[round(s, 3) for s in scores[arm]]} ({seconds[arm]:.0f} s)")
        results["families"][family] = {
            "budget": budget,
            "unit": FAMILIES[family]["unit"],
            "scores": scores,
            "seconds": seconds,
            "estimates": interval_estimates(scores),
        }
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: run the suite, print the tables, write results.json and efficacy.png under --out."""
    parser = argparse.ArgumentParser(prog="syllabus-like bench efficacy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds and small budgets (CI smoke test)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per arm (default 10, or 2 with --quick)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated: discrete,continuous")
    parser.add_argument(
        "--out", type=Path, default=Path("efficacy-results"), help="folder for results.json and efficacy.png"
    )
    args = parser.parse_args(argv)
    families = [name.strip() for name in args.families.split(",") if name.strip()]
    unknown = [name for name in families if name not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")

    from syllabus_like.efficacy.statistics import format_table, plot_intervals

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}", flush=True)
    start = time.perf_counter()
    results = run_suite(quick=args.quick, seeds=args.seeds, families=families, log=lambda line: print(line, flush=True))
    results["wall_seconds"] = time.perf_counter() - start
    for family, outcome in results["families"].items():
        print(f"\n{family} ({outcome['budget']:,} {outcome['unit']} per run, {results['seeds']} seeds):")
        print(format_table(family, outcome["estimates"]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    plot_intervals(
        {family: outcome["estimates"] for family, outcome in results["families"].items()},
        args.out / "efficacy.png",
        {family: FAMILIES[family]["score"] for family in results["families"]},
    )
    print(
        f"\nwall time {results['wall_seconds']:.0f} s; wrote {args.out / 'results.json'} and {args.out / 'efficacy.png'}"
    )
    return 0
