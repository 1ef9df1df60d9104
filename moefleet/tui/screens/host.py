"""One host: its GPUs live from the pulse (sparklines per GPU), every fact and finding (the
probe's own panel), what is deployed there (unit, flags, endpoint), its benchmarks, and the
latest task results of the runs that touched it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from moefleet.probe import HostProbe
from moefleet.state import StateStore
from moefleet.tui.pulse_history import PulseHistory
from moefleet.tui.pulse_view import pulse_panel
from moefleet.views.probe import host_panel


class HostRecords(Message):
    def __init__(self, body: RenderableType) -> None:
        super().__init__()
        self.body = body


def records_view(
    deployments: list[dict[str, Any]],
    benchmarks: list[dict[str, Any]],
    journal: list[tuple[int, str, str, str, str]],
) -> RenderableType:
    """Deployments, benchmarks and recent task results of one host, as text."""
    lines: list[RenderableType] = [Text("deployed", style="bold")]
    for d in deployments or [{}]:
        if not d:
            lines.append(Text("  nothing deployed by moefleet", style="dim"))
            continue
        lines.append(Text(f"  {d['service']}: {d.get('model')} {d.get('format')} "
                          f"({d.get('engine')}, {d.get('mode')}) at {d.get('url')} since "
                          f"{d.get('deployed_at')}"))  # fmt: skip
        lines.append(Text("    flags: " + " ".join(d.get("flags") or []), style="dim"))
        predicted = d.get("predicted") or {}
        if predicted:
            lines.append(Text(f"    planned: {predicted.get('decode_tps')} tok/s decode, "
                              f"VRAM {predicted.get('vram_gib')} GiB", style="dim"))  # fmt: skip
    lines.append(Text("benchmarks", style="bold"))
    for b in benchmarks[-5:] or [{}]:
        if not b:
            lines.append(Text("  none yet", style="dim"))
            continue
        measured = (b.get("measured") or {}).get("decode_tps")
        throttled = " (GPU throttled)" if b.get("throttled") else ""
        lines.append(Text(f"  {b['measured_at']} {b['service']}: measured "
                          f"{measured and round(measured)} tok/s{throttled}"))  # fmt: skip
    lines.append(Text("recent tasks", style="bold"))
    for run_id, task, status, message, at in journal[:15]:
        style = "red" if status in ("failed", "unreachable", "unknown") else ""
        lines.append(Text(f"  {at} run {run_id} {task}: {status} {message}", style=style))
    return Group(*lines)


class HostScreen(Screen[None]):
    """Everything moefleet knows about one host."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(
        self,
        probe: HostProbe | None,
        state_path: Path | None = None,
        pulses: PulseHistory | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__()
        self.probe = probe
        self.host = host or (probe.host if probe else "")
        self.state_path = state_path
        self.pulses = pulses
        self.records_text = ""
        """the records section as plain text (for tests and copy)"""

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="host-body"):
            if self.pulses is not None:
                yield Static(pulse_panel(self.pulses, self.host), id="host-pulse")
            if self.probe is not None:
                yield Static(host_panel(self.probe), id="host-panel")
            else:
                yield Static("no stored probe: run `moefleet probe`", id="host-panel")
            yield Static("", id="host-records")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"moefleet — {self.host}"
        if self.state_path is not None:
            self._load()

    def pulse_updated(self) -> None:
        """A pulse arrived: redraw the live panel."""
        if self.pulses is not None:
            self.query_one("#host-pulse", Static).update(pulse_panel(self.pulses, self.host))

    @work(thread=True, exclusive=True, group="host")
    def _load(self) -> None:
        host = self.host
        assert self.state_path is not None
        with StateStore(self.state_path) as state:
            deployments = [d for d in state.deployments() if d["host"] == host]
            benchmarks = state.benchmarks(host)
            journal = state.host_journal(host)
        self.post_message(HostRecords(records_view(deployments, benchmarks, journal)))

    def on_host_records(self, message: HostRecords) -> None:
        self.records_text = "\n".join(
            line.plain
            for line in getattr(message.body, "renderables", ())
            if isinstance(line, Text)
        )
        self.query_one("#host-records", Static).update(message.body)
