"""Real llama-server fixtures for the bench tests (see tests/llama/README.md)."""

from __future__ import annotations

import pytest

from tests.llama.fixtures import (  # noqa: F401  (fixtures)
    llama_bins,
    llama_server_factory,
    mark_llama_items,
    tiny_model,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_llama_items(items)
