"""The documentation pages whose code uses JAX run as written (the others: tests/docs/test_docs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from docs_support import PAGES, page_id, run_page_code, uses_jax


@pytest.mark.parametrize("page", [page for page in PAGES if uses_jax(page)], ids=page_id)
def test_page_code_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files a page's code writes land here, not in the repository
    for number, printed, expected_output in run_page_code(page):
        if expected_output is not None:
            assert printed == expected_output, f"block {number} of {page_id(page)} printed otherwise"
