"""Hooks for the whole suite.

Once JAX has started its backend (threads), a fork in the same process (a ``fork``
start method, Ray starting its processes) may deadlock and JAX warns, an error here
(``filterwarnings`` in pyproject.toml). ``make test`` runs ``tests/jax`` in a process
of its own; a run that collects both keeps the JAX tests last.
"""

from __future__ import annotations

from pathlib import Path

import pytest

JAX_TESTS = Path(__file__).resolve().parent / "jax"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.is_relative_to(JAX_TESTS))  # stable: the order is otherwise kept
