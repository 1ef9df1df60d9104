"""Fixtures for the render tests: the real llama.cpp (for its --help) and stub executables."""

from __future__ import annotations

import pytest

from tests.llama.fixtures import llama_bins, mark_llama_items  # noqa: F401  (fixtures)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_llama_items(items)
