"""The collector remembers `--version` answers per binary and re-runs a binary that changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

COLLECTOR = Path(__file__).resolve().parents[2] / "moefleet/facts/collector/collect.py"


def _fake_docker(folder: Path, version: str) -> Path:
    script = folder / "docker"
    script.write_text(
        f'#!/bin/sh\necho run >> "{folder}/runs"\necho "Docker version {version}, build abc"\n'
    )
    script.chmod(0o755)
    return script


def _collect(bin_dir: Path, cache_home: Path) -> dict:
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(cache_home),
        "XDG_CACHE_HOME": str(cache_home),
    }
    out = subprocess.run(
        [sys.executable, "-S", str(COLLECTOR), "10", "0"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    ).stdout  # fmt: skip
    body = out.split("<<<MOEFLEET-FACTS\n", 1)[1].split("\nMOEFLEET-FACTS>>>", 1)[0]
    return json.loads(body)["commands"]["docker"]


def test_version_answers_are_cached_per_binary(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = _fake_docker(bin_dir, "28.2.2")
    first = _collect(bin_dir, tmp_path)
    second = _collect(bin_dir, tmp_path)
    assert "28.2.2" in first["stdout"] and not first.get("cached")
    assert second["stdout"] == first["stdout"] and second["cached"] is True
    assert (bin_dir / "runs").read_text().count("run") == 1
    cache = tmp_path / "moefleet" / "collector-versions"
    assert cache.stat().st_mode & 0o777 == 0o600
    _fake_docker(bin_dir, "29.0.1")  # upgraded in place: new size and mtime
    os.utime(script, ns=(1, 1))
    third = _collect(bin_dir, tmp_path)
    assert "29.0.1" in third["stdout"] and not third.get("cached")


def test_unwritable_cache_only_means_no_cache(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_docker(bin_dir, "28.2.2")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    assert "28.2.2" in _collect(bin_dir, blocked)["stdout"]
    assert "28.2.2" in _collect(bin_dir, blocked)["stdout"]
    assert (bin_dir / "runs").read_text().count("run") == 2
