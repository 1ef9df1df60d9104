"""The state store on a real SQLite file: WAL, newest probe per host, clear errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from moefleet.errors import StateError
from moefleet.probe import HostProbe
from moefleet.state import SCHEMA_VERSION, StateStore, default_state_path

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def probe(host: str, minutes: int, status: str = "ok") -> HostProbe:
    return HostProbe(
        host=host,
        target=f"{host}:22",
        status=status,
        probed_at=T0 + timedelta(minutes=minutes),
        seconds=0.2,
        error=None if status == "ok" else "connection refused",
    )


def test_latest_probe_per_host_survives_reopening(tmp_path):
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        store.save_probes([probe("a", 0), probe("b", 0, "unreachable")], "inv.toml")
        store.save_probes([probe("a", 5, "timeout")], "inv.toml")
    with StateStore(path) as store:
        latest = store.latest_probes()
        assert {h: p.status for h, p in latest.items()} == {"a": "timeout", "b": "unreachable"}
        assert [p.status for p in store.probe_history("a")] == ["timeout", "ok"]
        assert set(store.latest_probes(["b"])) == {"b"}
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_newer_schema_and_unwritable_paths_are_clear_errors(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="newer moefleet"):
        StateStore(path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError, match="cannot open state store"):
        StateStore(blocker / "state.db")


def test_default_path_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MOEFLEET_STATE", str(tmp_path / "x.db"))
    assert default_state_path() == tmp_path / "x.db"
    monkeypatch.delenv("MOEFLEET_STATE")
    assert default_state_path().name == "state.db"
