"""The README and the documentation pages as the docs tests read them (no tests here).

The pages whose code uses JAX run in the JAX test process (``tests/jax/test_docs.py``), the
others in the main one (``tests/docs/test_docs.py``): once JAX has started its threads, a
later fork in the same process (Ray starting up, a ``fork`` worker) may deadlock.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"```(\w+)\n(.*?)```", flags=re.S)
SNIPPET = "--8<--"
PRINTS = re.compile(r"\s*prints\s*```text\n(.*?)```", flags=re.S)


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


def python_blocks(text: str) -> list[tuple[str, str | None]]:
    """Each python block with the output the page says it prints (None when it says nothing)."""
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) != "python" or match.group(2).lstrip().startswith(SNIPPET):
            continue  # an included file under examples/ runs in tests/docs/test_examples.py
        printed = PRINTS.match(text, match.end())
        blocks.append((match.group(2), printed.group(1) if printed else None))
    return blocks


def uses_jax(page: Path) -> bool:
    """Whether any python block of the page mentions JAX (``import jax``, ``syllabus_like.jax``, a ``*_jax`` env)."""
    return any("jax" in code for code, _ in python_blocks(page.read_text()))


def run_page_code(page: Path) -> Iterator[tuple[int, str, str | None]]:
    """Run the page's python blocks in order in one namespace (a page reads as one session).

    Yields, block by block, its number, what it printed and what the page says it prints.
    """
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for number, (code, expected_output) in enumerate(python_blocks(page.read_text())):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(code, f"{page_id(page)} (python block {number})", "exec"), namespace)
        yield number, output.getvalue(), expected_output
