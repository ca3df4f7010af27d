"""Every script in examples/ runs to completion as a user would run it.

Each runs in a fresh interpreter (as ``python examples/NAME.py``), so a script
that only works inside the test process, or that leaves a worker process or a
Ray instance behind, fails here. The examples are sized to take seconds; a
script that wants a smaller size in CI reads ``SYLLABUS_LIKE_QUICK`` from the
environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    environment = {**os.environ, "SYLLABUS_LIKE_QUICK": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,  # not the repository root, so the installed package is what runs
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert result.stdout.strip(), f"{script.name} printed nothing"
