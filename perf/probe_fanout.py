"""How probe wall time grows with the fleet, and how it compares with Ansible's fact gathering.

Starts N real lab hosts (sshd on loopback, tests/lab) for N = 1, 10, 50, times the real
`moefleet probe` command on them (cold: a fresh process, no SSH connection reuse), and, when
ansible-core is installed, `ansible all -m setup -f N` on the same hosts with the same key and
the same strict known_hosts, also cold (a fresh ControlPersist directory per run). Prints
the median of --repeat runs, the ratio time(50)/time(1) and moefleet's speed-up over Ansible.
The "ssh true floor" column is the in-process cost of just connecting to every host and
running `true`: on a small machine the lab's own sshds share the CPU with the probe.
Needs root (the lab's namespaces) and openssh-server.

    python perf/probe_fanout.py [--sizes 1,10,50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.lab import Lab, synthetic_profile  # noqa: E402


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"{argv[0]} failed ({result.returncode}):\n{result.stdout[-2000:]}"
            f"\n{result.stderr[-2000:]}"
        )
    return elapsed


def _ssh_floor(lab: Lab) -> float:
    """Wall time to connect to every host and run `true` (same transport, same forks): what
    the SSH handshakes and sshd sessions alone cost on this machine."""
    from moefleet.inventory import load_inventory  # noqa: PLC0415
    from moefleet.transport import ConnectOptions, connect, run_on_hosts  # noqa: PLC0415

    inventory = load_inventory(lab.inventory_path)
    options = ConnectOptions.from_settings(inventory.settings)

    def ssh_true(host):  # type: ignore[no-untyped-def]
        transport = connect(host, options)
        try:
            return transport.run("true", timeout=30)
        finally:
            transport.close()

    started = time.perf_counter()
    run_on_hosts(list(inventory.hosts.values()), ssh_true, forks=len(inventory.hosts))
    return time.perf_counter() - started


def _ansible_inventory(lab: Lab, path: Path) -> None:
    ssh_args = (
        f"-o UserKnownHostsFile={lab.known_hosts_path} -o StrictHostKeyChecking=yes "
        "-o IdentitiesOnly=yes"
    )
    lines = ["[lab]"]
    for name, host in lab.hosts.items():
        lines.append(f"{name} ansible_host=127.0.0.1 ansible_port={host.port}")
    lines += [
        "",
        "[lab:vars]",
        f"ansible_user={lab.user}",
        f"ansible_ssh_private_key_file={lab.client_key_path}",
        "ansible_python_interpreter=/usr/bin/python3",
        f"ansible_ssh_common_args='{ssh_args}'",
    ]
    path.write_text("\n".join(lines) + "\n")


def measure(size: int, repeat: int, workdir: Path) -> dict[str, float]:
    """Median wall times for one fleet size."""
    profiles = [synthetic_profile(i) for i in range(size)]
    lab = Lab.start(profiles, workdir / f"lab-{size}", broken_hosts=False)
    env = {**os.environ, "MOEFLEET_STATE": str(workdir / f"state-{size}.db")}
    try:
        moefleet = [
            sys.executable,
            "-m",
            "moefleet",
            "probe",
            "-i",
            str(lab.inventory_path),
            "-f",
            str(size),
            "--json",
        ]
        times = {
            "moefleet": statistics.median(_timed(moefleet, env) for _ in range(repeat)),
            "ssh_true": statistics.median(_ssh_floor(lab) for _ in range(repeat)),
        }
        if shutil.which("ansible"):
            inventory = workdir / f"ansible-{size}.ini"
            _ansible_inventory(lab, inventory)
            ansible = ["ansible", "all", "-i", str(inventory), "-m", "setup", "-f", str(size)]
            runs = []
            for attempt in range(repeat):  # a fresh ControlPath dir: cold, like moefleet
                ansible_env = {
                    **env,
                    "ANSIBLE_HOST_KEY_CHECKING": "True",
                    "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
                    "ANSIBLE_SSH_CONTROL_PATH_DIR": str(workdir / f"cp-{size}-{attempt}"),
                }
                runs.append(_timed(ansible, ansible_env))
            times["ansible"] = statistics.median(runs)
        return times
    finally:
        lab.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="moefleet-perf-", dir="/tmp") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        results = {size: measure(size, args.repeat, workdir) for size in sizes}
    print(
        f"{'hosts':>6} {'moefleet probe (s)':>19} {'ssh true floor (s)':>19} "
        f"{'ansible -m setup (s)':>21} {'speed-up':>9}"
    )
    for size, times in results.items():
        ansible = times.get("ansible")
        speedup = f"{ansible / times['moefleet']:.1f}x" if ansible else "n/a"
        ansible_text = f"{ansible:.2f}" if ansible else "not installed"
        print(
            f"{size:>6} {times['moefleet']:>19.2f} {times['ssh_true']:>19.2f} "
            f"{ansible_text:>21} {speedup:>9}"
        )
    first, last = min(results), max(results)
    ratio = results[last]["moefleet"] / results[first]["moefleet"]
    print(f"moefleet time({last})/time({first}) = {ratio:.2f}  (target <= 2)")
    if "ansible" in results[last]:
        speedup = results[last]["ansible"] / results[last]["moefleet"]
        print(
            f"at {last} hosts moefleet is {speedup:.1f}x faster than ansible -m setup "
            "(target >= 10x)"
        )


if __name__ == "__main__":
    main()
