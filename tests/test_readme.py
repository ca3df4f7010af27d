"""The README's example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_mentions_front_door_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text


def test_readme_quickstart_runs():
    blocks = python_blocks()
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    curriculum = namespace["curriculum"]
    assert curriculum.metrics()["total_episodes"] > 0
