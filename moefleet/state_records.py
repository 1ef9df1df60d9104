"""State-store records of what runs where and how fast: deployments, benchmarks, calibration.

A mixin of ``StateStore`` (same connection, same lock): kept apart so that each file stays
small. Records are JSON documents with a few indexed columns.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

from moefleet.errors import StateError

RECORDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    service TEXT NOT NULL,
    deployed_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deployments_by_host ON deployments (host, service, id);
CREATE TABLE IF NOT EXISTS benchmarks (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    service TEXT NOT NULL,
    measured_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS benchmarks_by_host ON benchmarks (host, service, id);
CREATE TABLE IF NOT EXISTS calibration (
    id INTEGER PRIMARY KEY,
    fitted_at TEXT NOT NULL,
    record TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FleetRecords:
    """Deployments, benchmarks and calibration (mixed into StateStore)."""

    _db: sqlite3.Connection
    _lock: threading.Lock
    path: Any

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            with self._lock:
                self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StateError(f"cannot write to {self.path}: {exc}") from exc

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StateError(f"cannot read {self.path}: {exc}") from exc

    def save_deployment(self, host: str, service: str, record: dict[str, Any]) -> None:
        """What now runs as ``service`` on ``host`` (no secrets in ``record``)."""
        self._write(
            "INSERT INTO deployments (host, service, deployed_at, record) VALUES (?, ?, ?, ?)",
            (host, service, _now(), json.dumps(record)),
        )

    def deployments(self) -> list[dict[str, Any]]:
        """The newest record of every (host, service)."""
        rows = self._read(
            "SELECT host, service, deployed_at, record FROM deployments d WHERE id = (SELECT "
            "MAX(id) FROM deployments e WHERE e.host = d.host AND e.service = d.service) "
            "ORDER BY host, service"
        )
        return [
            {"host": h, "service": s, "deployed_at": at, **json.loads(rec)}
            for h, s, at, rec in rows
        ]

    def save_benchmark(self, host: str, service: str, record: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO benchmarks (host, service, measured_at, record) VALUES (?, ?, ?, ?)",
            (host, service, _now(), json.dumps(record)),
        )

    def benchmarks(self, host: str | None = None) -> list[dict[str, Any]]:
        """Every stored benchmark (of one host), oldest first."""
        sql = "SELECT host, service, measured_at, record FROM benchmarks"
        params: tuple[Any, ...] = ()
        if host is not None:
            sql, params = sql + " WHERE host = ?", (host,)
        rows = self._read(sql + " ORDER BY id", params)
        return [
            {"host": h, "service": s, "measured_at": at, **json.loads(rec)}
            for h, s, at, rec in rows
        ]

    def save_calibration(self, record: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO calibration (fitted_at, record) VALUES (?, ?)",
            (_now(), json.dumps(record)),
        )

    def calibration(self) -> dict[str, Any] | None:
        """The newest fitted calibration, or None."""
        rows = self._read("SELECT record FROM calibration ORDER BY id DESC LIMIT 1")
        return json.loads(rows[0][0]) if rows else None
