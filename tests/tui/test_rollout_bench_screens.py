"""Rollout and benchmark screens on a state store with a journaled run and a benchmark."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.widgets import DataTable

from moefleet.state import JournalEntry, StateStore
from moefleet.tui.app import MoefleetApp
from moefleet.tui.rollout_data import host_progress
from moefleet.tui.screens.benchmarks import BenchmarksScreen
from moefleet.tui.screens.host import HostScreen
from moefleet.tui.screens.rollout import RolloutScreen
from moefleet.tui.source import StateSource
from tests.tui.pilot import settle
from tests.tui.test_fleet_screen import _ready


def _journal(db: Path) -> None:
    with StateStore(db) as state:
        run_id, _ = state.begin_run("inventory.toml", "deploy.toml")
        for host, status in (("ws-3090", "changed"), ("lab-a6000", "failed"), ("dgx-h100", "ok")):
            state.journal(run_id, host, "config files", "intent", "running")
            state.journal(run_id, host, "config files", "result", status, f"{host} done")
        state.journal(run_id, "dgx-h100", "health gate", "intent", "running")
        level = {"label": "c=1", "metrics": {"output_tps": 42.0, "ttft": {"p50": 0.05},
                                             "tpot": {"p50": 0.02}}}  # fmt: skip
        state.save_benchmark("ws-3090", "moefleet-qwen3-8b-0", {
            "model": "qwen3-8b", "format": "Q4_K_M", "predicted": {"decode_tps": 60.0},
            "measured": {"decode_tps": 50.0}, "throttled": False,
            "summary": {"levels": [level]},
        })  # fmt: skip


def test_host_progress_puts_failures_first() -> None:

    entries = [
        JournalEntry(1, "a", "t", "result", "ok", "", None, ""),
        JournalEntry(1, "b", "t", "result", "failed", "", None, ""),
        JournalEntry(1, "a", "u", "intent", "running", "", None, ""),
    ]
    rows = host_progress(entries)
    assert [r.host for r in rows] == ["b", "a"]
    assert rows[1].current == "u" and rows[0].failed == 1


@pytest.mark.anyio
async def test_rollout_and_benchmarks_screens(state_db: Path) -> None:
    _journal(state_db)
    app = MoefleetApp(StateSource(state_db), interval=0)
    async with app.run_test(size=(160, 45)) as pilot:
        await _ready(pilot)
        await pilot.press("o")
        await settle(pilot, lambda: isinstance(app.screen, RolloutScreen) and app.screen.refreshes)
        hosts = app.screen.query_one("#hosts", DataTable)
        first = [str(hosts.get_row_at(i)[0]) for i in range(hosts.row_count)]
        assert first[0] == "lab-a6000" and set(first) == {"ws-3090", "lab-a6000", "dgx-h100"}
        assert str(hosts.get_row_at(first.index("dgx-h100"))[4]) == "health gate"
        await pilot.press("escape")
        await pilot.press("b")
        await settle(pilot, lambda: isinstance(app.screen, BenchmarksScreen) and app.screen.loaded)
        table = app.screen.query_one(DataTable)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[:2] == ["ws-3090", "moefleet-qwen3-8b-0"] and row[3:6] == ["60", "50", "+20%"]


def _fixed_clock(db: Path) -> None:
    """Rewrite the journal's and runs' timestamps to fixed values (deterministic snapshots)."""
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE runs SET started_at = '2026-11-29T08:00:00+00:00', "
            "finished_at = '2026-11-29T08:01:00+00:00', pid = 1, hostname = 'ctl'"
        )
        connection.execute("UPDATE run_tasks SET at = '2026-11-29T08:00:30+00:00'")


def _wait_for(attribute: str):  # type: ignore[no-untyped-def]
    async def wait(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot, lambda: getattr(pilot.app.screen, attribute, 0))
        await pilot.pause(0.1)
        await pilot.pause()

    return wait


def test_rollout_snapshot(snap_compare, state_db: Path) -> None:
    _journal(state_db)
    _fixed_clock(state_db)

    async def open_rollout(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press("o")
        await _wait_for("refreshes")(pilot)

    app = MoefleetApp(StateSource(state_db), interval=0)
    assert snap_compare(app, terminal_size=(150, 40), run_before=open_rollout)


def test_benchmarks_snapshot(snap_compare, state_db: Path) -> None:
    _journal(state_db)

    async def open_benchmarks(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press("b")
        await _wait_for("loaded")(pilot)

    app = MoefleetApp(StateSource(state_db), interval=0)
    assert snap_compare(app, terminal_size=(150, 30), run_before=open_benchmarks)


def test_plan_snapshot(snap_compare, state_db: Path) -> None:
    async def open_plan(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press("p")
        await _wait_for("loaded")(pilot)

    app = MoefleetApp(StateSource(state_db), interval=0)
    assert snap_compare(app, terminal_size=(170, 40), run_before=open_plan)


@pytest.mark.anyio
async def test_host_screen_shows_runs_and_benchmarks(state_db: Path) -> None:
    _journal(state_db)
    app = MoefleetApp(StateSource(state_db), interval=0)
    async with app.run_test(size=(160, 50)) as pilot:
        await _ready(pilot)
        app.screen.open_host("ws-3090")
        await settle(
            pilot,
            lambda: isinstance(app.screen, HostScreen) and "benchmarks" in app.screen.records_text,
        )
        assert isinstance(app.screen, HostScreen)
        text = app.screen.records_text
        assert "measured 50 tok/s" in text and "config files: changed" in text
