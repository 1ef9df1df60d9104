"""Rollout and benchmark screens on a state store with a journaled run and a benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from moefleet.state import JournalEntry, StateStore
from moefleet.tui.app import MoefleetApp
from moefleet.tui.rollout_data import host_progress
from moefleet.tui.screens.benchmarks import BenchmarksScreen
from moefleet.tui.screens.rollout import RolloutScreen
from moefleet.tui.source import StateSource
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
        for _ in range(100):
            await app.workers.wait_for_complete()
            await pilot.pause()
            if isinstance(app.screen, RolloutScreen) and app.screen.refreshes:
                break
        hosts = app.screen.query_one("#hosts", DataTable)
        first = [str(hosts.get_row_at(i)[0]) for i in range(hosts.row_count)]
        assert first[0] == "lab-a6000" and set(first) == {"ws-3090", "lab-a6000", "dgx-h100"}
        assert str(hosts.get_row_at(first.index("dgx-h100"))[4]) == "health gate"
        await pilot.press("escape")
        await pilot.press("b")
        for _ in range(100):
            await app.workers.wait_for_complete()
            await pilot.pause()
            if isinstance(app.screen, BenchmarksScreen) and app.screen.loaded:
                break
        table = app.screen.query_one(DataTable)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[:2] == ["ws-3090", "moefleet-qwen3-8b-0"] and row[3:6] == ["60", "50", "+20%"]
