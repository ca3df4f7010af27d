"""The README's example runs as written (its JAX snippets: tests/jax/test_readme.py)."""

from docs_support import README, readme_python_blocks


def test_readme_mentions_front_door_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text


def test_readme_quickstart_runs():
    blocks = readme_python_blocks()
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    curriculum = namespace["curriculum"]
    assert curriculum.metrics()["total_episodes"] > 0
