"""The nginx front door deployed by `moefleet deploy` on the real-SSH lab: two hosts each run a
real llama-server replica (CPU, tiny MoE GGUF) and the first also runs the front door (the
process backend: an nginx of its own, as the lab has no root systemd). Check mode changes
nothing; the deploy spreads requests over both replicas, the replicas refuse a request without
the key, a second run changes nothing, a dead replica is routed around, and a front door that
cannot go live (its port is taken) is rolled back to the configuration that worked."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import httpx
import pytest
import tomli_w

from moefleet.state import StateStore
from tests.deploy.cli import run_moefleet

KEY = "sk-moefleet-front-door-canary-7c2e"
HOSTS = ("rtx4090", "rtx3090-riser")
BASE_PORT = 28700  # replicas at 28700 and 28710, the front door at 28750
DOOR_PORT = BASE_PORT + 50
DOOR = "moefleet-front-door-qwen3-30b-a3b"
BODY = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}

pytestmark = pytest.mark.skipif(
    shutil.which("nginx", path="/usr/sbin:/usr/bin") is None,
    reason="nginx not installed (apt-get install nginx)",
)


@pytest.fixture(scope="module")
def fleet(make_lab_module, llama_bins, tiny_model, tmp_path_factory):
    """Two lab hosts with deploy vars, a front door on the first (set for `all`), a plan."""
    lab = make_lab_module(list(HOSTS))
    work = tmp_path_factory.mktemp("front-door")
    home = lab.run(HOSTS[0], "echo $HOME").stdout.strip()
    data = tomllib.loads(lab.inventory_path.read_text())
    model = str(tiny_model("qwen3moe", "Q8_0"))
    data.setdefault("all", {}).setdefault("vars", {})["front_door"] = {
        "host": HOSTS[0], "port": DOOR_PORT, "bind": "0.0.0.0",
    }  # fmt: skip
    for index, host in enumerate(HOSTS):
        data["hosts"][host].setdefault("vars", {}).update(
            moefleet_dir=f"{home}/moefleet", models_dir=f"{home}/models",
            serve_port=BASE_PORT + 10 * index, service_backend="process",
            model_sources={"qwen3-30b-a3b": {"path": model}},
            llama_runtime={"src": str(llama_bins.server.parent)},
        )  # fmt: skip
    inventory = work / "inventory.toml"
    inventory.write_text(tomli_w.dumps(data))
    probe = run_moefleet(work, "probe", "-i", str(inventory), "--json", "--timeout", "8")
    assert probe.returncode == 0, probe.stderr[-2000:]
    plan_file = work / "plan.toml"
    made = run_moefleet(work, "plan", "-i", str(inventory), "--model", "qwen3-30b-a3b",
                     "--engine", "llama.cpp", "-o", str(plan_file), "--json")  # fmt: skip
    assert {d["hosts"][0] for d in json.loads(made.stdout)["deployment"]} == set(HOSTS)
    key_file = work / "api.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    yield lab, work, inventory, plan_file, key_file, home
    for host in HOSTS:  # our servers and our nginx only: each pidfile's process group
        lab.run(host, f"for p in ~/.moefleet/run/*.pid {home}/moefleet/front-door/*/run.pid; "
                      'do kill -TERM -- "-$(cat $p)" 2>/dev/null; done; true')  # fmt: skip


def _deploy(fleet, *extra: str, inventory: Path | None = None):
    _, work, default_inventory, plan_file, key_file, _ = fleet
    return run_moefleet(
        work, "deploy", "-i", str(inventory or default_inventory), "--plan-file", str(plan_file),
        "--api-key-file", str(key_file), "--health-timeout", "60", *extra,
    )  # fmt: skip


def _predicted(port: int) -> float:
    """llama-server's own counter of generated tokens (``--metrics``)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10,
                     headers={"Authorization": f"Bearer {KEY}"}).text  # fmt: skip
    match = re.search(r"^llamacpp:tokens_predicted_total (\S+)$", text, re.M)
    assert match, text[:500]
    return float(match.group(1))


def _through_door(key: str | None = KEY, port: int = DOOR_PORT) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=BODY,
                      headers=headers, timeout=60)  # fmt: skip


def _files(lab, host: str, home: str) -> str:
    return lab.run(host, f"find {home} -newer {home}/.profile 2>/dev/null | sort").stdout


def test_front_door_end_to_end(fleet) -> None:
    lab, work, inventory, _, _, home = fleet
    state_dir = f"{home}/moefleet/front-door/{DOOR}"
    # 1. check mode: the front door's config shows as a diff; nothing changes on the hosts
    before = {host: _files(lab, host, home) for host in HOSTS}
    planned = _deploy(fleet, "--plan", "--diff")
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert f"{state_dir}/nginx.conf" in planned.stderr
    assert "server 127.0.0.1:28700" in planned.stderr and "server 127.0.0.1:28710" in planned.stderr
    for host in HOSTS:
        assert lab.run(host, f"test -e {home}/moefleet").returncode != 0
        assert _files(lab, host, home) == before[host]
    # 2. deploy: servers, then the front door over both; requests reach both replicas
    first = _deploy(fleet)
    assert first.returncode == 0, first.stderr[-4000:] + first.stdout[-2000:]
    assert "answers through the front door" in first.stderr
    counts = [_predicted(BASE_PORT), _predicted(BASE_PORT + 10)]
    for _ in range(6):
        answer = _through_door()
        assert answer.status_code == 200, answer.text
        assert answer.json()["usage"]["completion_tokens"] == 4
    after = [_predicted(BASE_PORT), _predicted(BASE_PORT + 10)]
    assert after[0] > counts[0] and after[1] > counts[1], (counts, after)
    assert sum(after) - sum(counts) == 6 * 4
    assert _through_door(key=None).status_code == 401  # the replicas check the key
    assert _through_door(key="sk-wrong").status_code == 401
    # nginx validated it and runs it as our supervised process
    test = lab.run(HOSTS[0], f"/usr/sbin/nginx -t -q -p {state_dir} -c {state_dir}/nginx.conf "
                             f"-e {state_dir}/logs/error.log")  # fmt: skip
    assert test.returncode == 0, test.stderr
    assert lab.run(HOSTS[1], f"test -e {state_dir}").returncode != 0  # only on the gateway
    # 3. a second run changes nothing, and says so per host
    second = _deploy(fleet, "--json")
    assert second.returncode == 0, second.stderr[-3000:]
    outcome = json.loads(second.stdout)
    changed = {host: outcome["hosts"][host]["stats"]["changed"] for host in HOSTS}
    assert changed == {host: 0 for host in HOSTS}
    door = outcome["front_doors"]["qwen3-30b-a3b"]
    assert door["host"] == HOSTS[0] and door["backend"] == "process"
    assert sorted(door["replicas"]) == ["http://127.0.0.1:28700", "http://127.0.0.1:28710"]
    # 4. it is remembered next to the deployments (so bench can target it)
    with StateStore(work / "state.db") as state:
        doors = [d for d in state.deployments() if d["engine"] == "nginx"]
    assert [(d["host"], d["url"]) for d in doors] == [(HOSTS[0], f"http://127.0.0.1:{DOOR_PORT}")]
    # 5. the key never shows: outputs, nginx config, process list
    for result in (planned, first, second):
        assert KEY not in result.stdout + result.stderr
    conf = lab.run(HOSTS[0], f"cat {state_dir}/nginx.conf").stdout
    assert "upstream moefleet_qwen3_30b_a3b" in conf and KEY not in conf
    assert KEY not in lab.run(HOSTS[0], "ps -eo args").stdout
    # 6. a dead replica: nginx routes around it (connect error -> next upstream)
    lab.run(HOSTS[1], "kill $(cat ~/.moefleet/run/moefleet-qwen3-30b-a3b-0.pid)")
    for _ in range(4):
        assert _through_door().status_code == 200
    # 7. a front door that cannot go live (its new port is taken: the other replica's) is
    #    rolled back; the previous one keeps answering (and the replica comes back first)
    data = tomllib.loads(inventory.read_text())
    data["all"]["vars"]["front_door"]["port"] = BASE_PORT + 10
    taken = work / "inventory-taken.toml"
    taken.write_text(tomli_w.dumps(data))
    broken = _deploy(fleet, inventory=taken)
    assert broken.returncode == 2
    assert "front door gate failed: rolled back" in broken.stdout + broken.stderr
    assert f"listen 0.0.0.0:{DOOR_PORT};" in lab.run(HOSTS[0], f"cat {state_dir}/nginx.conf").stdout
    assert _through_door().status_code == 200
