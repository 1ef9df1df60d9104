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

    def latest_probe_ids(self, hosts: list[str] | None = None) -> dict[str, int]:
        """The id of each host's newest probe (cheap: lets readers skip unchanged hosts)."""
        rows = self._read("SELECT host, MAX(id) FROM probes GROUP BY host")
        wanted = set(hosts) if hosts is not None else None
        return {h: i for h, i in rows if wanted is None or h in wanted}

    def probe_records(self, ids: list[int]) -> dict[str, str]:
        """Raw JSON records of the given probe ids, by host."""
        records: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT host, record FROM probes WHERE id IN ({marks})"  # noqa: S608 - only '?'
            records.update(dict(self._read(query, tuple(chunk))))
        return records

    def temperature_history(self, limit: int = 20) -> dict[str, list[float]]:
        """Per host, the hottest GPU temperature of each of its last ``limit`` probes, oldest
        first — read inside SQLite (JSON1), without decoding whole records."""
        rows = self._read(
            "SELECT p.host, p.id, MAX(json_extract(g.value, '$.temperature_c')) FROM "
            "(SELECT id, host, record, ROW_NUMBER() OVER (PARTITION BY host ORDER BY id DESC) "
            "AS n FROM probes) p, json_each(p.record, '$.facts.gpu.gpus') g "
            "WHERE p.n <= ? GROUP BY p.host, p.id ORDER BY p.host, p.id",
            (limit,),
        )
        history: dict[str, list[float]] = {}
        for host, _, temperature in rows:
            if temperature is not None:
                history.setdefault(host, []).append(float(temperature))
        return history

    def latest_benchmarks(self) -> list[dict[str, Any]]:
        """The newest benchmark of every (host, service)."""
        rows = self._read(
            "SELECT host, service, measured_at, record FROM benchmarks b WHERE id = (SELECT "
            "MAX(id) FROM benchmarks c WHERE c.host = b.host AND c.service = b.service)"
        )
        return [
            {"host": h, "service": s, "measured_at": at, **json.loads(rec)}
            for h, s, at, rec in rows
        ]

    def host_journal(self, host: str, limit: int = 30) -> list[tuple[int, str, str, str, str]]:
        """The newest task results of one host across runs: (run, task, status, message, at)."""
        rows = self._read(
            "SELECT run_id, task, status, message, at FROM run_tasks WHERE host = ? AND "
            "phase = 'result' ORDER BY id DESC LIMIT ?",
            (host, limit),
        )
        return [tuple(row) for row in rows]

    def save_calibration(self, record: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO calibration (fitted_at, record) VALUES (?, ?)",
            (_now(), json.dumps(record)),
        )

    def calibration(self) -> dict[str, Any] | None:
        """The newest fitted calibration, or None."""
        rows = self._read("SELECT record FROM calibration ORDER BY id DESC LIMIT 1")
        return json.loads(rows[0][0]) if rows else None
