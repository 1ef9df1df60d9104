"""The fleet: one row per host, sortable, filterable, grouped, refreshed in a worker from the
state store, and brought up to date by the pulse (live values, history, health) when it runs."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from moefleet.tui.data import SORT_KEYS, FleetRow, filter_rows, group_rows, sort_rows
from moefleet.tui.pulse_history import PulseHistory
from moefleet.tui.pulse_rows import pulse_row, with_pulse
from moefleet.tui.source import Snapshot, StateSource, sparkline

BAR = 8
#: Pulses in the history column (the hottest GPU at each).
SPARK_WIDTH = 12


def _bar(row: FleetRow) -> str:
    if row.vram_total_gib is None:
        return "—"
    filled = round(row.vram_fraction * BAR)
    used = row.vram_used_gib or 0.0
    return f"{'█' * filled}{'░' * (BAR - filled)} {used:.0f}/{row.vram_total_gib:.0f}G"


def _num(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.0f}{unit}"


#: Column labels and fixed widths (stable layout between refreshes).
COLUMNS = (("host", 18), ("status", 17), ("GPUs", 18), ("VRAM", 17), ("temp", 5),
           ("history", SPARK_WIDTH), ("power", 6), ("PCIe", 11), ("throttle", 8),
           ("findings", 8), ("deployed", 14), ("health", 7), ("tok/s", 6))  # fmt: skip


class SnapshotLoaded(Message):
    """A refresh finished in the worker."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class FleetScreen(Screen[None]):
    """Every host at a glance."""

    AUTO_FOCUS = "#fleet-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("g", "group", "Group"),
        Binding("r", "refresh", "Refresh"),
        Binding("p", "plan", "Plan"),
        Binding("o", "rollout", "Rollouts"),
        Binding("b", "benchmarks", "Benchmarks"),
        Binding("enter", "open_host", "Host", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(
        self, source: StateSource, interval: float = 2.0, pulses: PulseHistory | None = None
    ) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        self.pulses = pulses
        self.snapshot = Snapshot((), {}, {})
        self.sort_key = "host"
        self.reverse = False
        self.filter_text = ""
        self.grouped = False
        self.refreshes = 0
        """completed refreshes (tests wait on it)"""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static("", id="fleet-summary")
            yield Input(placeholder="filter hosts (words)", id="fleet-filter", classes="hidden")
            yield DataTable(id="fleet-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        self.action_refresh()
        if self.interval > 0:
            self.set_interval(self.interval, self.action_refresh)

    @work(thread=True, exclusive=True, group="fleet-refresh")
    def action_refresh(self) -> None:
        """Read the state in a worker thread; never on the UI loop."""
        self.post_message(SnapshotLoaded(self.source.load()))

    def on_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        changed = message.snapshot != self.snapshot or not self.refreshes
        self.snapshot = message.snapshot
        if changed:  # an unchanged store costs no redraw (the pulse redraws on its own)
            self.redraw()
        self.refreshes += 1

    def pulse_updated(self) -> None:
        """A pulse arrived: redraw with its values."""
        self.redraw()

    def live_rows(self) -> list[FleetRow]:
        """The stored rows with the pulse's live values, plus hosts only the pulse knows."""
        snapshot, pulses = self.snapshot, self.pulses
        if pulses is None or not pulses.latest:
            return list(snapshot.rows)
        rows = []
        for row in snapshot.rows:
            probe = snapshot.probes.get(row.host)
            at = probe.probed_at.timestamp() if probe else None
            latest, good = pulses.latest.get(row.host), pulses.last_good.get(row.host)
            rows.append(with_pulse(row, latest, good, at))
        groups = self.source.groups()
        for host in sorted(set(pulses.latest) - {r.host for r in snapshot.rows}):
            deployed = snapshot.services.get(host, ("—", None))[0]
            good = pulses.last_good.get(host)
            rows.append(pulse_row(pulses.latest[host], good, groups.get(host, ()), deployed))
        return rows

    def _history(self, host: str) -> str:
        live = self.pulses.hottest(host) if self.pulses is not None else []
        if live:
            return sparkline(live[-SPARK_WIDTH:])
        return self.snapshot.history.get(host, "")

    def visible_rows(self, rows: list[FleetRow] | None = None) -> list[tuple[str, FleetRow]]:
        rows = sort_rows(
            filter_rows(self.live_rows() if rows is None else rows, self.filter_text),
            self.sort_key,
            self.reverse,
        )
        if not self.grouped:
            return [("", r) for r in rows]
        return [(group, r) for group, members in group_rows(rows).items() for r in members]

    def redraw(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        rows = self.live_rows()
        for group, row in self.visible_rows(rows):
            findings = f"{row.blocks}B {row.warns}W" if row.blocks or row.warns else "ok"
            if not row.reached:
                findings = "—"
            table.add_row(
                f"{group}/{row.host}" if group else row.host, row.status, row.gpus, _bar(row),
                _num(row.temperature_c, "°C"), self._history(row.host),
                _num(row.power_w, "W"), row.link, "yes" if row.throttling else "", findings,
                row.deployed, row.health, _num(row.tokens_per_s, ""), key=f"{group}/{row.host}",
            )  # fmt: skip
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        blocked = sum(1 for r in rows if r.blocks)
        parts = [f"{len(rows)} hosts", f"{blocked} blocked", f"sort: {self.sort_key}"]
        if self.pulses is not None:
            parts.insert(2, self._pulse_summary(rows))
        parts[-1] += " ↓" if self.reverse else ""
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if self.grouped:
            parts.append("grouped")
        self.query_one("#fleet-summary", Static).update(" · ".join(parts))

    def _pulse_summary(self, rows: list[FleetRow]) -> str:
        pulses = self.pulses
        if pulses is None or not pulses.pulses:
            return "pulse: waiting"
        failed = sum(1 for p in pulses.latest.values() if not p.ok)
        down = sum(1 for r in rows if r.health == "down")
        return f"pulse #{pulses.pulses}: {failed} not answering, {down} with a server down"

    def action_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.redraw()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.redraw()

    def action_group(self) -> None:
        self.grouped = not self.grouped
        self.redraw()

    def action_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.remove_class("hidden")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.value = ""
        box.add_class("hidden")
        self.filter_text = ""
        self.redraw()
        self.query_one(DataTable).focus()

    @on(Input.Changed, "#fleet-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.redraw()

    @on(Input.Submitted, "#fleet-filter")
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_host(str(event.row_key.value).split("/", 1)[-1])

    def action_open_host(self) -> None:
        visible = self.visible_rows()
        table = self.query_one(DataTable)
        if visible and 0 <= table.cursor_row < len(visible):
            self.open_host(visible[table.cursor_row][1].host)

    def action_rollout(self) -> None:
        from moefleet.tui.screens.rollout import RolloutScreen  # noqa: PLC0415 - avoids a cycle

        self.app.push_screen(RolloutScreen(self.source.state_path, max(self.interval, 1.0)))

    def action_benchmarks(self) -> None:
        from moefleet.tui.screens.benchmarks import BenchmarksScreen  # noqa: PLC0415

        self.app.push_screen(BenchmarksScreen(self.source.state_path))

    def action_plan(self) -> None:
        from moefleet.tui.screens.plan import PlanScreen  # noqa: PLC0415 - avoids a cycle

        self.app.push_screen(PlanScreen(self.source))

    def open_host(self, host: str) -> None:
        from moefleet.tui.screens.host import HostScreen  # noqa: PLC0415 - avoids a cycle

        probe = self.snapshot.probes.get(host)
        if probe is not None or (self.pulses is not None and host in self.pulses.latest):
            path = self.source.state_path
            self.app.push_screen(HostScreen(probe, path, self.pulses, host))
