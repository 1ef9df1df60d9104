"""A ``system_systemd`` lab host: a real ``systemd --system`` as PID 1 of the host's own PID
namespace starts its sshd; everything it and its root logins write stays in the namespace, and
``stop`` leaves no process, cgroup or mount behind."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from tests.lab.fleet import _system_cgroup, detect_mode, system_systemd_problem
from tests.lab.profiles import get_profile

HOST = "rtx4090"
CANARY = "moefleet-lab-canary-5e0c"


@pytest.fixture
def system_lab(make_lab):
    problem = system_systemd_problem()
    if problem:
        if os.environ.get("CI") and detect_mode() == "namespaces":  # .ci/run installs systemd
            pytest.fail(f"CI: {problem}")
        pytest.skip(problem)
    return make_lab([replace(get_profile(HOST), system_systemd=True), "cpu-only"])


def _start_unit(lab, name: str, command: str, kind: str = "simple") -> None:
    """Install and start ``name.service`` (no D-Bus in the host: systemd-run --wait needs it)."""
    unit = f"[Service]\nType={kind}\nExecStart={command}\n"
    _ok(lab, f"printf {unit!r} > /etc/systemd/system/{name}.service && systemctl daemon-reload")
    _ok(lab, f"systemctl start {name}")


def _gone(pid: int) -> bool:
    """Exited: no such process, or (PID 1 of the host, orphaned when its unshare was killed)
    a zombie this machine's init has yet to reap."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _ok(lab, command: str) -> str:
    result = lab.run(HOST, command, timeout=30)
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result.stdout


def test_systemd_is_pid_1_and_runs_the_sshd(system_lab) -> None:
    lab = system_lab
    assert _ok(lab, "cat /proc/1/comm; id -un; hostname").split() == ["systemd", "root", HOST]
    assert _ok(lab, "systemctl is-system-running --wait").strip() == "running"
    unit = _ok(lab, "cat /proc/self/cgroup").strip().rsplit("/", 1)[-1]
    assert unit == "moefleet-lab-sshd.service"  # this session: a child of the sshd unit
    assert lab.hosts[HOST].user == "root" and lab.run("cpu-only", "id -un").stdout == (
        f"{lab.user}\n"
    )
    # journald runs: what units print is in the host's journal
    _start_unit(lab, f"{CANARY}-log", f"/bin/echo {CANARY}", "oneshot")
    assert CANARY in _ok(lab, f"journalctl --no-pager -u {CANARY}-log")
    # the machine's own units are not the host's (no /lib/systemd/system on its unit path)
    missing = lab.run(HOST, "systemctl start ssh.service cron.service", timeout=30)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_nothing_reaches_the_machine(system_lab) -> None:
    lab = system_lab
    paths = [
        f"/etc/{CANARY}", f"/etc/systemd/system/{CANARY}.service", f"/var/lib/{CANARY}",
        f"/usr/lib/{CANARY}", f"/opt/{CANARY}", f"/tmp/{CANARY}", f"/var/tmp/{CANARY}",
        f"/run/{CANARY}", f"/root/{CANARY}", f"/home/{CANARY}", f"/srv/{CANARY}",
    ]  # fmt: skip
    _ok(lab, "touch " + " ".join(paths))
    assert sorted(_ok(lab, "ls " + " ".join(paths)).split()) == sorted(paths)
    assert [p for p in paths if Path(p).exists()] == []
    # kernel settings, /sys and the network are out of reach; the hostname is the host's
    assert lab.run(HOST, "echo 1000000 > /proc/sys/fs/file-max").returncode != 0
    assert lab.run(HOST, f"mkdir /sys/fs/cgroup/../{CANARY}").returncode != 0
    bounding = int(_ok(lab, "grep CapBnd /proc/1/status").split()[1], 16)
    for cap in (12, 25, 16):  # CAP_NET_ADMIN, CAP_SYS_TIME, CAP_SYS_MODULE
        assert not bounding & (1 << cap)
    assert socket.gethostname() != HOST


def test_stop_leaves_nothing_behind(system_lab) -> None:
    lab = system_lab
    _start_unit(lab, CANARY, "/bin/sleep 600")
    cgroup = _system_cgroup(lab.workdir, HOST)
    procs = (cgroup / "system.slice" / f"{CANARY}.service" / "cgroup.procs").read_text().split()
    sleeper = int(procs[0])  # its pid here (the host numbers it otherwise)
    pid1 = int(Path(f"/proc/{lab.hosts[HOST].pid}/task/{lab.hosts[HOST].pid}/children").read_text())
    assert Path(f"/proc/{pid1}/comm").read_text() == "systemd\n"
    lab.stop()
    assert _gone(sleeper) and _gone(pid1)
    assert not cgroup.exists()
    mounts = Path("/proc/self/mounts").read_text()
    assert str(lab.workdir) not in mounts and "moefleet-lab-" not in mounts
