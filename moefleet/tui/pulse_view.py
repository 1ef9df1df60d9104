"""The host screen's live panel: one line per GPU with the latest pulse and sparklines of its
recent temperature, power, SM clock and VRAM used; then the health of each deployed server."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from moefleet.pulse import GpuSample
from moefleet.tui.pulse_history import PulseHistory
from moefleet.tui.source import sparkline

#: Sparkline width on the host screen (the newest samples).
WIDTH = 20


def _series(
    samples: Sequence[GpuSample], value: Callable[[GpuSample], float | None], unit: str
) -> str:
    values = [v for s in samples[-WIDTH:] if (v := value(s)) is not None]
    if not values:
        return "—"
    return f"{values[-1]:>6.0f}{unit} {sparkline(values)}"


def gpu_table(samples_by_gpu: dict[int, list[GpuSample]]) -> Table:
    """Per GPU: utilisation, and now + recent history of temperature, power, clock, VRAM."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("GPU", "util", "temperature", "power", "SM clock", "VRAM used", "slowdown"):
        table.add_column(column, no_wrap=True)
    for gpu, samples in samples_by_gpu.items():
        last = samples[-1]
        util = "—" if last.utilization_percent is None else f"{last.utilization_percent:.0f}%"
        slowed = ", ".join(r for r in last.reasons if last.slowed and r != "gpu_idle")
        table.add_row(
            str(gpu), util, _series(samples, lambda s: s.temperature_c, "°C"),
            _series(samples, lambda s: s.power_w, "W"),
            _series(samples, lambda s: s.sm_clock_mhz, "MHz"),
            _series(samples, lambda s: (s.memory_used_mib or 0) / 1024, "G"),
            Text(slowed, style="red") if slowed else "",
        )  # fmt: skip
    return table


def pulse_panel(history: PulseHistory, host: str, now: float | None = None) -> RenderableType:
    """The live panel of ``host``, or a line saying why there is none."""
    latest = history.latest.get(host)
    if latest is None:
        return Text("live: waiting for the first pulse", style="dim")
    age = (now if now is not None else time.time()) - latest.at
    head = Text.assemble(("live", "bold"), f"  pulse {int(age)} s ago, {history.pulses} so far")
    lines: list[RenderableType] = [head]
    if not latest.ok:
        lines.append(Text(f"  {latest.status}: {latest.error} (values below are stale)", "red"))
    elif latest.gpu_error:
        lines.append(Text(f"  GPUs: {latest.gpu_error}", style="yellow"))
    samples = history.gpus(host)
    if samples:
        lines.append(gpu_table(samples))
    for service, state in sorted(latest.health.items()):
        style = "green" if state.startswith("ok") else "red"
        lines.append(Text.assemble(f"  {service} /health: ", (state, style)))
    return Group(*lines)
