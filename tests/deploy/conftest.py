"""Fixtures for deploy tests: the real llama.cpp (see tests/llama) and a deploy-ready lab."""

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


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"
