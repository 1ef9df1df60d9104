"""The pulse's pure parts in the TUI: the bounded history per GPU, rows brought up to date only
by a fresher pulse, and the health column."""

from __future__ import annotations

from moefleet.pulse import NO_SMI, GpuSample, HostPulse
from moefleet.tui.data import FleetRow
from moefleet.tui.pulse_history import PulseHistory
from moefleet.tui.pulse_rows import pulse_health, pulse_row, with_pulse


def _gpu(index: int, temp: float, reasons: tuple[str, ...] = ()) -> GpuSample:
    return GpuSample(index, "NVIDIA RTX A6000", temp, 1800, 250, 10240, 49140, 90, reasons)


def _pulse(at: float, *temps: float, health: dict[str, str] | None = None) -> HostPulse:
    gpus = tuple(_gpu(i, t) for i, t in enumerate(temps))
    return HostPulse("h", at, "ok", gpus, health or {})


ROW = FleetRow("h", "ok", ("gpu",), "2x RTX A6000", 0.0, 96.0, 30.0, 60.0, "Gen4 x16", False,
               0, 0, deployed="qwen3 Q4_K_M")  # fmt: skip
DEAD = HostPulse("h", 9.0, "unreachable", error="Connection refused")


def test_history_is_bounded_and_survives_a_failed_pulse() -> None:
    history = PulseHistory(size=3)
    for step in range(5):
        history.add([_pulse(step, 40 + step, 50 + step)])
    history.add([DEAD])
    assert history.hottest("h") == [52, 53, 54]
    assert [[s.temperature_c for s in ring] for ring in history.gpus("h").values()] == [
        [42, 43, 44],
        [52, 53, 54],
    ]
    assert history.latest["h"] is DEAD and history.last_good["h"].at == 4
    assert history.pulses == 6


def test_live_values_only_from_a_pulse_newer_than_the_probe() -> None:
    pulse = _pulse(100.0, 70, 81, health={"svc": "ok 200"})
    live = with_pulse(ROW, pulse, pulse, probed_at=50.0)
    assert (live.temperature_c, live.power_w, live.vram_used_gib) == (81, 500, 20)
    assert live.health == "ok" and live.status == "ok" and live.link == "Gen4 x16"
    older = with_pulse(ROW, pulse, pulse, probed_at=200.0)
    assert older.temperature_c == 30.0 and older.health == "ok"


def test_a_host_that_stops_answering_is_stale_with_its_last_values() -> None:
    good = _pulse(100.0, 70, health={"svc": "ok 200"})
    row = with_pulse(ROW, DEAD, good, probed_at=50.0)
    assert row.status == "unreachable" and row.health == "stale" and row.temperature_c == 70


def test_health_column() -> None:
    deployed = True
    assert pulse_health(None, deployed) == "—"
    assert pulse_health(_pulse(1, 40), deployed=False) == "—"
    assert pulse_health(_pulse(1, 40, health={"a": "ok 200", "b": "down URLError"}), True) == "down"
    assert pulse_health(_pulse(1, 40, health={"a": "loading 503"}), deployed) == "loading"
    assert pulse_health(_pulse(1, 40, health={"a": "unknown"}), deployed) == "?"
    assert pulse_health(_pulse(1, 40), deployed) == "?"  # deployed after this pulse asked


def test_a_host_known_only_to_the_pulse() -> None:
    pulse = _pulse(5.0, 40, 41)
    row = pulse_row(pulse, pulse, ("gpu",))
    assert (row.host, row.status, row.gpus, row.temperature_c) == ("h", "ok", "2x RTX A6000", 41)
    dead = pulse_row(DEAD, None)
    assert (dead.status, dead.gpus, dead.temperature_c, dead.health) == (
        "unreachable",
        "—",
        None,
        "—",
    )
    cpu = HostPulse("c", 5.0, "ok", gpu_error=NO_SMI)
    assert pulse_row(cpu, None).gpus == "no GPU"
