"""The ``systemd-user`` service backend against a real ``systemd --user`` on a lab host
(tests/lab, ``user_systemd``): a unit written by ``copy`` is started after a daemon-reload,
enabled, idempotent, restarted, stopped and disabled; lingering is switched on where logind
says it is off (a fake ``loginctl`` on the host's PATH stands in for logind, which needs a
system manager)."""

# ruff: noqa: E501  (playbooks inline as TOML: one table per line)
from __future__ import annotations

import os
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from moefleet.inventory import load_inventory
from moefleet.playbook import RunOptions, RunReport, parse_playbook, run_playbook
from tests.lab.fleet import SYSTEMD, Lab, detect_mode
from tests.lab.profiles import get_profile

HOST = "cpu-only"
PLAY = """
[[plays]]
[[plays.tasks]]
name = "unit"
copy = {{ dest = "~/.config/systemd/user/{name}.service", content = '''{unit}''' }}
[[plays.tasks]]
name = "web"
service = {{ name = "{name}", backend = "systemd-user", state = "{state}", daemon_reload = true, enabled = {enabled} }}
"""
UNIT = """[Unit]
Description=moefleet test web server
[Service]
ExecStart=/usr/bin/python3 -m http.server {port} --bind 127.0.0.1
[Install]
WantedBy=default.target
"""
FAKE_LOGINCTL = """#!/bin/sh
# moefleet lab: logind's answers about lingering, kept in a file of the login user
f="$HOME/.fake-linger"
case "$1" in
show-user) cat "$f" ;;
enable-linger) if [ -e "$f.refused" ]; then echo "Access denied" >&2; exit 1; fi; echo yes > "$f" ;;
*) exit 1 ;;
esac
"""


@pytest.fixture(scope="module")
def user_lab(make_lab_module) -> Lab:
    if detect_mode() != "namespaces":
        pytest.skip("a user systemd lab host needs root and mount namespaces (unshare)")
    if not Path(SYSTEMD).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{SYSTEMD} is missing in CI")
        pytest.skip(f"{SYSTEMD} is missing: apt-get install -y systemd")
    return make_lab_module([replace(get_profile(HOST), user_systemd=True)])


def _play(lab: Lab, state: str, port: int, name: str, enabled: str = "true") -> RunReport:
    toml = PLAY.format(name=name, state=state, enabled=enabled, unit=UNIT.format(port=port))
    return run_playbook(
        parse_playbook(toml), load_inventory(lab.inventory_path),
        options=RunOptions(limit=HOST, timeout=30),
    )  # fmt: skip


def _systemctl(lab: Lab, *words: str) -> str:
    return lab.run(HOST, "systemctl --user " + " ".join(words), timeout=30).stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serves(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_serving(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not _serves(port):
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.05)


def test_user_unit_start_enable_restart_stop(user_lab: Lab) -> None:
    port, name = _free_port(), "moefleet-web"
    started = _play(user_lab, "started", port, name)
    assert started.ok and started.find(HOST, "web").changed, _messages(started)
    assert _systemctl(user_lab, "is-active", name) == "active"
    assert _systemctl(user_lab, "is-enabled", name) == "enabled"
    _wait_serving(port)
    pid = _systemctl(user_lab, "show", "-p", "MainPID", "--value", name)
    assert "http.server" in Path(f"/proc/{pid}/cmdline").read_text()

    again = _play(user_lab, "started", port, name)
    assert again.changed == 0, _messages(again)
    assert _systemctl(user_lab, "show", "-p", "MainPID", "--value", name) == pid

    restarted = _play(user_lab, "restarted", port, name)
    assert restarted.find(HOST, "web").changed
    assert _systemctl(user_lab, "show", "-p", "MainPID", "--value", name) != pid

    stopped = _play(user_lab, "stopped", port, name, enabled="false")
    assert stopped.find(HOST, "web").changed
    assert _systemctl(user_lab, "is-active", name) == "inactive"
    assert _systemctl(user_lab, "is-enabled", name) == "disabled"
    assert not _serves(port)
    assert _play(user_lab, "stopped", port, name, enabled="false").changed == 0


def test_lingering_is_enabled_where_logind_has_it_off(user_lab: Lab) -> None:
    host = user_lab.hosts[HOST]
    fake = host.dir / "bin" / "loginctl"  # first on the host's PATH
    fake.write_text(FAKE_LOGINCTL)
    fake.chmod(0o755)
    linger = host.dir / "home" / ".fake-linger"
    try:
        _set(linger, "no\n", refused=True)
        port = _free_port()
        refused = _play(user_lab, "started", port, "moefleet-linger")
        result = refused.find(HOST, "web")
        assert result.status == "failed" and "lingering is off" in result.message
        assert "Access denied" in result.message and "enable-linger" in result.message

        _set(linger, "no\n", refused=False)
        enabled = _play(user_lab, "started", port, "moefleet-linger")
        assert "enabled lingering" in enabled.find(HOST, "web").message
        assert linger.read_text() == "yes\n"
        assert _play(user_lab, "started", port, "moefleet-linger").changed == 0
    finally:
        fake.unlink()
        _play(user_lab, "stopped", _free_port(), "moefleet-linger", enabled="false")


def _set(linger: Path, value: str, refused: bool) -> None:
    uid = linger.parent.stat().st_uid
    linger.write_text(value)
    os.chown(linger, uid, -1)
    marker = linger.with_name(linger.name + ".refused")
    if refused:
        marker.touch()
    else:
        marker.unlink(missing_ok=True)


def _messages(report: RunReport) -> list[Any]:
    return [(r.task, r.result.status, r.result.message) for r in report.records]
