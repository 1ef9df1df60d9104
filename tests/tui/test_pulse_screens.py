"""The pulse in the real app against the real-SSH lab: fleet rows fill from it, GPUs get their
history, broken hosts show why without crashing, and a real HTTP server on loopback stands in
for a deployed server's /health (ok, loading, then down)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable

from moefleet.inventory import load_inventory
from moefleet.probe import ProbeOptions, gather_facts
from moefleet.pulse import GpuSample, HostPulse, Pulse, pulse_hosts
from moefleet.state import StateStore
from moefleet.transport import ConnectOptions
from moefleet.tui.app import MoefleetApp, PulseArrived
from moefleet.tui.data import FleetRow
from moefleet.tui.pulse_view import pulse_panel
from moefleet.tui.screens.fleet import FleetScreen
from moefleet.tui.screens.host import HostScreen
from moefleet.tui.source import StateSource
from tests.lab.fleet import Lab
from tests.tui.pilot import settle

SIZE = (190, 30)


@pytest.fixture(scope="module")
def pulse_lab(make_lab_module: Callable[..., Lab]) -> Lab:
    return make_lab_module(["rtx4090", "a6000x2"], broken_hosts=True)


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = type(self).status if self.path == "/health" else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    handler = type("Health", (_Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _app(lab: Lab, db: Path) -> MoefleetApp:
    inventory = load_inventory(lab.inventory_path)
    options = ConnectOptions.from_settings(inventory.settings)
    pulse = pulse_hosts(list(inventory.hosts.values()), options)
    return MoefleetApp(StateSource(db, inventory), interval=0, pulse=pulse)


async def _pulses(pilot, count: int) -> None:  # type: ignore[no-untyped-def]
    """Run pulse steps until the history holds ``count`` and the fleet has drawn."""
    app: MoefleetApp = pilot.app
    assert app.pulse_history is not None
    while app.pulse_history.pulses < count:
        before = app.pulse_history.pulses
        app.pulse_now()
        await settle(pilot, lambda before=before: app.pulse_history.pulses > before)
        assert app.pulse_history.pulses > before, "no pulse arrived"
    await settle(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.refreshes)


def _rows(app: MoefleetApp) -> dict[str, FleetRow]:
    assert isinstance(app.screen, FleetScreen)
    return {row.host: row for row in app.screen.live_rows()}


def _cells(app: MoefleetApp, host: str) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [str(cell) for cell in table.get_row(host if "/" in host else f"/{host}")]


@pytest.mark.anyio
async def test_fleet_fills_from_the_pulse(pulse_lab: Lab, tmp_path: Path) -> None:
    inventory = load_inventory(pulse_lab.inventory_path)
    options = ProbeOptions(ConnectOptions.from_settings(inventory.settings), timeout=30)
    db = tmp_path / "state.db"
    with StateStore(db) as state:  # rtx4090 has a stored probe; the others only the pulse
        state.save_probes(gather_facts([inventory.hosts["rtx4090"]], options), "test")
    app = _app(pulse_lab, db)
    async with app.run_test(size=SIZE) as pilot:
        await _pulses(pilot, 3)
        rows = _rows(app)
        assert set(rows) == {"rtx4090", "a6000x2", "unreachable", "wrong-hostkey", "auth-fails"}
        history = app.pulse_history
        assert history is not None
        live = history.latest["rtx4090"].gpus[0]
        assert rows["rtx4090"].temperature_c == live.temperature_c
        assert rows["rtx4090"].status == "ok" and rows["rtx4090"].link != "—"  # probe + pulse
        a6000 = rows["a6000x2"]
        assert a6000.gpus == "2x RTX A6000" and round(a6000.vram_total_gib or 0) == 96
        assert [len(s) for s in history.gpus("a6000x2").values()] == [3, 3]
        assert len(_cells(app, "a6000x2")[5]) == 3  # the history column: one mark per pulse
        assert rows["unreachable"].status == "unreachable"
        assert rows["wrong-hostkey"].status == "host-key-mismatch"
        assert rows["auth-fails"].status == "auth-failed"
        summary = str(app.screen.query_one("#fleet-summary").content)
        assert "3 not answering" in summary

        app.screen.open_host("a6000x2")
        await pilot.pause()
        assert isinstance(app.screen, HostScreen) and app.screen.query("#host-pulse")
        await _pulses(pilot, 4)  # the host screen redraws on a pulse, too
        console = Console(record=True, width=150)
        console.print(pulse_panel(history, "a6000x2"))
        text = console.export_text()
        assert "temperature" in text and "SM clock" in text and "°C" in text
        assert text.count("MHz") == 2  # one line per GPU


@pytest.mark.anyio
async def test_health_of_a_deployed_server(
    pulse_lab: Lab, tmp_path: Path, health_server: ThreadingHTTPServer
) -> None:
    db = tmp_path / "state.db"
    url = f"http://127.0.0.1:{health_server.server_address[1]}"
    with StateStore(db) as state:
        state.save_deployment("rtx4090", "llama-test", {"model": "m", "format": "q4", "url": url})
    app = _app(pulse_lab, db)
    async with app.run_test(size=SIZE) as pilot:
        await _pulses(pilot, 1)
        rows = _rows(app)
        assert rows["rtx4090"].health == "ok" and rows["rtx4090"].deployed == "m q4"
        assert rows["a6000x2"].health == "—"  # nothing deployed there
        health_server.RequestHandlerClass.status = 503  # type: ignore[attr-defined]
        await _pulses(pilot, 2)
        assert _rows(app)["rtx4090"].health == "loading"
        health_server.shutdown()
        health_server.server_close()
        await _pulses(pilot, 3)
        assert _rows(app)["rtx4090"].health == "down"
        assert "down" in _cells(app, "rtx4090")


def _synthetic(steps: int, at: float) -> list[list[HostPulse]]:
    """Pulses of the recorded machines: temperatures and power that move, one dead host."""
    gpus = {"ws-3090": (2, "NVIDIA GeForce RTX 3090", 24576), "dgx-h100": (8, "NVIDIA H100 80GB "
            "HBM3", 81559), "lab-a6000": (4, "NVIDIA RTX A6000", 49140)}  # fmt: skip
    out = []
    for step in range(steps):
        pulses = [HostPulse("cpu-box", at, "unreachable", error="Connection refused")]
        for host, (count, name, total) in gpus.items():
            samples = tuple(
                GpuSample(i, name, 40 + (step * 7 + i * 5) % 45, 1200 + step * 40, 100 + step * 20,
                          total * (step + 1) / 12, total, 10 * step,
                          ("sw_thermal_slowdown",) if host == "ws-3090" and i == 1 else ())
                for i in range(count)
            )  # fmt: skip
            health = {"moefleet-a": "ok 200"} if host == "dgx-h100" else {}
            health |= {"moefleet-b": "down URLError"} if host == "ws-3090" else {}
            pulses.append(HostPulse(host, at, "ok", samples, health))
        out.append(pulses)
    return out


def _with_deployments(db: Path) -> None:
    with StateStore(db) as state:
        for host, service in (("dgx-h100", "moefleet-a"), ("ws-3090", "moefleet-b")):
            record = {"model": "qwen3-8b", "format": "Q4_K_M", "url": "http://127.0.0.1:8080"}
            state.save_deployment(host, service, record)


def _pulsed(screen: str):  # type: ignore[no-untyped-def]
    """A snapshot's run_before: synthetic pulses posted to the app, then ``screen`` shown."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        app: MoefleetApp = pilot.app
        await settle(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.refreshes)
        for pulses in _synthetic(10, time.time()):
            app.post_message(PulseArrived(pulses))
        await settle(pilot, lambda: app.pulse_history and app.pulse_history.pulses == 10)
        if screen == "host":
            assert isinstance(app.screen, FleetScreen)
            app.screen.open_host("dgx-h100")
        await pilot.pause(0.1)
        await pilot.pause()

    return run_before


def _snapshot_app(db: Path) -> MoefleetApp:
    _with_deployments(db)
    options = ConnectOptions(known_hosts=db.parent / "known_hosts")
    return MoefleetApp(StateSource(db), interval=0, pulse=Pulse([], options))


def test_pulsed_fleet_snapshot(snap_compare, state_db: Path) -> None:
    app = _snapshot_app(state_db)
    assert snap_compare(app, terminal_size=(200, 12), run_before=_pulsed("fleet"))


def test_pulsed_host_snapshot(snap_compare, state_db: Path) -> None:
    app = _snapshot_app(state_db)
    assert snap_compare(app, terminal_size=(120, 24), run_before=_pulsed("host"))
