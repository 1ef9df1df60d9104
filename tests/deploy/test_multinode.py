"""Multi-node vLLM over Ray: the cluster of a planned 2-host deployment (head on the first host,
worker on the second, the vLLM server on the head after its head unit), the order they come up
in, and `moefleet deploy --plan` against the lab showing exactly that while changing nothing
(vLLM and Ray cannot run here: no GPU, no Ray; the lab host gets a stand-in `vllm` that only
answers --version, like the lab's own stand-in llama-server), with the server's front door in
the distribution's nginx (systemd backend) as it would be on a root host."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import tomli_w

from moefleet.deploy.multinode import ray_cluster, ray_host_vars, rollout_order
from moefleet.deploy.planfile import read_plan
from moefleet.deploy.run import deploy_playbook_path, service_var
from moefleet.deploy.targets import DeployError, deploy_targets
from moefleet.inventory import load_inventory
from moefleet.plan.demand import Demand
from moefleet.plan.fleet import plan_fleet
from moefleet.plan.report import plan_data
from moefleet.planning import write_plan
from moefleet.playbook import load_playbook
from tests.deploy.cli import run_moefleet
from tests.plan.helpers import catalog, node

KEY = "sk-moefleet-ray-canary-41f0"
SERVER = "moefleet-deepseek-v3-0"


def _plan(path: Path, hosts: tuple[str, str]) -> Path:
    """The planner's own 2-node plan: FP8 DeepSeek-V3 over 2x 8 H100, pipeline parallel 2."""
    cat = catalog()
    fleet = [node("8x H100 SXM, 1TB", hosts[0]), node("8x H100 SXM, 1TB", hosts[1])]
    demand = Demand(replicas=(("deepseek-v3", 1),), engines=("vllm",), fill_spare=False)
    result = plan_fleet(fleet, list(cat.models.values()), cat.vllm_formats, demand)
    write_plan(path, plan_data(result))
    return path


INVENTORY = """
[all.vars]
service_backend = "systemd"
serve_bind = "0.0.0.0"
vllm_runtime = { path = "/opt/vllm/bin/vllm" }
model_sources = { "deepseek-v3" = { hf_repo = "deepseek-ai/DeepSeek-V3" } }
[hosts.a]
address = "10.0.0.1"
[hosts.b]
address = "10.0.0.2"
vars = { ray_path = "/srv/venv/bin/ray" }
"""


def _cluster(tmp_path: Path, text: str = INVENTORY):
    (tmp_path / "inventory.toml").write_text(text)
    inventory = load_inventory(tmp_path / "inventory.toml")
    plan = read_plan(_plan(tmp_path / "plan.toml", ("a", "b")))
    (deployment,) = plan.deployment
    assert deployment.hosts == ("a", "b") and deployment.pipeline_parallel == 2
    targets, problems = deploy_targets(list(plan.deployment), inventory.hosts, {}, KEY)
    assert problems == {}
    (target,) = targets
    return ray_cluster(target, inventory.hosts, {}), inventory


def test_head_first_then_workers_then_the_server(tmp_path: Path) -> None:
    cluster, _ = _cluster(tmp_path)
    assert rollout_order(cluster) == [
        ("a", f"{SERVER}-ray-head"),
        ("b", f"{SERVER}-ray-worker"),
        ("a", SERVER),
    ]
    assert cluster.address == "10.0.0.1:6379"
    head_unit = cluster.head.files[0].content
    assert "ExecStart=" in head_unit and '"--head" "--port" "6379"' in head_unit
    assert '"/opt/vllm/bin/ray"' in head_unit  # beside the vllm executable
    worker_unit = cluster.workers[0].files[0].content
    assert '"/srv/venv/bin/ray" "start" "--address" "10.0.0.1:6379"' in worker_unit
    assert '"--node-ip-address" "10.0.0.2"' in worker_unit
    assert (cluster.head.wait_host, cluster.head.wait_port) == ("10.0.0.1", 6379)
    assert (cluster.workers[0].wait_host, cluster.workers[0].wait_port) == ("10.0.0.2", 6380)
    # the server on the head: After= its head unit, finds the cluster through RAY_ADDRESS
    assert cluster.server.host == "a" and cluster.server.service.env["RAY_ADDRESS"] == (
        "10.0.0.1:6379"
    )
    entry = service_var(cluster.server, KEY, after=(cluster.unit,))
    unit = next(f for f in entry["files"] if f["path"].endswith(".service"))["content"]
    assert re.search(rf"^(After|Requires|Wants)=.*{re.escape(cluster.unit)}", unit, re.M)
    assert '"--pipeline-parallel-size" "2"' in unit
    # the Ray playbook: the heads' play (waiting for their port) before the workers' play
    plays = load_playbook(deploy_playbook_path("ray.toml")).plays
    assert [p.name for p in plays] == ["ray head", "ray workers"]
    assert plays[0].tasks[-1].wait_for is not None
    by_host = ray_host_vars([cluster])
    assert [n["role"] for n in by_host["a"]["ray_nodes"]] == ["head"]
    assert [n["role"] for n in by_host["b"]["ray_nodes"]] == ["worker"]


def test_a_worker_without_ray_is_a_clear_problem(tmp_path: Path) -> None:
    text = INVENTORY.replace('vars = { ray_path = "/srv/venv/bin/ray" }', "").replace(
        'vllm_runtime = { path = "/opt/vllm/bin/vllm" }\n', ""
    )
    head_vars = '[hosts.a]\nvars = { vllm_runtime = { path = "/v/vllm" } }\n'
    text = text.replace("[hosts.a]\n", head_vars)
    with pytest.raises(DeployError, match="no ray executable"):
        _cluster(tmp_path, text)


# --- the lab: `moefleet deploy --plan` of a 2-host vLLM deployment ---------------------------

HOSTS = ("rtx4090", "rtx3090-riser")


def _blocks(output: str) -> list[tuple[str, str, str]]:
    """(host, task line, diff) for every task result line and the diff printed under it."""
    blocks: list[tuple[str, str, str]] = []
    for line in output.splitlines():
        found = re.match(r"^(?:changed|ok|skipping|fatal)\S*: \[([^\]]+)\] (.*)$", line)
        if found:
            blocks.append((found.group(1), found.group(2), ""))
        elif blocks and not line.startswith("PLAY"):
            host, task, diff = blocks[-1]
            blocks[-1] = (host, task, diff + line + "\n")
    return blocks


@pytest.fixture(scope="module")
def ray_lab(make_lab_module, tmp_path_factory):
    lab = make_lab_module(list(HOSTS))
    work = tmp_path_factory.mktemp("ray")
    home = lab.run(HOSTS[0], "echo $HOME").stdout.strip()
    # the stand-in vllm (only --version) for the runtime task on the head
    lab.run(HOSTS[0], "mkdir -p ~/venv/bin && printf '#!/bin/sh\\necho 0.33.0\\n' > "
                      "~/venv/bin/vllm && chmod +x ~/venv/bin/vllm")  # fmt: skip
    data = tomllib.loads(lab.inventory_path.read_text())
    for host in HOSTS:
        data["hosts"][host].setdefault("vars", {}).update(
            moefleet_dir=f"{home}/moefleet", service_backend="systemd", serve_bind="0.0.0.0",
            vllm_runtime={"path": f"{home}/venv/bin/vllm"}, serve_port=28790,
            model_sources={"deepseek-v3": {"hf_repo": "deepseek-ai/DeepSeek-V3"}},
            front_door={"host": HOSTS[0], "port": 28795, "bind": "0.0.0.0"},
        )  # fmt: skip
    inventory = work / "inventory.toml"
    inventory.write_text(tomli_w.dumps(data))
    key_file = work / "api.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    yield lab, work, inventory, _plan(work / "plan.toml", HOSTS), key_file, home


def test_deploy_plan_shows_the_ray_cluster_and_changes_nothing(ray_lab) -> None:
    lab, work, inventory, plan_file, key_file, home = ray_lab
    listing = "find ~ /etc/systemd/system /etc/nginx -newer ~/venv/bin/vllm 2>/dev/null | sort"
    before = {host: lab.run(host, listing).stdout for host in HOSTS}
    planned = run_moefleet(work, "deploy", "-i", str(inventory), "--plan-file", str(plan_file),
                        "--api-key-file", str(key_file), "--plan", "--diff")  # fmt: skip
    assert planned.returncode == 0, planned.stderr[-3000:] + planned.stdout[-2000:]
    output = planned.stderr
    plays = re.findall(r"^PLAY \[([^\]]+)\]", output, re.M)
    assert plays == ["ray head", "ray workers", "converge", "health gate", "front door"]
    blocks = _blocks(output)
    diffs = {host: "".join(d for h, _, d in blocks if h == host) for host in HOSTS}
    head, worker = f"{SERVER}-ray-head", f"{SERVER}-ray-worker"
    # host A: the Ray head unit, then the vLLM server that needs it (pipeline parallel 2)
    assert f"/etc/systemd/system/{head}.service" in diffs[HOSTS[0]]
    assert '"start" "--head" "--port" "6379"' in diffs[HOSTS[0]]
    assert f"/etc/systemd/system/{SERVER}.service" in diffs[HOSTS[0]]
    server_unit = diffs[HOSTS[0]].split(f"{SERVER}.service (after)", 1)[1]
    assert re.search(rf"^\+(After|Requires|Wants)=.*{head}\.service", server_unit, re.M)
    assert '"--pipeline-parallel-size" "2"' in server_unit
    assert '"--distributed-executor-backend" "ray"' in server_unit
    assert "+RAY_ADDRESS=127.0.0.1:6379" in diffs[HOSTS[0]]
    # host B: only the worker, joining the head's address; no vLLM server there
    assert f"/etc/systemd/system/{worker}.service" in diffs[HOSTS[1]]
    assert '"start" "--address" "127.0.0.1:6379"' in diffs[HOSTS[1]]
    assert f"{SERVER}.service" not in diffs[HOSTS[1]] and head not in diffs[HOSTS[1]]
    acted_b = [task for host, task, _ in blocks if host == HOSTS[1] and " => " in task]
    assert acted_b and all(task.startswith("ray workers") for task in acted_b), acted_b
    # the order: head started before the worker, the worker before the server on the head
    order = [f"{h} {t.split(' =>')[0]}" for h, t, _ in blocks]
    assert order.index(f"{HOSTS[0]} ray head started") < order.index(
        f"{HOSTS[1]} ray workers started"
    ) < order.index(f"{HOSTS[0]} services started")  # fmt: skip
    # the server's front door: the distribution's nginx on the head (root + systemd)
    assert "+++ /etc/nginx/conf.d/moefleet_deepseek_v3.conf (after)" in diffs[HOSTS[0]]
    assert "+    server 127.0.0.1:28790 max_fails=2" in diffs[HOSTS[0]]
    assert "+    listen 0.0.0.0:28795;" in diffs[HOSTS[0]]
    # nothing changed on the hosts, and the key never showed
    assert {host: lab.run(host, listing).stdout for host in HOSTS} == before
    assert lab.run(HOSTS[0], f"test -e {home}/moefleet").returncode != 0
    assert KEY not in planned.stdout + planned.stderr
    as_json = run_moefleet(work, "deploy", "-i", str(inventory), "--plan-file", str(plan_file),
                        "--api-key-file", str(key_file), "--plan", "--json")  # fmt: skip
    (cluster,) = json.loads(as_json.stdout)["ray_clusters"]
    expected = [f"{HOSTS[0]} {head}", f"{HOSTS[1]} {worker}", f"{HOSTS[0]} {SERVER}"]
    assert cluster["order"] == expected and cluster["address"] == "127.0.0.1:6379"
