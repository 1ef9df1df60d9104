"""The state store: one SQLite file (WAL) that keeps probes now, and plans, runs and
benchmarks as later stages land. This module is the only writer.

Location: ``--state PATH``, else ``$MOEFLEET_STATE``, else the user's state directory
(``platformdirs.user_state_path("moefleet")/state.db``, e.g. ~/.local/state/moefleet/state.db).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import platformdirs

from moefleet.errors import StateError
from moefleet.probe import HostProbe
from moefleet.state_records import RECORDS_SCHEMA, FleetRecords

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS probes (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    inventory TEXT NOT NULL,
    probed_at TEXT NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS probes_by_host ON probes (host, probed_at);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    lock_key TEXT NOT NULL,
    playbook TEXT NOT NULL,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_tasks (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    host TEXT NOT NULL,
    task TEXT NOT NULL,
    phase TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    backup TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_tasks_by_run ON run_tasks (run_id, host, id);
CREATE TABLE IF NOT EXISTS locks (
    key TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    started_at TEXT NOT NULL
);
"""


class LockHeldError(StateError):
    """Another live run holds the lock on this inventory."""


@dataclass(frozen=True)
class JournalEntry:
    """One journal line: an intent before a task acts, or its result after."""

    run_id: int
    host: str
    task: str
    phase: str
    """"intent" or "result"."""
    status: str
    """intent: "running"; result: ok/changed/failed/skipped/unreachable or "unknown"."""
    message: str
    backup: str | None
    at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def default_state_path() -> Path:
    """$MOEFLEET_STATE, else the per-user state directory."""
    override = os.environ.get("MOEFLEET_STATE")
    if override:
        return Path(override).expanduser()
    return platformdirs.user_state_path("moefleet") / "state.db"


class StateStore(FleetRecords):
    """An open state database; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=10, isolation_level=None, check_same_thread=False
            )
            self._lock = threading.Lock()  # runs journal from worker threads
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StateError(
                f"cannot open state store {path}: {exc}", "pass --state PATH or set MOEFLEET_STATE"
            ) from exc

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(f"{self.path} was written by a newer moefleet (schema {version})")
        self._db.executescript(_SCHEMA + RECORDS_SCHEMA)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def save_probes(self, probes: Iterable[HostProbe], inventory: str) -> None:
        """Store probe results (facts, findings, or the error) in one transaction."""
        rows = [
            (p.host, inventory, p.probed_at.isoformat(), p.status, p.model_dump_json())
            for p in probes
        ]
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO probes (host, inventory, probed_at, status, record) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.Error as exc:
            raise StateError(f"cannot write probes to {self.path}: {exc}") from exc

    def latest_probes(self, hosts: Iterable[str] | None = None) -> dict[str, HostProbe]:
        """The newest probe of each host (of the given hosts, if any)."""
        query = (
            "SELECT host, record FROM probes p WHERE id = (SELECT id FROM probes q "
            "WHERE q.host = p.host ORDER BY probed_at DESC, id DESC LIMIT 1)"
        )
        try:
            rows = self._db.execute(query).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"cannot read probes from {self.path}: {exc}") from exc
        wanted = set(hosts) if hosts is not None else None
        return {
            host: HostProbe.model_validate_json(record)
            for host, record in rows
            if wanted is None or host in wanted
        }

    def probe_history(self, host: str, limit: int = 50) -> list[HostProbe]:
        """Recent probes of one host, newest first."""
        rows = self._db.execute(
            "SELECT record FROM probes WHERE host = ? ORDER BY probed_at DESC, id DESC LIMIT ?",
            (host, limit),
        ).fetchall()
        return [HostProbe.model_validate_json(record) for (record,) in rows]

    # --- playbook runs: a lock per inventory, a journal per task ------------------------------

    def begin_run(self, lock_key: str, playbook: str) -> tuple[int, str | None]:
        """Take the lock on ``lock_key`` and open a run; returns (run id, a warning when a stale
        lock was taken over). Raises LockHeldError when a live run holds it."""
        me, pid, now = socket.gethostname(), os.getpid(), _now()
        warning = None
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN IMMEDIATE")
                held = self._db.execute(
                    "SELECT run_id, pid, hostname, started_at FROM locks WHERE key = ?",
                    (lock_key,),
                ).fetchone()
                if held is not None:
                    warning = self._check_holder(lock_key, *held)
                    self._db.execute(
                        "UPDATE runs SET status = 'interrupted', finished_at = ? "
                        "WHERE id = ? AND finished_at IS NULL",
                        (now, held[0]),
                    )
                run_id = self._db.execute(
                    "INSERT INTO runs (lock_key, playbook, pid, hostname, started_at, status) "
                    "VALUES (?, ?, ?, ?, ?, 'running')",
                    (lock_key, playbook, pid, me, now),
                ).lastrowid
                self._db.execute(
                    "INSERT OR REPLACE INTO locks (key, run_id, pid, hostname, started_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (lock_key, run_id, pid, me, now),
                )
        except sqlite3.Error as exc:
            raise StateError(f"cannot start a run in {self.path}: {exc}") from exc
        assert run_id is not None
        return run_id, warning

    def _check_holder(self, key: str, run_id: int, pid: int, host: str, since: str) -> str:
        """Raise when the holder lives (or may: another machine); else a takeover warning."""
        if host != socket.gethostname() or _pid_alive(pid):
            raise LockHeldError(
                f"{key} is locked by run {run_id} (pid {pid} on {host}, started {since})",
                "wait for that run to finish; if it is gone for good, delete its row "
                f"from the locks table of {self.path}",
            )
        message = (
            f"took over a stale lock on {key}: run {run_id} (pid {pid} on {host}, started "
            f"{since}) is gone"
        )
        log.warning("%s", message)
        return message

    def finish_run(self, run_id: int, status: str) -> None:
        """Close the run and release its lock."""
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.execute(
                    "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?",
                    (status, _now(), run_id),
                )
                self._db.execute("DELETE FROM locks WHERE run_id = ?", (run_id,))
        except sqlite3.Error as exc:
            raise StateError(f"cannot finish run {run_id} in {self.path}: {exc}") from exc

    def journal(
        self, run_id: int, host: str, task: str, phase: str, status: str,
        message: str = "", backup: str | None = None,
    ) -> None:  # fmt: skip
        """Append one journal entry (autocommitted: it survives the controller being killed)."""
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO run_tasks (run_id, host, task, phase, status, message, backup, "
                    "at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, host, task, phase, status, message, backup, _now()),
                )
        except sqlite3.Error as exc:
            raise StateError(f"cannot journal run {run_id} in {self.path}: {exc}") from exc

    def run_journal(self, run_id: int) -> list[JournalEntry]:
        """Every entry of one run, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, host, task, phase, status, message, backup, at FROM run_tasks "
                "WHERE run_id = ? ORDER BY id",
                (run_id,),
            ).fetchall()
        return [JournalEntry(*row) for row in rows]

    def runs(self, lock_key: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Recent runs, newest first: id, lock_key, playbook, pid, hostname, times, status."""
        query = "SELECT id, lock_key, playbook, pid, hostname, started_at, finished_at, status "
        query += "FROM runs " + ("WHERE lock_key = ? " if lock_key else "")
        query += "ORDER BY id DESC LIMIT ?"
        params: tuple[Any, ...] = (lock_key, limit) if lock_key else (limit,)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        keys = ("id", "lock_key", "playbook", "pid", "hostname", "started_at", "finished_at")
        return [dict(zip((*keys, "status"), row, strict=True)) for row in rows]

    def interrupted_tasks(self, run_id: int) -> list[JournalEntry]:
        """Intents of ``run_id`` that never got a result (the run was killed meanwhile)."""
        entries = self.run_journal(run_id)
        done = {(e.host, e.task) for e in entries if e.phase == "result"}
        return [e for e in entries if e.phase == "intent" and (e.host, e.task) not in done]
