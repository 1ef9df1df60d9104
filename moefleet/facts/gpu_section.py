"""Decide what the host's GPUs are from whichever source answered: NVML, nvidia-smi XML, the
--query-gpu CSV, or rocm-smi; and say why when none did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moefleet.errors import ParseError
from moefleet.facts.model import GpuReport, GpuStatus, PciDevice, PcieLink, SectionProblem
from moefleet.facts.nvml import parse_nvml_snapshot
from moefleet.facts.nvsmi_csv import QUERY_GPU_FIELDS, QUERY_GPU_FIELDS_MINIMAL, parse_nvsmi_csv
from moefleet.facts.nvsmi_table import parse_nvlink_status
from moefleet.facts.nvsmi_xml import parse_nvsmi_xml
from moefleet.facts.rocm import parse_rocm_smi
from moefleet.facts.values import normalize_bus_id


@dataclass
class GpuOutcome:
    """The GPU section's result: a status, maybe a report, and the problems met on the way."""

    status: GpuStatus = "none"
    report: GpuReport | None = None
    problems: list[SectionProblem] = field(default_factory=list)

    def problem(self, message: str) -> None:
        self.problems.append(SectionProblem(section="gpu", message=message))


def _first_line(command: dict[str, Any]) -> str:
    text = f"{command.get('stdout', '')}\n{command.get('stderr', '')}".strip()
    return text.splitlines()[0][:300] if text else f"exit code {command.get('rc')}"


def _from_nvml(snapshot: dict[str, Any] | None, outcome: GpuOutcome) -> bool:
    """True when NVML settled the question (answered, or hung)."""
    if not snapshot or not snapshot.get("available"):
        return False
    if snapshot.get("timed_out"):
        outcome.status = "timeout"
        outcome.problem("NVML did not answer before the deadline (driver hung?)")
        return True
    try:
        outcome.report, outcome.status = parse_nvml_snapshot(snapshot), "ok"
        return True
    except ParseError as exc:
        outcome.problem(f"NVML: {exc.message}; falling back to nvidia-smi")
        return False


def _from_csv(commands: dict[str, Any], outcome: GpuOutcome) -> bool:
    for key, fields in (
        ("nvidia-smi-csv", QUERY_GPU_FIELDS),
        ("nvidia-smi-csv-minimal", QUERY_GPU_FIELDS_MINIMAL),
    ):
        command = commands.get(key)
        if command and command.get("rc") == 0:
            try:
                outcome.report, outcome.status = parse_nvsmi_csv(command["stdout"], fields), "ok"
                return True
            except ParseError as exc:
                outcome.problem(f"nvidia-smi --query-gpu: {exc.message}")
    return False


def _from_nvidia_smi(commands: dict[str, Any], outcome: GpuOutcome) -> None:
    xml = commands.get("nvidia-smi-xml")
    if not xml or xml.get("missing"):
        return
    if xml.get("timed_out"):
        outcome.status = "timeout"
        seconds = xml.get("seconds")
        waited = f"{seconds:.1f} s" if isinstance(seconds, int | float) else "its deadline"
        outcome.problem(f"nvidia-smi did not answer within {waited} (driver hung?)")
        return
    if xml.get("rc") == 0:
        try:
            outcome.report, outcome.status = parse_nvsmi_xml(xml["stdout"]), "ok"
            return
        except ParseError as exc:
            outcome.problem(f"nvidia-smi -q -x: {exc.message}")
    if _from_csv(commands, outcome):
        return
    if xml.get("rc") != 0:
        outcome.status = "driver-error"
        outcome.problem(f"nvidia-smi failed: {_first_line(xml)}")


def merge_pci_links(report: GpuReport, pci: list[PciDevice]) -> None:
    """Fill link fields nvidia-smi left unknown from lspci's LnkCap/LnkSta, by bus id."""
    by_bus = {normalize_bus_id(device.bus_id): device for device in pci if device.link_readable}
    for gpu in report.gpus:
        device = by_bus.get(gpu.bus_id)
        if device is None:
            continue
        merged = {
            key: value if value is not None else getattr(device.link, key)
            for key, value in gpu.pcie.model_dump().items()
        }
        gpu.pcie = PcieLink(**merged)


def gpu_from_document(document: dict[str, Any], pci: list[PciDevice]) -> GpuOutcome:
    """The GPU section of a collector document, merged with lspci's view of the links."""
    outcome = GpuOutcome()
    commands = document.get("commands") or {}
    if not _from_nvml(document.get("nvml"), outcome):
        _from_nvidia_smi(commands, outcome)
    if outcome.report is None and outcome.status == "none":
        rocm = commands.get("rocm-smi")
        if rocm and rocm.get("rc") == 0:
            try:
                outcome.report, outcome.status = parse_rocm_smi(rocm["stdout"]), "ok"
            except ParseError as exc:
                outcome.problem(f"rocm-smi: {exc.message}")
    if outcome.status == "none" and any(device.is_nvidia for device in pci):
        outcome.status = "driver-missing"
    if outcome.report is not None:
        merge_pci_links(outcome.report, pci)
        nvlink = commands.get("nvidia-smi-nvlink")
        if nvlink and nvlink.get("rc") == 0:
            try:
                outcome.report.nvlinks = parse_nvlink_status(nvlink["stdout"])
            except ParseError as exc:
                outcome.problem(f"nvidia-smi nvlink -s: {exc.message}")
    return outcome
