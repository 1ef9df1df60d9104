"""Helpers for playbook tests: parse inline TOML, run on lab hosts, look at hosts directly."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from moefleet.inventory import Inventory, load_inventory
from moefleet.playbook import Event, RunOptions, RunReport, parse_playbook, run_playbook
from moefleet.views.playbook import event_line

HOSTS = "rtx4090,cpu-only"


@pytest.fixture(scope="module")
def lab_inventory(lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(scope="module")
def lab_home(lab) -> str:
    """The lab user's home directory (each host has its own behind the same path)."""
    return on_host(lab, "rtx4090", "echo $HOME").strip()


@pytest.fixture
def workdir(lab_home) -> str:
    """A fresh directory under the lab user's home on every host (absolute)."""
    return f"{lab_home}/pb-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def play(lab_inventory) -> Callable[..., tuple[RunReport, list[str]]]:
    """``play(toml, limit=HOSTS, **options)`` -> (report, output lines incl. diffs)."""

    def run(toml: str, limit: str = HOSTS, extra: dict[str, Any] | None = None, **kw: Any):
        lines: list[str] = []

        def on_event(event: Event) -> None:
            line = event_line(event, show_diff=True)
            if line:
                lines.append(line)

        state = kw.pop("state", None)
        host_vars = kw.pop("host_vars", None)
        bench_hook = kw.pop("bench_hook", None)
        options = RunOptions(limit=limit, timeout=30, **kw)
        report = run_playbook(
            parse_playbook(toml), lab_inventory, options=options, extra_vars=extra or {},
            host_vars=host_vars, state=state, on_event=on_event, bench_hook=bench_hook,
        )  # fmt: skip
        return report, lines

    return run


def on_host(lab, host: str, command: str) -> str:
    """stdout of ``command`` on a lab host (through OpenSSH); fails the test on error."""
    result = lab.run(host, command)
    assert result.returncode == 0, result.stderr
    return result.stdout
