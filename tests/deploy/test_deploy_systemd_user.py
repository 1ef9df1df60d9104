"""`moefleet deploy` with ``service_backend = "systemd-user"`` against a real ``systemd --user``:
a lab host whose login user runs its own user manager (tests/lab, ``user_systemd``) and a real
llama-server on CPU. The unit lands in ~/.config/systemd/user and is started by the manager,
which supervises the very process that listens; a second run changes nothing; a bad flag is
rolled back to the previous unit, restarted by systemd; the key shows nowhere."""

from __future__ import annotations

import os
import subprocess
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.deploy.cli import (
    answers,
    deploy,
    free_port,
    plan_with_flag,
    probe_and_plan,
    recap_changed,
)
from tests.lab.fleet import SYSTEMD, Lab, detect_mode
from tests.lab.profiles import get_profile

KEY = "sk-moefleet-canary-user-7c2e41"
HOST = "rtx4090"
PORTS = range(28500, 28600)  # one free one per run (test_deploy_lab: 283xx, front door: 287xx)
UNIT = "moefleet-qwen3-30b-a3b-0"
USER_SYSTEMCTL = "systemctl --user --no-pager"


def _require_user_systemd() -> None:
    if detect_mode() != "namespaces":
        pytest.skip("a user systemd lab host needs root and mount namespaces (unshare)")
    if not Path(SYSTEMD).is_file():
        if os.environ.get("CI"):  # .ci/run installs it
            pytest.fail(f"{SYSTEMD} is missing in CI")
        pytest.skip(f"{SYSTEMD} is missing: apt-get install -y systemd")


@dataclass(frozen=True)
class Fleet:
    lab: Lab
    work: Path
    inventory: Path
    plan_file: Path
    key_file: Path
    home: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def fleet(make_lab_module, llama_bins, tiny_model, tmp_path_factory):
    """One lab host with a user manager, probed, with systemd-user deploy vars and a plan."""
    _require_user_systemd()
    lab = make_lab_module([replace(get_profile(HOST), user_systemd=True)])
    work = tmp_path_factory.mktemp("deploy-user")
    home, port = lab.run(HOST, "echo $HOME").stdout.strip(), free_port(PORTS)
    data = tomllib.loads(lab.inventory_path.read_text())
    data["hosts"][HOST].setdefault("vars", {}).update(
        moefleet_dir=f"{home}/moefleet", models_dir=f"{home}/models", serve_port=port,
        service_backend="systemd-user",
        model_sources={"qwen3-30b-a3b": {"path": str(tiny_model("qwen3moe", "Q8_0"))}},
        llama_runtime={"src": str(llama_bins.server.parent)},
    )  # fmt: skip
    inventory, plan_file, key_file, _ = probe_and_plan(work, data, [HOST], KEY)
    yield Fleet(lab, work, inventory, plan_file, key_file, home, port)
    lab.run(HOST, f"{USER_SYSTEMCTL} stop {UNIT}", timeout=90)


def _deploy(fleet: Fleet, plan_file: Path | None = None, health_timeout: int = 60):
    plan = plan_file or fleet.plan_file
    return deploy(fleet.work, fleet.inventory, plan, fleet.key_file, health_timeout)


def _listeners(port: int) -> set[int]:
    """The pids listening on 127.0.0.1:``port`` (from /proc, as root)."""
    inodes = {
        fields[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (fields := line.split())[1].endswith(f":{port:04X}") and fields[3] == "0A"
    }
    sockets = {f"socket:[{inode}]" for inode in inodes}
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if links & sockets:
            pids.add(int(pid))
    return pids


def _systemctl(lab: Lab, *words: str) -> subprocess.CompletedProcess[str]:
    return lab.run(HOST, f"{USER_SYSTEMCTL} {' '.join(words)}", timeout=60)


def _supervised_by_the_user_manager(fleet: Fleet) -> int:
    """The unit is active and its MainPID is the one llama-server that listens; returns it."""
    lab = fleet.lab
    state = _systemctl(lab, "is-active", UNIT).stdout.strip()
    assert state == "active", _systemctl(lab, "status", UNIT).stdout
    main_pid = int(_systemctl(lab, "show", "-p", "MainPID", "--value", UNIT).stdout)
    assert _listeners(fleet.port) == {main_pid}
    assert Path(f"/proc/{main_pid}/exe").resolve().name == "llama-server"
    return main_pid


def test_deploy_with_a_user_systemd_unit(fleet: Fleet) -> None:
    lab = fleet.lab
    unit_path = f"{fleet.home}/.config/systemd/user/{UNIT}.service"
    # 1. deploy: the unit is installed for the user manager, started, healthy and answering
    first = _deploy(fleet)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert lab.run(HOST, f"test -f {unit_path}").returncode == 0
    assert _systemctl(lab, "show", "-p", "FragmentPath", "--value", UNIT).stdout.strip() == (
        unit_path
    )
    first_pid = _supervised_by_the_user_manager(fleet)
    assert _systemctl(lab, "is-enabled", UNIT).stdout.strip() == "enabled"  # back after reboot
    assert answers(fleet.url, KEY)["usage"]["completion_tokens"] == 4
    # 2. a second run changes nothing (and restarts nothing)
    second = _deploy(fleet)
    assert second.returncode == 0 and recap_changed(second.stdout, HOST) == 0, second.stdout
    assert _supervised_by_the_user_manager(fleet) == first_pid
    # 3. a flag llama-server does not know: the gate fails, the previous unit comes back and
    # systemd restarts the previous server
    broken = _deploy(fleet, plan_with_flag(fleet.plan_file, "--no-such-flag"), 20)
    assert broken.returncode != 0, broken.stdout[-3000:] + broken.stderr[-3000:]
    assert "rolled back" in broken.stdout + broken.stderr
    assert "--no-such-flag" not in lab.run(HOST, f"cat {unit_path}").stdout
    assert "--no-such-flag" not in _systemctl(lab, "cat", UNIT).stdout  # reloaded, not stale
    assert answers(fleet.url, KEY, wait_s=60)["usage"]["completion_tokens"] == 4  # model reloads
    assert _supervised_by_the_user_manager(fleet) != first_pid
    # 4. the key is nowhere: CLI output, the unit as systemd shows it, the process list
    shown = _systemctl(lab, "show", UNIT).stdout + _systemctl(lab, "cat", UNIT).stdout
    assert "ExecStart=" in shown and "--api-key-file" in shown
    processes = lab.run(HOST, "ps -eo args").stdout
    assert "llama-server" in processes
    for text in (first.stdout, first.stderr, broken.stdout, broken.stderr, shown, processes):
        assert KEY not in text


def test_installed_unit_passes_systemd_analyze_verify(fleet: Fleet) -> None:
    deployed = _deploy(fleet)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    unit = f"{fleet.home}/.config/systemd/user/{UNIT}.service"
    verified = fleet.lab.run(HOST, f"systemd-analyze --user verify --man=no {unit}")
    assert (verified.returncode, verified.stderr) == (0, ""), verified.stderr
