"""Deploy tests: async ones run on asyncio (llama.cpp fixtures: tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"
