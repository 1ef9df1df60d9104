"""Shared fixtures: the real-SSH test lab (``tests/lab``) and the real llama.cpp (``tests/llama``:
``llama_bins``, ``tiny_model``, ``llama_server_factory``; such tests are marked ``llama``).

``lab`` is one session-wide fleet of the default profiles plus the three broken hosts;
``make_lab`` starts extra fleets (custom profiles, N synthetic hosts) that stop after the test.
Tests that use either are marked ``lab`` automatically (``-m "not lab"`` skips them).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) does not add it
    sys.path.insert(0, str(ROOT))

from tests.lab import DEFAULT_PROFILES, HostProfile, Lab  # noqa: E402
from tests.lab.fleet import SSHD  # noqa: E402
from tests.llama.fixtures import (  # noqa: E402, F401  (the real llama.cpp, for every folder)
    llama_bins,
    llama_server_factory,
    mark_llama_items,
    tiny_model,
)

LAB_FIXTURES = {"lab", "make_lab", "make_lab_module"}


def _require_sshd() -> None:
    if not Path(SSHD).is_file():
        if os.environ.get("CI"):  # .ci/run installs it: a skip there would hide the lab tests
            pytest.fail(f"{SSHD} is missing in CI")
        pytest.skip(
            f"the test lab needs OpenSSH's server ({SSHD} is missing): "
            "apt-get install -y openssh-server"
        )


def _lab_dir() -> str:
    # /tmp itself, not pytest's 0700 basetemp: the lab's login user must reach the host files
    return tempfile.mkdtemp(prefix="moefleet-lab-", dir="/tmp")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if LAB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)
    mark_llama_items(items)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The default lab: every profile in ``DEFAULT_PROFILES`` plus the broken hosts."""
    _require_sshd()
    workdir = _lab_dir()
    running = Lab.start(DEFAULT_PROFILES, workdir, broken_hosts=True)
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _lab_factory() -> Iterator[Callable[..., Lab]]:
    _require_sshd()
    started: list[tuple[Lab, str]] = []

    def start(profiles: Iterable[HostProfile | str], broken_hosts: bool = False) -> Lab:
        workdir = _lab_dir()
        running = Lab.start(profiles, workdir, broken_hosts=broken_hosts)
        started.append((running, workdir))
        return running

    yield start
    for running, workdir in started:
        running.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def make_lab() -> Iterator[Callable[..., Lab]]:
    """Start another lab: ``make_lab(profiles, broken_hosts=False)``; stopped after the test."""
    yield from _lab_factory()


@pytest.fixture(scope="module")
def make_lab_module() -> Iterator[Callable[..., Lab]]:
    """``make_lab`` whose labs live for the whole test module."""
    yield from _lab_factory()
