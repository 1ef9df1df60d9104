"""A state store with recorded real machines (imported captures: deterministic facts)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from moefleet.facts.importer import import_facts
from moefleet.state import StateStore
from tests.real_outputs import REAL_OUTPUTS

MACHINES = {
    "ws-3090": ["nvsmi_default__2x-rtx3090__560.35.03.txt"],
    "lab-a6000": [
        "nvsmi_default__4x-rtx-a6000__510.73.05.txt",
        "lspci_vv__4x-rtx-a6000__downgraded-2.5GT.txt",
    ],
    "dgx-h100": ["nvsmi_default__8x-h100-sxm5-80gb__565.57.01.txt"],
    "cpu-box": ["lscpu__x86_64-epyc_7451.txt"],
}


def make_state(tmp_path: Path, machines: dict[str, list[str]] = MACHINES) -> Path:
    """A state DB holding one imported probe per machine."""
    dirs = []
    for host, files in machines.items():
        folder = tmp_path / "captures" / host
        folder.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copy(REAL_OUTPUTS / name, folder / name)
        dirs.append(folder)
    db = tmp_path / "state.db"
    with StateStore(db) as state:
        state.save_probes(import_facts(dirs), "test")
    return db


@pytest.fixture
def state_db(tmp_path: Path) -> Path:
    return make_state(tmp_path)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
