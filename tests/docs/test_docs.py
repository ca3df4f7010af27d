"""The documentation site's code runs as written, so the docs cannot rot.

Every ```python block of a page under docs/ runs, the blocks of one page in
order in one namespace (a page reads as one session). Where a block is followed
by the word "prints" and a ```text block, what the code printed must be
exactly that text. Every ```yaml block must parse. Longer examples are files
under examples/ (included into pages), which tests/docs/test_examples.py runs.
The pages whose code uses JAX run in tests/jax/test_docs.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from docs_support import DOCS, FENCE, PAGES, page_id, run_page_code, uses_jax


def test_every_page_is_in_the_site() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    missing = [page_id(page) for page in PAGES if page_id(page) not in nav]
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"


@pytest.mark.parametrize("page", [page for page in PAGES if not uses_jax(page)], ids=page_id)
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files a page's code writes land here, not in the repository
    for number, printed, expected_output in run_page_code(page):
        if expected_output is not None:
            assert printed == expected_output, f"block {number} of {page_id(page)} printed otherwise"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_yaml_parses(page: Path) -> None:
    for match in FENCE.finditer(page.read_text()):
        if match.group(1) == "yaml":
            yaml.safe_load(match.group(2))
