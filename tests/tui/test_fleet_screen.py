"""The real Textual app driven by its Pilot: rows, sort, filter, group, host screen, live
refresh; and snapshots of the screens with fixed data and terminal size."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from moefleet.tui.app import MoefleetApp
from moefleet.tui.screens.fleet import FleetScreen
from moefleet.tui.screens.host import HostScreen
from moefleet.tui.screens.plan import PlanScreen
from moefleet.tui.source import StateSource
from tests.tui.conftest import make_state
from tests.tui.pilot import settle

SIZE = (150, 30)


def _table(app: MoefleetApp) -> DataTable:
    return app.screen.query_one(DataTable)


def _hosts(app: MoefleetApp) -> list[str]:
    table = _table(app)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def _ready(pilot, refreshes: int = 1) -> None:  # type: ignore[no-untyped-def]
    """Until the fleet screen has drawn ``refreshes`` snapshots."""

    def refreshed() -> bool:
        screen = pilot.app.screen
        return isinstance(screen, FleetScreen) and screen.refreshes >= refreshes

    await settle(pilot, refreshed)
    assert refreshed(), "the fleet screen never refreshed"
    await pilot.pause(0.1)  # let the table lay out its new column widths
    await pilot.pause()


@pytest.mark.anyio
async def test_rows_sort_filter_group_and_host_screen(state_db: Path) -> None:
    app = MoefleetApp(StateSource(state_db), interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        assert isinstance(app.screen, FleetScreen)
        assert _hosts(app) == ["cpu-box", "dgx-h100", "lab-a6000", "ws-3090"]
        await pilot.press("s", "s", "s")  # host -> status -> gpus -> vram
        assert app.screen.sort_key == "vram"
        await pilot.press("slash")
        await pilot.press(*"a6000")
        await pilot.pause()
        assert _hosts(app) == ["lab-a6000"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(_hosts(app)) == 4
        await pilot.press("g")
        assert all(h.startswith("ungrouped/") for h in _hosts(app))
        _table(app).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HostScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


@pytest.mark.anyio
async def test_live_refresh_picks_up_new_probes(tmp_path: Path) -> None:
    db = make_state(tmp_path, {"ws-3090": ["nvsmi_default__2x-rtx3090__560.35.03.txt"]})
    app = MoefleetApp(StateSource(db), interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        assert _hosts(app) == ["ws-3090"]
        make_state(tmp_path, {"dgx-h100": ["nvsmi_default__8x-h100-sxm5-80gb__565.57.01.txt"]})
        await pilot.press("r")
        await _ready(pilot, refreshes=2)
        assert _hosts(app) == ["dgx-h100", "ws-3090"]


def test_fleet_snapshot(snap_compare, state_db: Path) -> None:
    app = MoefleetApp(StateSource(state_db), interval=0)
    assert snap_compare(app, terminal_size=SIZE, run_before=_ready)


def test_host_snapshot(snap_compare, state_db: Path) -> None:
    async def open_host(pilot) -> None:  # type: ignore[no-untyped-def]
        await _ready(pilot)
        await pilot.press("enter")
        await pilot.pause()

    app = MoefleetApp(StateSource(state_db), interval=0)
    assert snap_compare(app, terminal_size=(120, 60), run_before=open_host)


@pytest.mark.anyio
async def test_plan_screen_lists_deployments_and_explains(state_db: Path) -> None:

    app = MoefleetApp(StateSource(state_db), interval=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await _ready(pilot)
        await pilot.press("p")
        await settle(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, PlanScreen)
        table = screen.query_one(DataTable)
        hosts = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert {"ws-3090", "lab-a6000", "dgx-h100"} <= hosts
        # nothing is deployed in this state: every planned deployment is new
        assert {str(table.get_row_at(i)[1]) for i in range(table.row_count)} == {"new"}
        # the CPU box was captured from lscpu alone (no GPU or RAM facts): not planned
        assert "cpu-box" not in hosts and "ws-3090" in screen.explained
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
