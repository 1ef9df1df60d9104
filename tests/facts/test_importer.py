"""`probe --import`: every real capture is recognised and parsed; files of one host merge."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from moefleet.errors import FactsImportError
from moefleet.facts.importer import import_facts
from tests.lab import get_profile, render
from tests.real_outputs import REAL_OUTPUTS

REAL_FILES = sorted(p for p in REAL_OUTPUTS.glob("*") if p.suffix in (".txt", ".csv", ".xml"))


@pytest.mark.skipif(not REAL_FILES, reason=f"real outputs not available ({REAL_OUTPUTS})")
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_every_real_capture_imports_cleanly(path: Path):
    (probe,) = import_facts([path])
    assert probe.status == "ok", probe.facts.problems
    facts = probe.facts
    assert facts.collector == "import"
    kind = path.name.split("__")[0]
    if (
        kind.startswith(("nvsmi_default", "nvsmi_xml", "nvsmi_q", "nvsmi_L"))
        or kind in ("rocmsmi_a", "rocmsmi_concise")
        or "allfields" in path.name
        or "p100" in path.name
    ):
        assert facts.gpus, "GPU outputs must yield GPUs"
        assert all(g.name for g in facts.gpus)


@pytest.mark.skipif(not REAL_FILES, reason=f"real outputs not available ({REAL_OUTPUTS})")
def test_table_plus_lspci_of_the_same_a6000_host_merge(tmp_path: Path):
    host = tmp_path / "romane"
    host.mkdir()
    for name in (
        "nvsmi_default__4x-rtx-a6000__510.73.05.txt",
        "lspci_vv__4x-rtx-a6000__downgraded-2.5GT.txt",
    ):
        shutil.copy(REAL_OUTPUTS / name, host / name)  # into a temp dir, not the project
    (probe,) = import_facts([host])
    assert probe.host == "romane"
    gpus = probe.facts.gpus
    assert len(gpus) == 4
    # the table has no PCIe columns: the link comes from lspci, matched by bus id
    assert {(g.pcie.gen_max, g.pcie.width_max) for g in gpus} == {(4, 16)}


def test_lab_renderings_merge_into_one_host(tmp_path: Path):
    profile = get_profile("rtx3090-riser")
    files = {
        "smi.xml": render.nvsmi_xml(profile),
        "table.txt": render.nvsmi_table(profile),
        "lspci.txt": render.lspci(profile),
        "lscpu.txt": render.lscpu(profile.cpu),
        "meminfo": render.meminfo(profile),
        "notes.txt": "just some notes\n",
    }
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    (probe,) = import_facts(paths, name="riser-box")
    assert probe.host == "riser-box"
    assert probe.status == "degraded"  # notes.txt is not a tool output: named, not fatal
    assert [p.section for p in probe.facts.problems] == ["notes.txt"]
    assert probe.facts.gpus[0].pcie.width_current == 8
    assert "pcie.narrow_link" in {f.code for f in probe.findings}
    assert probe.facts.memory.total_bytes < 40 * 1024**3


def test_nothing_recognised_or_missing_is_an_error(tmp_path: Path):
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    with pytest.raises(FactsImportError, match=r"none of .* is a recognised tool output"):
        import_facts([junk])
    with pytest.raises(FactsImportError, match="no such file"):
        import_facts([tmp_path / "missing.xml"])
