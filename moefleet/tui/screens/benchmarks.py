"""Benchmarks: per deployment the latest metrics, tokens/s by load level, predicted vs
measured decode speed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from moefleet.state import StateStore
from moefleet.tui.actions import bench_now
from moefleet.tui.screens.confirm import ConfirmScreen

COLUMNS = (("host", 18), ("service", 26), ("model", 26), ("predicted", 10), ("measured", 9),
           ("error", 7), ("throttled", 9))  # fmt: skip
BAR = 30


class BenchLoaded(Message):
    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__()
        self.records = records


def latest_per_service(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        latest[(record["host"], record["service"])] = record
    return [latest[k] for k in sorted(latest)]


def level_chart(record: dict[str, Any]) -> Group:
    """Tokens/s by level as bars, and latency percentiles per level."""
    levels = (record.get("summary") or {}).get("levels", [])
    peak = max((lvl["metrics"]["output_tps"] for lvl in levels), default=0.0) or 1.0
    title = f"{record['host']} {record['service']}: output tokens/s by level"
    lines = [Text(title, style="bold")]
    for level in levels:
        m = level["metrics"]
        width = int(BAR * m["output_tps"] / peak)
        ttft = m["ttft"]["p50"] or 0.0
        tpot = m["tpot"]["p50"] or 0.0
        bar = f"{level['label']:>11} {'█' * width:<{BAR}} {m['output_tps']:7.0f}"
        lines.append(Text(f"{bar}  TTFT p50 {ttft * 1000:6.1f} ms  TPOT p50 {tpot * 1000:5.1f} ms"))
    return Group(*lines)


class BenchmarksScreen(Screen[None]):
    """The newest benchmark of every deployment."""

    AUTO_FOCUS = "#bench-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Refresh"),
        Binding("n", "bench", "Bench now…"),
    ]

    def __init__(self, state_path: Path) -> None:
        super().__init__()
        self.state_path = state_path
        self.records: list[dict[str, Any]] = []
        self.loaded = False
        self.benches_done = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="bench-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll():
                yield Static("no benchmark yet: moefleet bench -i INVENTORY", id="bench-chart")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        self.action_refresh()

    @work(thread=True, exclusive=True, group="bench")
    def action_refresh(self) -> None:
        with StateStore(self.state_path) as state:
            records = state.latest_benchmarks()
        self.post_message(BenchLoaded(latest_per_service(records)))

    def on_bench_loaded(self, message: BenchLoaded) -> None:
        self.records = message.records
        table = self.query_one(DataTable)
        table.clear()
        for r in self.records:
            predicted = (r.get("predicted") or {}).get("decode_tps")
            measured = (r.get("measured") or {}).get("decode_tps")
            error = f"{(predicted - measured) / measured:+.0%}" if predicted and measured else "—"
            table.add_row(r["host"], r["service"], f"{r.get('model')} {r.get('format')}",
                          f"{predicted:.0f}" if predicted else "—",
                          f"{measured:.0f}" if measured else "—", error,
                          "yes" if r.get("throttled") else "")  # fmt: skip
        self.loaded = True
        if self.records:
            self.query_one("#bench-chart", Static).update(level_chart(self.records[0]))

    def action_bench(self) -> None:
        """Ask, then benchmark every deployment in a worker and show the new results."""
        request = getattr(self.app, "deploy_request", None)
        if request is None:
            self.notify(
                "start `moefleet tui -i INVENTORY` to benchmark from here", severity="warning"
            )
            return
        question = "Benchmark every deployment now? It loads the servers for a while."
        self.app.push_screen(ConfirmScreen(question), self._confirmed)

    def _confirmed(self, yes: bool | None) -> None:
        if yes:
            self._bench()

    @work(thread=True, exclusive=True, group="bench-run")
    def _bench(self) -> None:
        count = bench_now(self.state_path, self.app.deploy_request)  # type: ignore[attr-defined]
        self.app.call_from_thread(self.notify, f"{count} deployment(s) benchmarked")
        self.benches_done += 1
        self.app.call_from_thread(self.action_refresh)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.records):
            self.query_one("#bench-chart", Static).update(
                level_chart(self.records[event.cursor_row])
            )
