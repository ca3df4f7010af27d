"""The README's JAX snippets run as written (the rest of the README: tests/docs/test_readme.py)."""

from docs_support import readme_python_blocks


def test_readme_jax_snippets_define_every_name_and_run():
    blocks = [block for block in readme_python_blocks() if "syllabus_like.jax" in block]
    assert len(blocks) >= 2, "the README's JAX section should show a curriculum and a PPO run on a CurriculumEnv"
    namespaces = []
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)  # a NameError here: an undefined name
        namespaces.append(namespace)
    assert type(namespaces[0]["state"]).__name__ == "EmptyState"
    assert namespaces[1]["stage"] in (0, 1, 2)
    assert int(namespaces[1]["state"].step_state.curriculum_state.total_tasks) >= 8
