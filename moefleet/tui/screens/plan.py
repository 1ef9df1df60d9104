"""The plan: what the planner would run on each host now, and why (``--explain`` per host)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from moefleet.tui.source import StateSource
from moefleet.views.plan import compact_explain

COLUMNS = (("host", 16), ("change", 18), ("model", 20), ("quant", 9), ("engine", 9), ("mode", 14),
           ("VRAM GiB", 14), ("RAM GiB", 8), ("decode", 7), ("prefill", 8))  # fmt: skip


class PlanLoaded(Message):
    """The plan was computed in the worker."""

    def __init__(self, data: dict[str, Any], explained: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.data = data
        self.explained = explained


class PlanScreen(Screen[None]):
    """Deployments the planner proposes, with the selected host's explanation."""

    AUTO_FOCUS = "#plan-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Re-plan"),
    ]

    def __init__(self, source: StateSource) -> None:
        super().__init__()
        self.source = source
        self.explained: dict[str, dict[str, Any]] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="plan-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="plan-explain"):
                yield Static("select a host", id="plan-why")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        self.action_refresh()

    @work(thread=True, exclusive=True, group="plan")
    def action_refresh(self) -> None:
        """Plan in a worker thread (pure, but it takes a moment for a big fleet)."""
        data, explained = self.source.plan()
        self.post_message(PlanLoaded(data, explained))

    def on_plan_loaded(self, message: PlanLoaded) -> None:
        self.explained = message.explained
        table = self.query_one(DataTable)
        table.clear()
        for entry in message.data["deployment"]:
            p = entry["predicted"]
            table.add_row(
                ", ".join(entry["hosts"]), entry.get("change", ""), entry["model"],
                entry["format"], entry["engine"],
                entry["mode"], " + ".join(f"{v:.1f}" for v in p["vram_gib"]) or "—",
                f"{p['ram_gib']:.1f}", f"{p['decode_tps']:.0f}", f"{p['prefill_tps']:.0f}",
            )  # fmt: skip
        self.loaded = True
        if table.row_count:
            self._explain(0)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._explain(event.cursor_row)

    def _explain(self, row: int) -> None:
        table = self.query_one(DataTable)
        host = str(table.get_row_at(row)[0]).split(",")[0]
        explained = self.explained.get(host)
        why = self.query_one("#plan-why", Static)
        why.update(compact_explain(explained) if explained else f"{host}: nothing to explain")
