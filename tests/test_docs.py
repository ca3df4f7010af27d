"""The documentation site's code runs as written, so the docs cannot rot.

Every ```python block of a page under docs/ runs, the blocks of one page in
order in one namespace (a page reads as one session). Where a block is followed
by the word "prints" and a ```text block, what the code printed must be
exactly that text. Every ```yaml block must parse. Longer examples are files
under examples/ (included into pages), which tests/test_examples.py runs.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import yaml

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"```(\w+)\n(.*?)```", flags=re.S)
SNIPPET = "--8<--"
PRINTS = re.compile(r"\s*prints\s*```text\n(.*?)```", flags=re.S)


def page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


def python_blocks(text: str) -> list[tuple[str, str | None]]:
    """Each python block with the output the page says it prints (None when it says nothing)."""
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) != "python" or match.group(2).lstrip().startswith(SNIPPET):
            continue  # an included file under examples/ runs in tests/test_examples.py
        printed = PRINTS.match(text, match.end())
        blocks.append((match.group(2), printed.group(1) if printed else None))
    return blocks


def test_every_page_is_in_the_site() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    missing = [page_id(page) for page in PAGES if page_id(page) not in nav]
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files a page's code writes land here, not in the repository
    text = page.read_text()
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for number, (code, expected_output) in enumerate(python_blocks(text)):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(code, f"{page_id(page)} (python block {number})", "exec"), namespace)
        if expected_output is not None:
            assert output.getvalue() == expected_output, f"block {number} of {page_id(page)} printed otherwise"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_yaml_parses(page: Path) -> None:
    for match in FENCE.finditer(page.read_text()):
        if match.group(1) == "yaml":
            yaml.safe_load(match.group(2))
