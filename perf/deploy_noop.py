"""How long a no-op re-deploy takes: moefleet vs ansible-playbook vs pyinfra, same hosts.

Starts N lab hosts (real sshd on loopback, tests/lab) for N = 10 and 50. Each tool deploys the
same thing, in its own directory on every host: a config file from a template, and a service
(a process kept running from a pidfile; the sandbox has no systemd). Each tool converges once
(not timed), then its no-op re-run is timed cold (a fresh process, a fresh SSH connection per
host) --repeat times, and the medians are printed with the ratios. moefleet runs its own
playbook engine through `moefleet playbook`; ansible-core and pyinfra are used when installed
(`pip install ansible-core pyinfra`), with strict host keys like moefleet.

    python perf/deploy_noop.py [--sizes 10,50] [--repeat 3]
"""

# ruff: noqa: E501 - the embedded playbooks and deploy read best unwrapped
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

TEMPLATE = "# deployed by {{ tool }}\nport = 8080\nthreads = 8\n"
START = (
    "kill -0 $(cat {d}/app.pid 2>/dev/null) 2>/dev/null || "
    "(nohup sleep 100000 >/dev/null 2>&1 & echo $! > {d}/app.pid)"
)

MOEFLEET_PLAYBOOK = """
[[plays]]
name = "noop"
hosts = "all"

[[plays.tasks]]
name = "directory"
file = { path = "{{ home }}/noop-moefleet", state = "directory" }

[[plays.tasks]]
name = "config"
template = { src = "app.conf.j2", dest = "{{ home }}/noop-moefleet/app.conf", mode = "0644" }
notify = ["restart app"]

[[plays.tasks]]
name = "service"
service = { name = "noop-app", backend = "process", state = "started", command = ["/bin/sleep", "100000"] }

[[plays.handlers]]
name = "restart app"
service = { name = "noop-app", backend = "process", state = "restarted", command = ["/bin/sleep", "100000"] }
"""

ANSIBLE_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: directory
      ansible.builtin.file: {{path: "{home}/noop-ansible", state: directory}}
    - name: config
      ansible.builtin.template: {{src: "{src}", dest: "{home}/noop-ansible/app.conf", mode: "0644"}}
      notify: restart app
    - name: service
      ansible.builtin.shell: "{start}"
      changed_when: false
  handlers:
    - name: restart app
      ansible.builtin.shell: "kill $(cat {home}/noop-ansible/app.pid) 2>/dev/null; {start}"
"""

PYINFRA_DEPLOY = """
from pyinfra.operations import files, server

files.directory(name="directory", path="{home}/noop-pyinfra")
files.template(name="config", src="{src}", dest="{home}/noop-pyinfra/app.conf", mode="644", tool="pyinfra")
server.shell(name="service", commands=["{start}"])
"""


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                         f"{result.stderr[-3000:]}")  # fmt: skip
    return elapsed


def _ansible_inventory(lab: Lab, path: Path) -> None:
    ssh_args = (f"-o UserKnownHostsFile={lab.known_hosts_path} -o StrictHostKeyChecking=yes "
                "-o IdentitiesOnly=yes")  # fmt: skip
    lines = ["[lab]"]
    lines += [f"{n} ansible_host=127.0.0.1 ansible_port={h.port}" for n, h in lab.hosts.items()]
    lines += ["", "[lab:vars]", f"ansible_user={lab.user}",
              f"ansible_ssh_private_key_file={lab.client_key_path}",
              "ansible_python_interpreter=/usr/bin/python3", f"ansible_ssh_common_args='{ssh_args}'"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def _pyinfra_inventory(lab: Lab, path: Path) -> None:
    hosts = ",\n".join(
        f'    ("{name}", {{"ssh_hostname": "127.0.0.1", "ssh_port": {h.port}, '
        f'"ssh_user": "{lab.user}", "ssh_key": "{lab.client_key_path}", '
        f'"ssh_known_hosts_file": "{lab.known_hosts_path}", '
        '"ssh_strict_host_key_checking": "yes"})'
        for name, h in lab.hosts.items()
    )
    path.write_text(f"lab = [\n{hosts}\n]\n")


def _tools(
    lab: Lab, size: int, work: Path, home: str
) -> dict[str, tuple[list[str], dict[str, str]]]:
    env = {**os.environ, "MOEFLEET_STATE": str(work / "state.db")}
    (work / "app.conf.j2").write_text(TEMPLATE)
    playbook = work / "noop.toml"
    playbook.write_text(MOEFLEET_PLAYBOOK)
    tools = {
        "moefleet": (
            [sys.executable, "-m", "moefleet", "playbook", str(playbook), "-i", str(lab.inventory_path),
             "-f", str(size), "-e", f"home={home}", "-e", "tool=moefleet"],
            env,
        )
    }  # fmt: skip
    if shutil.which("ansible-playbook"):
        inventory, book = work / "ansible.ini", work / "noop.yml"
        _ansible_inventory(lab, inventory)
        start = START.format(d=f"{home}/noop-ansible").replace('"', '\\"')
        book.write_text(ANSIBLE_PLAYBOOK.format(home=home, src=work / "app.conf.j2", start=start))
        ansible_env = {**env, "ANSIBLE_HOST_KEY_CHECKING": "True",
                       "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp")}  # fmt: skip
        tools["ansible"] = (
            [
                "ansible-playbook",
                "-i",
                str(inventory),
                str(book),
                "-f",
                str(size),
                "-e",
                "tool=ansible",
            ],
            ansible_env,
        )
    if shutil.which("pyinfra"):
        inventory, deploy = work / "pyinfra_inventory.py", work / "noop_pyinfra.py"
        _pyinfra_inventory(lab, inventory)
        start = START.format(d=f"{home}/noop-pyinfra").replace('"', '\\"')
        deploy.write_text(PYINFRA_DEPLOY.format(home=home, src=work / "app.conf.j2", start=start))
        tools["pyinfra"] = (
            ["pyinfra", "-y", "--parallel", str(size), str(inventory), str(deploy)],
            env,
        )
    return tools


def measure(size: int, repeat: int, workdir: Path) -> dict[str, float]:
    lab = Lab.start(
        [synthetic_profile(i) for i in range(size)], workdir / f"lab-{size}", broken_hosts=False
    )
    work = workdir / f"work-{size}"
    work.mkdir()
    try:
        home = lab.run(next(iter(lab.hosts)), "echo $HOME").stdout.strip()
        times = {}
        for tool, (argv, env) in _tools(lab, size, work, home).items():
            _timed(argv, env, work)  # converge
            runs = []
            for attempt in range(repeat):
                run_env = dict(env)
                if tool == "ansible":  # cold: a fresh ControlPath dir each run
                    run_env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(work / f"cp-{attempt}")
                runs.append(_timed(argv, run_env, work))
            times[tool] = statistics.median(runs)
        for name in lab.hosts:  # stop the services every tool started
            lab.run(name, "for f in ~/noop-*/app.pid ~/.moefleet/run/*.pid; do kill $(cat $f) "
                    "2>/dev/null; done; true")  # fmt: skip
        return times
    finally:
        lab.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="moefleet-perf-", dir="/tmp") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        results = {int(s): measure(int(s), args.repeat, workdir) for s in args.sizes.split(",")}
    print(f"{'hosts':>6} {'moefleet (s)':>13} {'ansible (s)':>12} {'pyinfra (s)':>12} "
          f"{'vs ansible':>11} {'vs pyinfra':>11}")  # fmt: skip
    for size, times in results.items():
        ours = times["moefleet"]
        ansible, pyinfra = times.get("ansible"), times.get("pyinfra")
        print(f"{size:>6} {ours:>13.2f} {ansible or float('nan'):>12.2f} "
              f"{pyinfra or float('nan'):>12.2f} "
              f"{(ansible / ours if ansible else float('nan')):>10.1f}x "
              f"{(pyinfra / ours if pyinfra else float('nan')):>10.1f}x")  # fmt: skip
    print(
        "no-op re-deploy (template + service), median of cold runs; "
        "target: >= 10x faster than ansible, no slower than pyinfra"
    )


if __name__ == "__main__":
    main()
