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


def test_readme_jax_snippets_define_every_name_and_run():
    blocks = [block for block in python_blocks() if "syllabus_like.jax" in block]
    assert len(blocks) >= 2, "the README's JAX section should show a curriculum and a PPO run on a CurriculumEnv"
    namespaces = []
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)  # a NameError here: an undefined name
        namespaces.append(namespace)
    assert type(namespaces[0]["state"]).__name__ == "EmptyState"
    assert namespaces[1]["stage"] in (0, 1, 2)
    assert int(namespaces[1]["state"].step_state.curriculum_state.total_tasks) >= 8
