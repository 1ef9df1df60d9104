"""The run journal and the inventory lock in a real SQLite state store: refusal while a live run
holds the lock, stale-lock takeover, and a controller killed mid-run that a re-run converges."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from moefleet.playbook import RunOptions, parse_playbook, run_playbook
from moefleet.state import LockHeldError, StateStore
from tests.playbook.conftest import on_host

ROOT = Path(__file__).resolve().parents[2]

SLOW = """
[[plays]]
[[plays.tasks]]
name = "first"
copy = {{ dest = "{dir}/first", content = "1" }}
[[plays.tasks]]
name = "slow"
command = {{ cmd = "sleep 2 && touch {dir}/slow", shell = true, creates = "{dir}/slow" }}
[[plays.tasks]]
name = "last"
copy = {{ dest = "{dir}/last", content = "3" }}
"""


def test_a_second_run_on_the_same_inventory_is_refused(lab_inventory, tmp_path):
    with StateStore(tmp_path / "state.db") as state:
        held, _ = state.begin_run(lab_inventory.source, "other.toml")
        with pytest.raises(LockHeldError) as caught:
            run_playbook(parse_playbook("[[plays]]"), lab_inventory, state=state)
        message = str(caught.value)
        assert f"run {held}" in message and f"pid {os.getpid()}" in message
        assert "started 20" in message and os.uname().nodename in message
        state.finish_run(held, "ok")
        report = run_playbook(parse_playbook("[[plays]]"), lab_inventory, state=state)
        assert report.run_id == held + 1


def test_a_stale_lock_is_taken_over_with_a_warning(lab_inventory, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = tmp_path / "state.db"
    with StateStore(path) as state:
        state.begin_run(lab_inventory.source, "old.toml")
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE locks SET pid = ?", (dead.pid,))
    db.close()
    with StateStore(path) as state:
        report = run_playbook(parse_playbook("[[plays]]"), lab_inventory, state=state)
        assert any(f"pid {dead.pid}" in w and "stale lock" in w for w in report.warnings)
        assert state.runs(lab_inventory.source)[1]["status"] == "interrupted"


def _start_killable(lab, playbook: Path, state: Path) -> subprocess.Popen[bytes]:
    script = textwrap.dedent(f"""
        from pathlib import Path
        from moefleet.inventory import load_inventory
        from moefleet.playbook import RunOptions, load_playbook, run_playbook
        from moefleet.state import StateStore
        with StateStore(Path({str(state)!r})) as state:
            inventory = load_inventory({str(lab.inventory_path)!r})
            options = RunOptions(limit="cpu-only")
            run_playbook(load_playbook({str(playbook)!r}), inventory, options=options, state=state)
    """)
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)


def _wait_for_intent(state: Path, task: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.exists():
            db = sqlite3.connect(state)
            try:
                rows = db.execute(
                    "SELECT 1 FROM run_tasks WHERE phase = 'intent' AND task = ?", (task,)
                ).fetchall()
            except sqlite3.OperationalError:
                rows = []
            db.close()
            if rows:
                return
        time.sleep(0.05)
    raise AssertionError(f"no intent for {task!r} within {timeout} s")


def test_a_killed_run_is_reported_and_a_rerun_converges(lab, lab_inventory, workdir, tmp_path):
    playbook = tmp_path / "slow.toml"
    playbook.write_text(SLOW.format(dir=workdir))
    state_path = tmp_path / "state.db"
    child = _start_killable(lab, playbook, state_path)
    try:
        _wait_for_intent(state_path, "2 slow")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    with StateStore(state_path) as state:
        killed = state.runs()[0]
        assert [e.task for e in state.interrupted_tasks(killed["id"])] == ["2 slow"]
        journal = state.run_journal(killed["id"])
        assert [(e.task, e.phase, e.status) for e in journal][:2] == [
            ("1 first", "intent", "running"),
            ("1 first", "result", "changed"),
        ]
        rerun = run_playbook(parse_playbook(playbook.read_text()), lab_inventory,
                             options=RunOptions(limit="cpu-only"), state=state)  # fmt: skip
        assert rerun.ok and rerun.interrupted == ["cpu-only: 2 slow"]
        assert any("stale lock" in w for w in rerun.warnings)
        assert rerun.find("cpu-only", "first").status == "ok"  # finished work is not redone
        assert rerun.find("cpu-only", "last").changed
        final = run_playbook(parse_playbook(playbook.read_text()), lab_inventory,
                             options=RunOptions(limit="cpu-only"), state=state)  # fmt: skip
        assert final.changed == 0 and final.interrupted == []
    assert on_host(lab, "cpu-only", f"ls {workdir}").split() == ["first", "last", "slow"]


def test_a_timed_out_task_is_journaled_as_unknown(play, workdir, tmp_path):
    toml = """
[[plays]]
[[plays.tasks]]
name = "hangs"
command = { argv = ["sleep", "10"], timeout = 1 }
"""
    with StateStore(tmp_path / "state.db") as state:
        report, _ = play(toml, limit="cpu-only", state=state)
        entries = state.run_journal(report.run_id)
    assert "outcome unknown" in report.find("cpu-only", "hangs").message
    assert [(e.phase, e.status) for e in entries] == [("intent", "running"), ("result", "unknown")]
    del workdir
