"""Rollouts: recent runs, and for the selected one each host's progress (failed hosts first)
and the journal's tail — live while a deploy runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Log

from moefleet.state import JournalEntry, StateStore
from moefleet.tui.actions import deploy_now
from moefleet.tui.rollout_data import host_progress
from moefleet.tui.screens.confirm import ConfirmScreen

RUNS = (("run", 6), ("playbook", 30), ("status", 12), ("started", 26), ("finished", 26))
HOSTS = (("host", 20), ("done", 6), ("changed", 8), ("failed", 7), ("now", 30), ("last", 12))


class RunsLoaded(Message):
    def __init__(self, runs: list[dict[str, Any]], journal: list[JournalEntry]) -> None:
        super().__init__()
        self.runs = runs
        self.journal = journal


class RolloutScreen(Screen[None]):
    """Follow a deploy (or look back at one) from the state store's journal."""

    AUTO_FOCUS = "#runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Refresh"),
        Binding("d", "deploy", "Deploy…"),
    ]

    def __init__(self, state_path: Path, interval: float = 1.0) -> None:
        super().__init__()
        self.state_path = state_path
        self.interval = interval
        self.selected: int | None = None
        self.refreshes = 0
        self.deploys_done = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield DataTable(id="runs", cursor_type="row")
            yield DataTable(id="hosts", cursor_type="row", zebra_stripes=True)
            yield Log(id="journal", max_lines=200)
        yield Footer()

    def on_mount(self) -> None:
        for table_id, columns in (("#runs", RUNS), ("#hosts", HOSTS)):
            table = self.query_one(table_id, DataTable)
            for label, width in columns:
                table.add_column(label, width=width)
        self.action_refresh()
        if self.interval > 0:
            self.set_interval(self.interval, self.action_refresh)

    @work(thread=True, exclusive=True, group="rollout")
    def action_refresh(self) -> None:
        with StateStore(self.state_path) as state:
            runs = state.runs(limit=20)
            run_id = (
                self.selected if self.selected is not None else (runs[0]["id"] if runs else None)
            )
            journal = state.run_journal(run_id) if run_id is not None else []
        self.post_message(RunsLoaded(runs, journal))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        runs = self.query_one("#runs", DataTable)
        cursor = runs.cursor_row
        runs.clear()
        for run in message.runs:
            cells = (str(run["id"]), Path(run["playbook"]).name, run["status"] or "running",
                     run["started_at"] or "", run["finished_at"] or "")  # fmt: skip
            runs.add_row(*cells, key=str(run["id"]))
        if runs.row_count:
            runs.move_cursor(row=min(cursor, runs.row_count - 1))
        hosts = self.query_one("#hosts", DataTable)
        hosts.clear()
        for row in host_progress(message.journal):
            hosts.add_row(row.host, str(row.done), str(row.changed), str(row.failed), row.current,
                          row.last_status)  # fmt: skip
        log = self.query_one("#journal", Log)
        log.clear()
        for entry in message.journal[-50:]:
            if entry.phase == "result":
                log.write_line(
                    f"{entry.at} {entry.host}: {entry.task} => {entry.status} {entry.message}"
                )
        self.refreshes += 1

    def action_deploy(self) -> None:
        """Ask, then deploy the plan in a worker; the journal shows its progress live."""
        request = getattr(self.app, "deploy_request", None)
        if request is None:
            self.notify("start `moefleet tui -i INVENTORY` to deploy from here", severity="warning")
            return
        count = len(request.inventory.hosts)
        question = (
            f"Deploy the plan to {count} host(s) of {request.inventory.source}? This changes hosts."
        )
        self.app.push_screen(ConfirmScreen(question), self._confirmed)

    def _confirmed(self, yes: bool | None) -> None:
        if yes:
            self.selected = None  # follow the new run
            self._deploy()

    @work(thread=True, exclusive=True, group="deploy")
    def _deploy(self) -> None:
        request = self.app.deploy_request  # type: ignore[attr-defined]
        outcome = deploy_now(self.state_path, request)
        ok = outcome.report is not None and outcome.report.ok and not outcome.problems
        self.app.call_from_thread(
            self.notify,
            "deploy finished" if ok else "deploy finished with failures: see the hosts table",
            severity="information" if ok else "error",
        )
        self.deploys_done += 1

    @on(DataTable.RowSelected, "#runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        self.selected = int(str(event.row_key.value))
        self.action_refresh()
