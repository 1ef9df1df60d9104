"""Rich renderables for probe results: one panel per host, a summary line. No printing here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from moefleet.facts.model import GpuFacts, HostFacts
from moefleet.findings import Finding
from moefleet.probe import HostProbe

GIB = 1024**3
_LEVEL_STYLE = {"block": "bold red", "warn": "yellow", "info": "cyan"}
_STATUS_STYLE = {"ok": "green", "degraded": "yellow"}


def _num(value: float | None, fmt: str = "{:.0f}", unit: str = "") -> str:
    return "—" if value is None else fmt.format(value) + unit


def _link(gpu: GpuFacts) -> str:
    link = gpu.pcie
    if link.gen_current is None and link.width_current is None:
        return "—"
    now = f"Gen{_num(link.gen_current)} x{_num(link.width_current)}"
    top = f"Gen{_num(link.gen_max)} x{_num(link.width_max)}"
    return now if now == top else f"{now} / {top}"


def _vram(gpu: GpuFacts) -> str:
    total = gpu.memory_total_mib
    free = gpu.memory_free_mib
    if free is None and total is not None and gpu.memory_used_mib is not None:
        free = total - gpu.memory_used_mib
    return f"{_num(free and free / 1024, '{:.1f}')} / {_num(total and total / 1024, '{:.1f}')}"


def gpu_table(facts: HostFacts) -> Table:
    """One row per GPU with the facts a deployment depends on."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in (
        "#",
        "GPU",
        "VRAM free/total GiB",
        "CC",
        "PCIe now / max",
        "Temp",
        "Fan",
        "Power / limit",
        "Util",
        "Throttle",
    ):
        table.add_column(column)
    for gpu in facts.gpus:
        reasons = [r for r in gpu.throttle_reasons if r != "gpu_idle"]
        table.add_row(
            str(gpu.index),
            gpu.name,
            _vram(gpu),
            gpu.compute_capability or "—",
            _link(gpu),
            _num(gpu.temperature_c, unit=" °C"),
            _num(gpu.fan_percent, unit="%"),
            f"{_num(gpu.power_draw_w)} / {_num(gpu.power_limit_w, unit=' W')}",
            _num(gpu.utilization_percent, unit="%"),
            Text(", ".join(reasons) or "none", style="red" if reasons else "dim"),
        )
    return table


def _system_lines(facts: HostFacts) -> list[str]:
    os_facts, cpu, memory = facts.os, facts.cpu, facts.memory
    lines = [
        " · ".join(
            x
            for x in (os_facts.name, os_facts.kernel and f"kernel {os_facts.kernel}", os_facts.arch)
            if x
        )
        or "OS unknown"
    ]
    if cpu:
        simd = [
            name
            for name, has in (("AVX2", cpu.avx2), ("AVX-512", cpu.avx512), ("AMX", cpu.amx))
            if has
        ]
        lines.append(
            f"CPU {cpu.model or 'unknown'}: {cpu.sockets or '?'} socket(s), "
            f"{cpu.cores or '?'} cores / {cpu.threads or '?'} threads, "
            f"SIMD {' '.join(simd) or 'none of AVX2/AVX-512/AMX'}"
        )
    if memory:
        available = (
            f", {memory.available_bytes / GIB:.1f} GiB available"
            if memory.available_bytes is not None
            else ""
        )
        lines.append(f"RAM {memory.total_bytes / GIB:.1f} GiB total{available}")
    for disk in facts.disks:
        if disk.free_bytes is not None and disk.total_bytes:
            lines.append(
                f"Disk {disk.path}: {disk.free_bytes / GIB:.0f} GiB free of "
                f"{disk.total_bytes / GIB:.0f} GiB ({disk.mount or '?'}, "
                f"{disk.filesystem or '?'})"
            )
    return lines


def _runtime_line(facts: HostFacts) -> str:
    runtimes = facts.runtimes
    parts = []
    for label, tool in (
        ("llama-server", runtimes.llama_server),
        ("vllm", runtimes.vllm),
        ("docker", runtimes.docker),
        ("nvcc", runtimes.nvcc),
        ("systemd", runtimes.systemd),
    ):
        if tool is None:
            parts.append(f"{label} —")
        else:
            parts.append(f"{label} {tool.version or '(version unknown)'}")
    if runtimes.systemd_is_init is not None:
        parts.append("systemd is PID 1" if runtimes.systemd_is_init else "no systemd as PID 1")
    return "Runtimes: " + " · ".join(parts)


def findings_table(findings: Sequence[Finding]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("level", no_wrap=True)
    table.add_column("code", no_wrap=True, style="dim")
    table.add_column("message")
    for finding in findings:
        table.add_row(
            Text(finding.level.upper(), style=_LEVEL_STYLE[finding.level]),
            finding.code,
            finding.message,
        )
    return table


def _gpu_header(facts: HostFacts) -> str:
    if facts.gpu is None:
        return {
            "none": "No NVIDIA GPU",
            "driver-missing": "NVIDIA GPU without driver",
            "driver-error": "GPU driver not responding",
            "timeout": "GPU driver hung",
        }.get(facts.gpu_status, "GPUs unknown")
    report = facts.gpu
    return (
        f"{len(report.gpus)} GPU(s) · driver {report.driver_version or '?'} · CUDA "
        f"{report.cuda_version or '?'} · via {report.source}"
    )


def host_panel(probe: HostProbe) -> Panel:
    """The whole report for one host."""
    style = _STATUS_STYLE.get(probe.status, "red")
    title = Text.assemble(
        (probe.host, "bold"),
        f"  {probe.target}  ",
        (probe.status, style),
        f"  {probe.seconds:.2f} s",
    )
    if probe.facts is None:
        body: RenderableType = Text.assemble(
            (f"{probe.error}", "red"), f"\nhint: {probe.hint}" if probe.hint else ""
        )
        return Panel(body, title=title, title_align="left", border_style=style)
    facts = probe.facts
    parts: list[RenderableType] = [Text(line) for line in _system_lines(facts)]
    parts.append(Text(_runtime_line(facts)))
    parts.append(Text(_gpu_header(facts), style="bold"))
    if facts.gpus:
        parts.append(gpu_table(facts))
    if probe.findings:
        parts.append(Text("Findings", style="bold"))
        parts.append(findings_table(probe.findings))
    else:
        parts.append(Text("No findings: the checklist passes.", style="green"))
    return Panel(Group(*parts), title=title, title_align="left", border_style=style)


def summary_line(probes: Sequence[HostProbe]) -> Text:
    """'12 hosts: 9 reached (1 degraded), 3 failed (unreachable 1, ...)'."""
    reached = [p for p in probes if p.reached]
    degraded = sum(p.status == "degraded" for p in probes)
    failed = Counter(p.status for p in probes if not p.reached)
    levels = Counter(f.level for p in probes for f in p.findings)
    text = Text(f"{len(probes)} host(s): {len(reached)} reached")
    if degraded:
        text.append(f" ({degraded} degraded)", style="yellow")
    if failed:
        detail = ", ".join(f"{kind} {count}" for kind, count in sorted(failed.items()))
        text.append(f", {sum(failed.values())} failed ({detail})", style="red")
    if levels:
        text.append(
            f" · findings: {levels['block']} block, {levels['warn']} warn, {levels['info']} info"
        )
    return text
