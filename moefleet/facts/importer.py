"""``probe --import``: facts for hosts that cannot be reached, from captured tool outputs.

Loose files describe one host; each directory describes one host named after it. Each file's
kind is recognised by its content. When several files describe the GPUs, the richest source
(XML > -q > CSV > table > -L) sets the list and the others fill what it lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from moefleet.errors import FactsImportError, ParseError
from moefleet.facts.cpu import parse_cpuinfo, parse_lscpu
from moefleet.facts.detect import OutputKind, detect_kind
from moefleet.facts.gpu_merge import attach_processes, merge_reports
from moefleet.facts.gpu_section import merge_pci_links
from moefleet.facts.memory import parse_meminfo
from moefleet.facts.model import GpuReport, HostFacts, OsFacts, SectionProblem
from moefleet.facts.nvsmi_csv import (
    QUERY_GPU_FIELDS,
    QUERY_GPU_FIELDS_MINIMAL,
    parse_compute_apps_csv,
    parse_nvsmi_csv,
)
from moefleet.facts.nvsmi_table import parse_nvlink_status, parse_nvsmi_list, parse_nvsmi_table
from moefleet.facts.nvsmi_text import parse_nvsmi_q
from moefleet.facts.nvsmi_xml import parse_nvsmi_xml
from moefleet.facts.os_release import parse_os_release
from moefleet.facts.pcie import parse_lspci
from moefleet.facts.rocm import parse_rocm_smi
from moefleet.facts.sensors import parse_sensors
from moefleet.findings import check_host
from moefleet.probe import HostProbe

_GPU_PARSERS: dict[OutputKind, Callable[[str], GpuReport]] = {
    "nvidia-smi-xml": parse_nvsmi_xml,
    "nvidia-smi-q": parse_nvsmi_q,
    "nvidia-smi-csv": parse_nvsmi_csv,
    "nvidia-smi-table": parse_nvsmi_table,
    "nvidia-smi-list": parse_nvsmi_list,
    "rocm-smi": parse_rocm_smi,
}


def _headerless_csv_fields(text: str) -> tuple[str, ...] | None:
    """moefleet's own --query-gpu field lists, recognised by their column count."""
    rows = [line for line in text.splitlines() if line.strip()]
    counts = {line.count(",") + 1 for line in rows}
    for fields in (QUERY_GPU_FIELDS, QUERY_GPU_FIELDS_MINIMAL):
        if rows and counts == {len(fields)}:
            return fields
    return None


class _HostBuilder:
    """Accumulates what each file says about one host."""

    def __init__(self, name: str) -> None:
        self.facts = HostFacts(
            host=name,
            collected_at=datetime.now(UTC),
            collector="import",
            gpu_status="unknown",
            os=OsFacts(),
        )
        self.gpu_reports: list[GpuReport] = []
        self.extras: list[tuple[OutputKind, str]] = []
        self.recognised = 0

    def add(self, path: Path, text: str) -> None:
        kind = detect_kind(text)
        fields = _headerless_csv_fields(text) if kind is None else None
        if kind is None and fields is None:
            self._problem(
                path,
                "not an output moefleet recognises (nvidia-smi, lspci, lscpu, "
                "/proc/meminfo, /proc/cpuinfo, sensors, rocm-smi, os-release)",
            )
            return
        try:
            if fields is not None:
                self.gpu_reports.append(parse_nvsmi_csv(text, fields))
            elif kind is not None:
                self._parse(kind, text)
            self.recognised += 1
        except ParseError as exc:
            self._problem(path, f"{kind}: {exc.message}")

    def _parse(self, kind: OutputKind, text: str) -> None:
        facts = self.facts
        if kind in _GPU_PARSERS:
            self.gpu_reports.append(_GPU_PARSERS[kind](text))
        elif kind in ("nvidia-smi-compute-apps", "nvidia-smi-nvlink"):
            self.extras.append((kind, text))
        elif kind == "lspci":
            facts.pci_gpus = parse_lspci(text)
        elif kind == "lscpu":
            facts.cpu = parse_lscpu(text)
        elif kind == "cpuinfo" and facts.cpu is None:
            facts.cpu = parse_cpuinfo(text)
        elif kind == "meminfo":
            facts.memory = parse_meminfo(text)
        elif kind == "sensors":
            facts.sensors = parse_sensors(text)
        elif kind == "os-release":
            facts.os = OsFacts(name=parse_os_release(text))

    def _problem(self, path: Path, message: str) -> None:
        self.facts.problems.append(SectionProblem(section=path.name, message=message))

    def finish(self) -> HostFacts:
        facts = self.facts
        if self.gpu_reports:
            report = merge_reports(self.gpu_reports)
            for kind, text in self.extras:
                if kind == "nvidia-smi-nvlink":
                    report.nvlinks = parse_nvlink_status(text)
                else:
                    attach_processes(report, parse_compute_apps_csv(text))
            merge_pci_links(report, facts.pci_gpus)
            facts.gpu, facts.gpu_status = report, "ok" if report.gpus else "none"
        return facts


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise FactsImportError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _import_host(name: str, files: list[Path]) -> HostProbe:
    builder = _HostBuilder(name)
    for path in files:
        builder.add(path, _read(path))
    if not builder.recognised:
        raise FactsImportError(
            f"{name}: none of {', '.join(str(f) for f in files)} is a recognised tool output"
        )
    facts = builder.finish()
    return HostProbe(
        host=name,
        target="import: " + ", ".join(f.name for f in files),
        status="degraded" if facts.degraded else "ok",
        probed_at=facts.collected_at,
        seconds=0.0,
        facts=facts,
        findings=check_host(facts),
    )


def import_facts(paths: list[Path], name: str | None = None) -> list[HostProbe]:
    """One HostProbe per directory (named after it) plus one for all loose files."""
    loose = [path for path in paths if not path.is_dir()]
    probes = [
        _import_host(directory.name, sorted(p for p in directory.iterdir() if p.is_file()))
        for directory in paths
        if directory.is_dir()
    ]
    missing = [path for path in loose if not path.exists()]
    if missing:
        raise FactsImportError(f"no such file: {', '.join(map(str, missing))}")
    if loose:
        host = name or (loose[0].stem.split("__")[0] if len(loose) == 1 else "imported")
        probes.insert(0, _import_host(host, loose))
    return probes
