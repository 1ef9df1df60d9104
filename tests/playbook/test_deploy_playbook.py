"""playbooks/deploy.toml end to end on a lab host with the process backend: converge, a second
run changes nothing, a broken variant is rolled back and the previous server still answers."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

from moefleet.playbook import RunOptions, load_playbook, run_playbook
from tests.playbook.conftest import on_host

DEPLOY = Path(__file__).resolve().parents[2] / "moefleet" / "playbooks" / "deploy.toml"


def _services(workdir: str, port: int, tmp_path: Path, version: str, flag: str = "") -> list:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"gguf" * 1000)
    runtime = tmp_path / "rt" / "bin"
    runtime.mkdir(parents=True, exist_ok=True)
    (runtime / "server").write_text("#!/bin/sh\necho server 1.0\n")
    (runtime / "server").chmod(0o755)
    run = f"exec python3 -m http.server {port} --bind 127.0.0.1 --directory {workdir}/www {flag}\n"
    return [{
        "name": f"web-{workdir[-6:]}", "backend": "process",
        "command": ["/bin/sh", f"{workdir}/web.run"],
        "files": [
            {"path": f"{workdir}/web.run", "content": run, "mode": "0755", "secret": False},
            {"path": f"{workdir}/www/index.html", "content": version, "secret": False},
            {"path": f"{workdir}/api.key", "content": "sk-deploy-canary", "secret": True},
        ],
        "model": {"src": str(model), "dest": f"{workdir}/m.gguf", "size": model.stat().st_size,
                  "sha256": hashlib.sha256(model.read_bytes()).hexdigest()},
        "runtime": {"src": str(tmp_path / "rt"), "dest": f"{workdir}/rt", "binary": "bin/server"},
        "url": f"http://127.0.0.1:{port}/index.html",
        "api_key_file": f"{workdir}/api.key",
        "check": {"url": f"http://127.0.0.1:{port}/index.html", "method": "GET", "contains": "v"},
    }]  # fmt: skip


def _deploy(inventory, services, check=False):
    host_vars = {"cpu-only": {"services": services, "health_timeout": 3}}
    options = RunOptions(limit="cpu-only", check=check, timeout=30)
    return run_playbook(load_playbook(DEPLOY), inventory, options=options, host_vars=host_vars)


def test_deploy_converges_is_idempotent_and_rolls_back(lab, lab_inventory, workdir, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    planned = _deploy(lab_inventory, _services(workdir, port, tmp_path, "v1"), check=True)
    assert planned.ok and planned.changed > 0
    assert lab.run("cpu-only", f"ls {workdir}").returncode != 0  # check mode: nothing there

    first = _deploy(lab_inventory, _services(workdir, port, tmp_path, "v1"))
    assert first.ok, [(r.task, r.result.message) for r in first.records if r.result.failed]
    fetch = (
        f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/').read().decode())"
    )
    assert on_host(lab, "cpu-only", f'python3 -c "{fetch}"').strip() == "v1"  # fmt: skip
    assert _deploy(lab_inventory, _services(workdir, port, tmp_path, "v1")).changed == 0

    broken = _deploy(lab_inventory, _services(workdir, port, tmp_path, "v2", flag="--bogus"))
    assert not broken.ok
    assert broken.stats["cpu-only"].rescued == 1 and broken.stats["cpu-only"].failed == 1
    assert "rolled back" in broken.find("cpu-only", "rolled back").message
    assert on_host(lab, "cpu-only", f"cat {workdir}/www/index.html") == "v1"
    assert "--bogus" not in on_host(lab, "cpu-only", f"cat {workdir}/web.run")
    healthy = _deploy(lab_inventory, _services(workdir, port, tmp_path, "v1"))
    assert healthy.ok and healthy.changed == 0  # the previous server still answers
    on_host(lab, "cpu-only", f"kill $(cat ~/.moefleet/run/web-{workdir[-6:]}.pid)")
