"""The state store: one SQLite file (WAL) that keeps probes now, and plans, runs and
benchmarks as later stages land. This module is the only writer.

Location: ``--state PATH``, else ``$MOEFLEET_STATE``, else the user's state directory
(``platformdirs.user_state_path("moefleet")/state.db``, e.g. ~/.local/state/moefleet/state.db).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import platformdirs

from moefleet.errors import StateError
from moefleet.probe import HostProbe

SCHEMA_VERSION = 1
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
"""


def default_state_path() -> Path:
    """$MOEFLEET_STATE, else the per-user state directory."""
    override = os.environ.get("MOEFLEET_STATE")
    if override:
        return Path(override).expanduser()
    return platformdirs.user_state_path("moefleet") / "state.db"


class StateStore:
    """An open state database; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
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
        self._db.executescript(_SCHEMA)
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
