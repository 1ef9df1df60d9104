"""CPU cost of `moefleet tui` on a big fleet: 500 hosts refreshed every 2 seconds.

Builds a synthetic state store (500 hosts cloned from recorded real machines — 2x RTX 3090,
4x RTX A6000, 8x H100 — with per-host temperatures varied, and 20 probes of history each so
the sparklines have data), runs the real Textual app headless at the given refresh interval
for --seconds, and prints the process CPU time per wall second (1.0 = one core busy) and the
time one refresh takes (state read + rows + table redraw); then the same with a pulse of every
host each interval (the worker's messages posted on the UI loop, without SSH: the UI's share).

    python perf/tui_load.py [--hosts 500] [--interval 2] [--seconds 30]

With ``--pulse N`` it measures the pulse instead, against a real-SSH lab of N synthetic hosts
(tests/lab; run as root for emulated hosts): first the pulse alone in both modes — a command
per host per step (``Pulse``) and one loop per host streaming a pulse each interval
(``PulseStream``, what `moefleet tui -i` runs) — as CPU per wall second of this process (the
sshds are other processes) and their ratio, then the real app headless with the streaming
pulse over those hosts, probed first so the rows are full.

    python perf/tui_load.py --pulse 50 [--interval 2] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moefleet.facts.importer import import_facts  # noqa: E402
from moefleet.inventory import load_inventory  # noqa: E402
from moefleet.probe import ProbeOptions, gather_facts  # noqa: E402
from moefleet.pulse import GpuSample, HostPulse, Pulse, Pulser, pulse_hosts  # noqa: E402
from moefleet.pulse_stream import stream_hosts  # noqa: E402
from moefleet.state import StateStore  # noqa: E402
from moefleet.transport import ConnectOptions  # noqa: E402
from moefleet.tui.app import MoefleetApp, PulseArrived  # noqa: E402
from moefleet.tui.screens.fleet import FleetScreen  # noqa: E402
from moefleet.tui.source import StateSource  # noqa: E402
from tests.lab.fleet import Lab  # noqa: E402
from tests.lab.profiles import synthetic_profile  # noqa: E402
from tests.real_outputs import REAL_OUTPUTS  # noqa: E402

MACHINES = (
    "nvsmi_default__2x-rtx3090__560.35.03.txt",
    "nvsmi_default__4x-rtx-a6000__510.73.05.txt",
    "nvsmi_default__8x-h100-sxm5-80gb__565.57.01.txt",
)


def build_state(workdir: Path, hosts: int, history: int) -> Path:
    templates = []
    for i, name in enumerate(MACHINES):
        folder = workdir / f"m{i}"
        folder.mkdir()
        shutil.copy(REAL_OUTPUTS / name, folder / name)
        templates.append(import_facts([folder])[0])
    rng = random.Random(1)
    db = workdir / "state.db"
    with StateStore(db) as state:
        for round_ in range(history):
            batch = []
            for h in range(hosts):
                base = templates[h % len(templates)]
                facts = base.facts.model_copy(deep=True) if base.facts else None
                if facts is not None:
                    for gpu in facts.gpus:
                        gpu.temperature_c = 40 + rng.random() * 45
                batch.append(base.model_copy(update={"host": f"gpu{h:04d}", "facts": facts}))
            state.save_probes(batch, f"synthetic-{round_}")
    return db


def synthetic_pulses(hosts: int, variants: int = 10) -> list[list[HostPulse]]:
    """Pulse steps as the worker would post them: every host, 2-8 GPUs with moving values."""
    rng = random.Random(2)
    steps = []
    for _ in range(variants):
        step = []
        for h in range(hosts):
            count = (2, 4, 8)[h % 3]
            gpus = tuple(
                GpuSample(i, "NVIDIA H100 80GB HBM3", 40 + rng.random() * 45, 1980, 300 + i,
                          40000 + rng.random() * 1000, 81559, 90, ())
                for i in range(count)
            )  # fmt: skip
            step.append(HostPulse(f"gpu{h:04d}", time.time(), "ok", gpus))
        steps.append(step)
    return steps


async def measure(
    db: Path,
    interval: float,
    seconds: float,
    app: MoefleetApp | None = None,
    pulses: list[list[HostPulse]] | None = None,
) -> tuple[float, float, float, int]:
    app = app or MoefleetApp(StateSource(db), interval=interval)
    async with app.run_test(size=(180, 50)) as pilot:
        while not (isinstance(app.screen, FleetScreen) and app.screen.refreshes):
            await pilot.pause(0.1)
        if pulses:  # posted on the UI loop as the pulse worker's messages would arrive
            ring = itertools.cycle(pulses)
            app.set_interval(interval, lambda: app.post_message(PulseArrived(next(ring))))
        start_cpu, start = time.process_time(), time.perf_counter()
        first = app.screen.refreshes
        await pilot.pause(seconds)
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start
        refreshes = app.screen.refreshes - first
    source = StateSource(db)
    started = time.perf_counter()
    source.load()
    cold = time.perf_counter() - started
    started = time.perf_counter()
    source.load()
    return cpu / wall, cold, time.perf_counter() - started, refreshes


def pulse_loop(pulse: Pulser, interval: float, seconds: float) -> tuple[float, list[float], int]:
    """Pulse every ``interval`` for ``seconds``: (CPU share, wall seconds of each step,
    host pulses received)."""
    pulse.step()  # connect once, outside the measurement (as the app's first pulse does)
    time.sleep(interval)
    pulse.step()
    steps: list[float] = []
    received = 0
    start_cpu, start = time.process_time(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        began = time.perf_counter()
        received += len(pulse.step())
        steps.append(time.perf_counter() - began)
        time.sleep(max(0.0, interval - steps[-1]))
    return (time.process_time() - start_cpu) / (time.perf_counter() - start), steps, received


def measure_pulse(hosts: int, interval: float, seconds: float) -> None:
    """The pulse over a lab of ``hosts`` synthetic hosts: alone, then inside the app."""
    workdir = Path(tempfile.mkdtemp(prefix="moefleet-pulse-", dir="/tmp"))
    workdir.chmod(0o755)  # the lab's login user must reach it
    lab = Lab.start([synthetic_profile(i) for i in range(hosts)], workdir, broken_hosts=False)
    try:
        inventory = load_inventory(lab.inventory_path)
        options = ConnectOptions.from_settings(inventory.settings)
        listed = list(inventory.hosts.values())
        loads = {}
        makers = {
            "command per step": lambda: pulse_hosts(listed, options, inventory.settings.forks),
            "loop per host": lambda: stream_hosts(listed, options, interval),
        }
        for mode, make in makers.items():
            pulse = make()
            try:
                load, steps, received = pulse_loop(pulse, interval, seconds)
            finally:
                pulse.close()
            loads[mode] = load
            steps.sort()
            print(
                f"pulse alone ({mode}): {hosts} hosts every {interval:g} s, {len(steps)} steps, "
                f"{received} host pulses in {seconds:g} s: CPU {load:.1%} of one core; step "
                f"wall median {steps[len(steps) // 2] * 1000:.0f} ms, max {steps[-1] * 1000:.0f} ms"
            )
        ratio = loads["command per step"] / max(loads["loop per host"], 1e-9)
        print(f"loop per host uses {ratio:.1f}x less controller CPU than a command per step")
        db = workdir / "state.db"
        with StateStore(db) as state:
            state.save_probes(gather_facts(listed, ProbeOptions(options)), "perf")
        plain = MoefleetApp(StateSource(db, inventory), interval)
        plain_load = asyncio.run(measure(db, interval, seconds, plain))[0]
        print(f"app without the pulse: {hosts} hosts: CPU {plain_load:.1%} of one core")
        pulse = stream_hosts(listed, options, interval)  # what `moefleet tui -i` runs
        app = MoefleetApp(StateSource(db, inventory), interval, pulse=pulse)
        app_load, _, _, refreshes = asyncio.run(measure(db, interval, seconds, app))
        history = app.pulse_history.pulses if app.pulse_history else 0
        print(
            f"app with the pulse: {hosts} hosts, {refreshes} state refreshes and {history} "
            f"pulses in {seconds:g} s: CPU {app_load:.1%} of one core (UI + workers + pulse)"
        )
    finally:
        lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--pulse", type=int, metavar="N", help="measure the pulse over N lab hosts")
    args = parser.parse_args()
    if args.pulse:
        measure_pulse(args.pulse, args.interval, args.seconds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = build_state(Path(tmp), args.hosts, args.history)
        load, cold, warm, refreshes = asyncio.run(measure(db, args.interval, args.seconds))
        app = MoefleetApp(StateSource(db), args.interval, pulse=Pulse([], _options(Path(tmp))))
        pulses = synthetic_pulses(args.hosts)
        pulsed = asyncio.run(measure(db, args.interval, args.seconds, app, pulses))[0]
    print(
        f"{args.hosts} hosts, refresh every {args.interval:g} s, {args.seconds:g} s measured: "
        f"{refreshes} refreshes"
    )
    print(
        f"CPU: {load:.1%} of one core on average; state read + rows: first "
        f"{cold * 1000:.0f} ms, then {warm * 1000:.0f} ms per refresh (incremental)"
    )
    print(
        f"with a pulse of every host each {args.interval:g} s (its messages, no SSH: history, "
        f"live rows, table redraw): CPU {pulsed:.1%} of one core"
    )


def _options(workdir: Path) -> ConnectOptions:
    return ConnectOptions(known_hosts=workdir / "known_hosts")


if __name__ == "__main__":
    main()
