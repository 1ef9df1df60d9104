"""CPU cost of `moefleet tui` on a big fleet: 500 hosts refreshed every 2 seconds.

Builds a synthetic state store (500 hosts cloned from recorded real machines — 2x RTX 3090,
4x RTX A6000, 8x H100 — with per-host temperatures varied, and 20 probes of history each so
the sparklines have data), runs the real Textual app headless at the given refresh interval
for --seconds, and prints the process CPU time per wall second (1.0 = one core busy) and the
time one refresh takes (state read + rows + table redraw).

    python perf/tui_load.py [--hosts 500] [--interval 2] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moefleet.facts.importer import import_facts  # noqa: E402
from moefleet.state import StateStore  # noqa: E402
from moefleet.tui.app import MoefleetApp  # noqa: E402
from moefleet.tui.screens.fleet import FleetScreen  # noqa: E402
from moefleet.tui.source import StateSource  # noqa: E402
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


async def measure(db: Path, interval: float, seconds: float) -> tuple[float, float, float, int]:
    app = MoefleetApp(StateSource(db), interval=interval)
    async with app.run_test(size=(180, 50)) as pilot:
        while not (isinstance(app.screen, FleetScreen) and app.screen.refreshes):
            await pilot.pause(0.1)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--history", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = build_state(Path(tmp), args.hosts, args.history)
        load, cold, warm, refreshes = asyncio.run(measure(db, args.interval, args.seconds))
    print(
        f"{args.hosts} hosts, refresh every {args.interval:g} s, {args.seconds:g} s measured: "
        f"{refreshes} refreshes"
    )
    print(
        f"CPU: {load:.1%} of one core on average; state read + rows: first "
        f"{cold * 1000:.0f} ms, then {warm * 1000:.0f} ms per refresh (incremental)"
    )


if __name__ == "__main__":
    main()
