"""Each trainer integration imports its trainer only when imported, and names the extra when it is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("jax", "ray", "torch", "stable_baselines3", "pettingzoo", "matplotlib")


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_the_integrations_package_and_the_cleanrl_helpers_pull_in_no_trainer() -> None:
    result = run(
        "import sys\nimport syllabus_like.integrations, syllabus_like.integrations.cleanrl\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    ("blocked", "module", "extra"),
    [
        ("stable_baselines3", "syllabus_like.integrations.sb3", "syllabus-like[sb3]"),
        ("ray.rllib", "syllabus_like.integrations.rllib", "syllabus-like[rllib]"),
    ],
)
def test_a_missing_trainer_is_an_import_error_naming_the_extra(blocked: str, module: str, extra: str) -> None:
    # a None entry in sys.modules makes `import blocked` fail as if it were not installed
    result = run(f"import sys\nsys.modules[{blocked!r}] = None\nimport {module}")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and f'pip install "{extra}"' in result.stderr
