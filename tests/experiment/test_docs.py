"""The Python examples of docs/experiments.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "experiments.md"


def test_docs_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # they write runs/mine and mine*.yml / mine.stats.json
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"docs/experiments.md block {number}", "exec"), namespace)
    assert set(namespace["stats"]) == {"easy", "hard"} and namespace["stats"]["hard"].episodes == 300
    assert (tmp_path / "runs" / "mine" / "run.json").exists() and (tmp_path / "mine.experiment.yml").exists()
    assert namespace["task"].stats.episodes >= 5 and (tmp_path / "mine.stats.json").exists()
