"""`moefleet deploy` with ``service_backend = "systemd"`` against a real system manager: a lab
host whose sshd is started by a ``systemd --system`` that is PID 1 of the host's own PID
namespace (tests/lab, ``system_systemd``; logins as root), and a real llama-server on CPU. The
unit lands in /etc/systemd/system (the namespace's own), is enabled and started by the
manager, which supervises the very process that listens (and restarts it when it is killed);
a second run changes nothing; a bad flag is rolled back to the previous unit, restarted by
systemd; the key shows nowhere. The front door's ``systemd`` backend runs on the same host
with the distribution's nginx unit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import tomli_w

from tests.deploy.cli import (
    answers,
    deploy,
    free_port,
    plan_with_flag,
    probe_and_plan,
    recap_changed,
    run_moefleet,
)
from tests.lab.fleet import Lab, detect_mode, system_systemd_problem
from tests.lab.profiles import get_profile

KEY = "sk-moefleet-canary-system-4d91b7"
HOST = "rtx4090"
PORTS = range(28600, 28700)  # one free one per run (systemd-user: 285xx, front door: 287xx)
UNIT = "moefleet-qwen3-30b-a3b-0"
UNIT_PATH = f"/etc/systemd/system/{UNIT}.service"
SYSTEMCTL = "systemctl --no-pager"


def _require_system_systemd() -> None:
    problem = system_systemd_problem()
    if problem:
        if os.environ.get("CI") and detect_mode() == "namespaces":  # .ci/run installs systemd
            pytest.fail(f"CI: {problem}")
        pytest.skip(problem)


@dataclass(frozen=True)
class Fleet:
    lab: Lab
    work: Path
    inventory: Path
    plan_file: Path
    key_file: Path
    port: int
    probe: dict

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def fleet(make_lab_module, llama_bins, tiny_model, tmp_path_factory):
    """One lab host run by a system manager, probed, with systemd deploy vars and a plan."""
    _require_system_systemd()
    lab = make_lab_module([replace(get_profile(HOST), system_systemd=True)])
    work = tmp_path_factory.mktemp("deploy-system")
    port = free_port(PORTS)
    data = tomllib.loads(lab.inventory_path.read_text())
    assert data["hosts"][HOST]["user"] == "root"
    data["hosts"][HOST].setdefault("vars", {}).update(
        serve_port=port, service_backend="systemd",  # moefleet_dir: /var/lib/moefleet
        model_sources={"qwen3-30b-a3b": {"path": str(tiny_model("qwen3moe", "Q8_0"))}},
        llama_runtime={"src": str(llama_bins.server.parent)},
    )  # fmt: skip
    inventory, plan_file, key_file, probed = probe_and_plan(work, data, [HOST], KEY)
    yield Fleet(lab, work, inventory, plan_file, key_file, port, probed)
    lab.run(HOST, f"{SYSTEMCTL} stop {UNIT}", timeout=90)


def _deploy(fleet: Fleet, plan_file: Path | None = None, health_timeout: int = 60):
    plan = plan_file or fleet.plan_file
    return deploy(fleet.work, fleet.inventory, plan, fleet.key_file, health_timeout)


def _listeners(port: int) -> dict[int, int]:
    """The processes listening on 127.0.0.1:``port`` (from /proc, as root): their pid here ->
    their pid in their own PID namespace (NSpid's last field)."""
    inodes = {
        fields[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (fields := line.split())[1].endswith(f":{port:04X}") and fields[3] == "0A"
    }
    sockets = {f"socket:[{inode}]" for inode in inodes}
    pids = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if links & sockets:
            nspid = next(ln for ln in status.splitlines() if ln.startswith("NSpid:"))
            pids[int(pid)] = int(nspid.split()[-1])
    return pids


def _systemctl(lab: Lab, *words: str) -> subprocess.CompletedProcess[str]:
    return lab.run(HOST, f"{SYSTEMCTL} {' '.join(words)}", timeout=60)


def _supervised_by_the_system_manager(fleet: Fleet) -> int:
    """The unit is active and its MainPID is the one llama-server that listens, in the unit's
    cgroup of the host's manager; returns that pid (as the host sees it)."""
    lab = fleet.lab
    state = _systemctl(lab, "is-active", UNIT).stdout.strip()
    assert state == "active", _systemctl(lab, "status", UNIT).stdout
    main_pid = int(_systemctl(lab, "show", "-p", "MainPID", "--value", UNIT).stdout)
    listeners = _listeners(fleet.port)
    assert list(listeners.values()) == [main_pid]  # a pid of the host's namespace, not ours
    (outer,) = listeners
    assert outer != main_pid
    assert Path(f"/proc/{outer}/exe").resolve().name == "llama-server"
    cgroup = Path(f"/proc/{outer}/cgroup").read_text()
    assert f"/system.slice/{UNIT}.service\n" in cgroup
    return main_pid


def _values(document: object, key: str) -> list[object]:
    """Every value of ``key`` anywhere in a JSON document."""
    if isinstance(document, dict):
        found = [document[key]] if key in document else []
        return found + [v for x in document.values() for v in _values(x, key)]
    if isinstance(document, list):
        return [v for x in document for v in _values(x, key)]
    return []


def test_the_host_runs_a_system_manager(fleet: Fleet) -> None:
    lab = fleet.lab
    assert lab.run(HOST, "cat /proc/1/comm; id -un").stdout.split() == ["systemd", "root"]
    assert _systemctl(lab, "is-system-running").stdout.strip() == "running"
    assert _values(fleet.probe, "systemd_is_init") == [True]  # what moefleet's probe sees
    # the host's manager, sshd and sessions: not this machine's units, files or processes
    assert not Path(UNIT_PATH).exists()
    assert "moefleet-lab-sshd.service" in _systemctl(lab, "list-units", "--all").stdout


def test_deploy_with_a_system_unit(fleet: Fleet) -> None:
    lab = fleet.lab
    # 1. deploy: the unit is installed for the system manager, enabled, started, answering
    first = _deploy(fleet)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert lab.run(HOST, f"test -f {UNIT_PATH}").returncode == 0
    assert not Path(UNIT_PATH).exists()  # the host's /etc/systemd/system, not this machine's
    shown = _systemctl(lab, "show", "-p", "FragmentPath", "--value", UNIT).stdout.strip()
    assert shown == UNIT_PATH
    first_pid = _supervised_by_the_system_manager(fleet)
    assert _systemctl(lab, "is-enabled", UNIT).stdout.strip() == "enabled"  # back after reboot
    wanted = lab.run(HOST, f"readlink /etc/systemd/system/multi-user.target.wants/{UNIT}.service")
    assert wanted.stdout.strip() == UNIT_PATH
    assert answers(fleet.url, KEY)["usage"]["completion_tokens"] == 4
    journal = lab.run(HOST, f"journalctl --no-pager -u {UNIT}", timeout=30).stdout
    assert "listening on" in journal  # its output goes to the host's journal
    # 2. a second run changes nothing (and restarts nothing)
    second = _deploy(fleet)
    assert second.returncode == 0 and recap_changed(second.stdout, HOST) == 0, second.stdout
    assert _supervised_by_the_system_manager(fleet) == first_pid
    # 3. a flag llama-server does not know: the gate fails, the previous unit comes back and
    # systemd restarts the previous server
    broken = _deploy(fleet, plan_with_flag(fleet.plan_file, "--no-such-flag"), 20)
    assert broken.returncode != 0, broken.stdout[-3000:] + broken.stderr[-3000:]
    assert "rolled back" in broken.stdout + broken.stderr
    assert "--no-such-flag" not in lab.run(HOST, f"cat {UNIT_PATH}").stdout
    assert "--no-such-flag" not in _systemctl(lab, "cat", UNIT).stdout  # reloaded, not stale
    assert answers(fleet.url, KEY, wait_s=60)["usage"]["completion_tokens"] == 4  # model reloads
    assert _supervised_by_the_system_manager(fleet) != first_pid
    # 4. the key is nowhere: CLI output, the unit as systemd shows it, the process list
    shown = _systemctl(lab, "show", UNIT).stdout + _systemctl(lab, "cat", UNIT).stdout
    assert "ExecStart=" in shown and "--api-key-file" in shown
    processes = lab.run(HOST, "ps -eo args").stdout
    assert "llama-server" in processes
    for text in (first.stdout, first.stderr, broken.stdout, broken.stderr, shown, processes):
        assert KEY not in text


def test_a_killed_server_is_restarted_by_systemd(fleet: Fleet) -> None:
    before = _supervised_by_the_system_manager(fleet)
    restarts = ("show", "-p", "NRestarts", "--value", UNIT)
    counted = int(_systemctl(fleet.lab, *restarts).stdout)
    killed = fleet.lab.run(HOST, f"kill -KILL {before}")
    assert killed.returncode == 0, killed.stderr
    deadline = time.monotonic() + 30  # Restart=on-failure, RestartSec=5
    while int(_systemctl(fleet.lab, *restarts).stdout) == counted:
        assert time.monotonic() < deadline, _systemctl(fleet.lab, "status", UNIT).stdout
        time.sleep(0.5)
    assert answers(fleet.url, KEY, wait_s=60)["usage"]["completion_tokens"] == 4
    assert _supervised_by_the_system_manager(fleet) != before


def test_installed_unit_passes_systemd_analyze_verify(fleet: Fleet) -> None:
    deployed = _deploy(fleet)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    verified = fleet.lab.run(HOST, f"systemd-analyze verify --man=no {UNIT_PATH}", timeout=60)
    assert (verified.returncode, verified.stderr) == (0, ""), verified.stderr


def test_front_door_with_the_distributions_nginx(fleet: Fleet) -> None:
    """The front door's ``systemd`` backend: a conf.d snippet for the distribution's nginx
    (this machine's package, its unit on the host), made live by ``systemctl reload nginx``."""
    if (
        not Path("/usr/sbin/nginx").is_file()
        or not Path("/lib/systemd/system/nginx.service").exists()
    ):
        pytest.skip("nginx not installed (apt-get install nginx)")
    lab = fleet.lab
    # the host has nginx installed and running as Debian leaves it, less its port-80 site
    setup = ("rm -f /etc/nginx/sites-enabled/default && "
             "ln -sf /lib/systemd/system/nginx.service /etc/systemd/system/nginx.service && "
             f"systemctl daemon-reload && {SYSTEMCTL} start nginx")  # fmt: skip
    started = lab.run(HOST, setup, timeout=60)
    assert started.returncode == 0, started.stderr + _systemctl(lab, "status", "nginx").stdout
    door_port = free_port([p for p in PORTS if p != fleet.port])
    data = tomllib.loads(fleet.inventory.read_text())
    data["hosts"][HOST]["vars"]["front_door"] = {"host": HOST, "port": door_port}
    inventory = fleet.work / "inventory-door.toml"
    inventory.write_text(tomli_w.dumps(data))

    def deploy(*extra: str):
        return run_moefleet(fleet.work, "deploy", "-i", str(inventory), "--plan-file",
                            str(fleet.plan_file), "--api-key-file", str(fleet.key_file),
                            "--health-timeout", "60", *extra)  # fmt: skip

    first = deploy()
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert "answers through the front door" in first.stderr
    conf = "/etc/nginx/conf.d/moefleet_qwen3_30b_a3b.conf"  # named after its upstream
    assert lab.run(HOST, f"test -f {conf}").returncode == 0 and not Path(conf).exists()
    assert _systemctl(lab, "is-active", "nginx").stdout.strip() == "active"
    assert answers(f"http://127.0.0.1:{door_port}", KEY)["usage"]["completion_tokens"] == 4
    second = deploy("--json")
    assert second.returncode == 0, second.stderr[-3000:]
    outcome = json.loads(second.stdout)
    assert outcome["hosts"][HOST]["stats"]["changed"] == 0
    assert outcome["front_doors"]["qwen3-30b-a3b"]["backend"] == "systemd"
    assert KEY not in lab.run(HOST, f"cat {conf}").stdout + first.stdout + first.stderr
    # a front door that cannot go live (its new port is taken) is rolled back: the previous
    # conf.d snippet comes back, nginx reloads on it and keeps answering
    taken_port = free_port([p for p in PORTS if p not in (fleet.port, door_port)])
    data["hosts"][HOST]["vars"]["front_door"]["port"] = taken_port
    inventory.write_text(tomli_w.dumps(data))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", taken_port))
        taken.listen()
        broken = deploy()
    assert broken.returncode == 2, broken.stdout[-3000:] + broken.stderr[-3000:]
    assert "front door gate failed: rolled back" in broken.stdout + broken.stderr
    assert f"127.0.0.1:{door_port}" in lab.run(HOST, f"cat {conf}").stdout
    assert _systemctl(lab, "is-active", "nginx").stdout.strip() == "active"
    assert answers(f"http://127.0.0.1:{door_port}", KEY)["usage"]["completion_tokens"] == 4
