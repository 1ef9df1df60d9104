"""Where a model's front door runs and how it reaches the replicas (pure: inventory + plan ->
front doors, their problems and their playbook variables)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from moefleet.deploy.front_door import front_door_var, front_doors
from moefleet.deploy.planfile import parse_plan
from moefleet.deploy.rollout import door_host_vars
from moefleet.deploy.targets import deploy_targets
from moefleet.inventory import load_inventory
from moefleet.plan.demand import Demand
from moefleet.plan.fleet import plan_fleet
from moefleet.plan.report import plan_data
from tests.plan.helpers import catalog, node

KEY = "sk-front-door-unit-canary"
INVENTORY = """
[all.vars]
serve_bind = "0.0.0.0"
moefleet_dir = "/srv/moefleet"
llama_runtime = { path = "/opt/llama/llama-server" }
model_sources.qwen3-8b = { url = "https://mirror.lan/q.gguf", size = 1, sha256 = "SHA" }
front_door = { host = "gw", port = 8000, bind = "0.0.0.0" }
[hosts.gpu1]
address = "10.0.0.1"
[hosts.gpu2]
address = "10.0.0.2"
[hosts.gw]
address = "10.0.0.9"
vars = { service_backend = "systemd" }
""".replace("SHA", "ab" * 32)


def _doors(tmp_path: Path, text: str = INVENTORY, api_key: str | None = KEY):
    (tmp_path / "inventory.toml").write_text(text)
    inventory = load_inventory(tmp_path / "inventory.toml")
    cat = catalog()
    nodes = [node("RTX 4090, 64GB", "gpu1"), node("RTX 4090, 64GB", "gpu2")]
    demand = Demand(replicas=(("qwen3-8b", 2),), fill_spare=False, engines=("llama.cpp",))
    data = plan_data(plan_fleet(nodes, list(cat.models.values()), cat.vllm_formats, demand))
    plan = parse_plan(data, "test")
    targets, problems = deploy_targets(list(plan.deployment), inventory.hosts, {}, api_key)
    assert sorted(t.host for t in targets) == ["gpu1", "gpu2"], problems
    return front_doors(targets, inventory.hosts, {}, api_key)


def test_a_wildcard_replica_is_reached_at_its_inventory_address(tmp_path: Path) -> None:
    (door,), problems = _doors(tmp_path)
    assert problems == {}
    assert (door.host, door.port, door.backend) == ("gw", 8000, "systemd")
    assert sorted(url for _, url in door.replicas) == [
        "http://10.0.0.1:8080",
        "http://10.0.0.2:8080",
    ]
    entry = front_door_var(door, ["http://10.0.0.1:8080"], KEY)
    conf = entry["files"][0]
    assert conf["path"] == "/etc/nginx/conf.d/moefleet_qwen3_8b.conf"
    assert "server 10.0.0.1:8080" in conf["content"] and "10.0.0.2" not in conf["content"]
    assert entry["reload"] == ["systemctl", "reload", "nginx"]
    assert "&& /usr/sbin/nginx -t -q && rm -f -- " in entry["validate"]
    nowhere = front_door_var(replace(door, nginx="/nonexistent/nginx"), ["http://h:1"], KEY)
    missing = subprocess.run(["sh", "-c", nowhere["validate"]], capture_output=True, text=True,
                             check=False)  # fmt: skip
    assert missing.returncode == 127 and "set front_door.nginx" in missing.stderr
    key = entry["files"][-1]
    assert key["secret"] and key["mode"] == "0600" and key["path"] == entry["api_key_file"]
    assert all(KEY not in f["content"] for f in entry["files"] if not f["secret"])


def test_a_loopback_replica_on_another_host_is_refused_with_the_fix(tmp_path: Path) -> None:
    doors, problems = _doors(tmp_path, INVENTORY.replace('serve_bind = "0.0.0.0"\n', ""))
    assert doors == []
    assert "listens on 127.0.0.1 only" in problems["qwen3-8b"]
    assert "serve_bind" in problems["qwen3-8b"]


def test_an_exposed_front_door_needs_the_key(tmp_path: Path) -> None:
    # loopback replicas on loopback hosts (as in the lab) need no key; a door on 0.0.0.0 does
    text = INVENTORY.replace('serve_bind = "0.0.0.0"\n', "").replace('"10.0.0.', '"127.0.0.')
    doors, problems = _doors(tmp_path, text, api_key=None)
    assert doors == [] and "without an API key" in problems["qwen3-8b"]
    (door,), problems = _doors(tmp_path, text.replace(', bind = "0.0.0.0" }', " }"), api_key=None)
    assert door.bind == "127.0.0.1" and not door.exposed and problems == {}


def test_per_model_overrides_and_process_backend(tmp_path: Path) -> None:
    text = INVENTORY.replace(
        'bind = "0.0.0.0" }',
        'bind = "0.0.0.0", models = { "qwen3-8b" = { port = 9100, backend = "process" } } }',
    )
    (door,), _ = _doors(tmp_path, text)
    assert (door.port, door.backend) == (9100, "process")
    entry = front_door_var(door, [url for _, url in door.replicas], KEY)
    state = "/srv/moefleet/front-door/moefleet-front-door-qwen3-8b"
    assert [f["path"] for f in entry["files"][:2]] == [f"{state}/nginx.conf", f"{state}/run.sh"]
    assert f"pid {state}/nginx.pid;" in entry["files"][0]["content"]
    assert entry["service"]["command"] == ["/bin/sh", f"{state}/run.sh"]
    assert "'daemon off;'" in entry["files"][1]["content"]
    assert entry["reload"][:3] == ["/usr/sbin/nginx", "-s", "reload"]


def test_only_healthy_replicas_are_fronted(tmp_path: Path) -> None:
    (door,), _ = _doors(tmp_path)
    problems: dict[str, str] = {}
    host_vars, results = door_host_vars([door], {"gpu2"}, KEY, problems)
    assert results[0].urls == ("http://10.0.0.2:8080",) and problems == {}
    assert "10.0.0.1" not in host_vars["gw"]["front_doors"][0]["files"][0]["content"]
    host_vars, results = door_host_vars([door], set(), KEY, problems)
    assert host_vars == {} and "no replica passed" in problems["front door qwen3-8b"]
