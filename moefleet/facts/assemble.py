"""Build HostFacts from a collector document: pure, section by section.

A section that cannot be parsed becomes a SectionProblem (the host is then "degraded"); it
never stops the other sections.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from moefleet.errors import ParseError
from moefleet.facts.cpu import parse_cpuinfo, parse_lscpu
from moefleet.facts.disk import disk_from_statvfs, parse_df
from moefleet.facts.gpu_section import GpuOutcome, gpu_from_document
from moefleet.facts.memory import parse_meminfo
from moefleet.facts.model import (
    CpuFacts,
    DiskFacts,
    HostFacts,
    MemoryFacts,
    OsFacts,
    PciDevice,
    RuntimeFacts,
    SectionProblem,
    SensorReading,
    ToolVersion,
)
from moefleet.facts.os_release import parse_os_release
from moefleet.facts.pcie import parse_lspci
from moefleet.facts.runtime import (
    parse_docker_version,
    parse_llama_server_version,
    parse_nvcc_version,
    parse_systemctl_version,
)
from moefleet.facts.sensors import parse_sensors

T = TypeVar("T")
Command = dict[str, Any]


class _Sections:
    """Collects per-section problems while sections are parsed."""

    def __init__(self) -> None:
        self.problems: list[SectionProblem] = []

    def parse(self, section: str, parse: Callable[[], T], default: T) -> T:
        try:
            return parse()
        except ParseError as exc:
            self.problems.append(SectionProblem(section=section, message=exc.message))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            message = f"malformed collector data: {type(exc).__name__}: {exc}"
            self.problems.append(SectionProblem(section=section, message=message))
        return default


def _ok_output(command: Command | None) -> str | None:
    """stdout of a command that ran and succeeded, else None."""
    if not command or command.get("missing") or command.get("rc") != 0:
        return None
    return str(command.get("stdout", ""))


def _cpu(document: dict[str, Any]) -> CpuFacts | None:
    lscpu = _ok_output(document.get("commands", {}).get("lscpu"))
    if lscpu is not None:
        return parse_lscpu(lscpu)
    cpuinfo = document.get("files", {}).get("cpuinfo")
    return parse_cpuinfo(cpuinfo) if cpuinfo else None


def _memory(document: dict[str, Any]) -> MemoryFacts | None:
    meminfo = document.get("files", {}).get("meminfo")
    return parse_meminfo(meminfo) if meminfo else None


def _disks(document: dict[str, Any]) -> list[DiskFacts]:
    disks: list[DiskFacts] = []
    for record in document.get("disks") or []:
        if "error" in record:
            raise ParseError(f"cannot stat {record.get('path')}: {record['error']}")
        disks.append(
            disk_from_statvfs(
                record["path"],
                record.get("mount"),
                int(record["total"]),
                int(record["free"]),
                record.get("fstype"),
            )
        )
    for name, command in document.get("commands", {}).items():
        output = _ok_output(command) if name.startswith("df:") else None
        if output is not None:
            disks.append(parse_df(output, name.removeprefix("df:")))
    return disks


def _tool(
    command: Command | None, parse: Callable[[str, str | None], ToolVersion]
) -> ToolVersion | None:
    if not command or command.get("missing"):
        return None
    text = f"{command.get('stdout', '')}\n{command.get('stderr', '')}"
    return parse(text, command.get("path"))


def _runtimes(document: dict[str, Any]) -> RuntimeFacts:
    commands = document.get("commands", {})
    vllm = None
    if document.get("vllm") or document.get("vllm_path"):
        vllm = ToolVersion(path=document.get("vllm_path"), version=document.get("vllm"))
    python = None
    if document.get("python"):
        python = ToolVersion(path=document.get("python_path"), version=document["python"])
    pid1 = (document.get("files", {}).get("pid1") or "").strip()
    return RuntimeFacts(
        llama_server=_tool(commands.get("llama-server"), parse_llama_server_version),
        vllm=vllm,
        docker=_tool(commands.get("docker"), parse_docker_version),
        nvcc=_tool(commands.get("nvcc"), parse_nvcc_version),
        python=python,
        systemd=_tool(commands.get("systemctl"), parse_systemctl_version),
        systemd_is_init=(pid1 == "systemd") if pid1 else None,
    )


def _os(document: dict[str, Any]) -> OsFacts:
    release = document.get("files", {}).get("os-release")
    return OsFacts(
        hostname=document.get("hostname"),
        kernel=document.get("kernel"),
        arch=document.get("arch"),
        name=parse_os_release(release) if release else None,
    )


def _sensors(document: dict[str, Any]) -> list[SensorReading]:
    output = _ok_output(document.get("commands", {}).get("sensors"))
    return parse_sensors(output) if output else []


def _pci(document: dict[str, Any]) -> list[PciDevice]:
    output = _ok_output(document.get("commands", {}).get("lspci"))
    return parse_lspci(output) if output else []


def facts_from_document(host: str, document: dict[str, Any], collected_at: datetime) -> HostFacts:
    """HostFacts for ``host`` from a collector document; problems are kept, not raised."""
    sections = _Sections()
    pci = sections.parse("pcie", lambda: _pci(document), list[PciDevice]())
    gpu = sections.parse("gpu", lambda: gpu_from_document(document, pci), GpuOutcome())
    sections.problems.extend(gpu.problems)
    return HostFacts(
        host=host,
        collected_at=collected_at,
        collector="sh" if document.get("collector") == "sh" else "python",
        os=sections.parse("os", lambda: _os(document), OsFacts()),
        cpu=sections.parse("cpu", lambda: _cpu(document), None),
        memory=sections.parse("memory", lambda: _memory(document), None),
        disks=sections.parse("disk", lambda: _disks(document), list[DiskFacts]()),
        gpu_status=gpu.status,
        gpu=gpu.report,
        pci_gpus=pci,
        runtimes=sections.parse("runtimes", lambda: _runtimes(document), RuntimeFacts()),
        sensors=sections.parse("sensors", lambda: _sensors(document), list[SensorReading]()),
        problems=sections.problems,
    )
