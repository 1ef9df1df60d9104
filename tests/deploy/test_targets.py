"""Plan file -> per-host service specs: sources, backends, ports, API keys, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from moefleet.deploy.planfile import PlanFileError, parse_plan, read_plan
from moefleet.deploy.run import service_var
from moefleet.deploy.targets import DeployError, deploy_targets
from moefleet.inventory import load_inventory
from moefleet.plan.demand import Demand
from moefleet.plan.fleet import plan_fleet
from moefleet.plan.report import plan_data
from moefleet.planning import write_plan
from tests.plan.helpers import catalog, node

INVENTORY = """
[hosts.gpu1]
address = "10.0.0.1"
user = "ops"
[hosts.gpu1.vars]
moefleet_dir = "/srv/moefleet"
models_dir = "/srv/models"
serve_port = 9000
llama_runtime = { path = "/opt/llama/llama-server" }
[hosts.gpu1.vars.model_sources."qwen3-8b"]
url = "https://mirror.lan/qwen3-8b/Qwen3-8B-Q8_0.gguf"
sha256 = "abababababababababababababababababababababababababababababababab"
size = 123
"""


def _plan(tmp_path: Path, want: str = "qwen3-8b") -> Path:
    cat = catalog()
    nodes = [node("2x RTX 4090, 64GB", "gpu1")]
    demand = Demand(replicas=((want, 2),), fill_spare=False, engines=("llama.cpp",))
    data = plan_data(plan_fleet(nodes, list(cat.models.values()), cat.vllm_formats, demand))
    path = tmp_path / "plan.toml"
    write_plan(path, data)
    return path


def _inventory(tmp_path: Path, text: str = INVENTORY):
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return load_inventory(path)


def test_plan_file_to_two_replicas_on_their_own_gpus_and_ports(tmp_path: Path) -> None:
    plan = read_plan(_plan(tmp_path))
    inventory = _inventory(tmp_path)
    targets, problems = deploy_targets(list(plan.deployment), inventory.hosts, {}, None)
    assert problems == {}
    assert [t.service.port for t in targets] == [9000, 9001]
    assert [t.service.gpus for t in targets] == [(0,), (1,)]
    first = targets[0].service
    assert first.backend == "process" and first.binary == "/opt/llama/llama-server"
    assert first.model_path == "/srv/models/qwen3-8b/Qwen3-8B-Q8_0.gguf"
    args = first.args
    assert args[args.index("-m") + 1] == first.model_path
    assert args[args.index("--port") + 1] == "9000" and "--metrics" in args
    assert "--api-key-file" not in args and not first.exposed
    assert targets[0].model.sha256 == "ab" * 32 and targets[0].model.size == 123


def test_exposed_bind_needs_an_api_key(tmp_path: Path) -> None:
    plan = read_plan(_plan(tmp_path))
    inventory = _inventory(
        tmp_path, INVENTORY.replace("serve_port = 9000", 'serve_bind = "0.0.0.0"')
    )
    _, problems = deploy_targets(list(plan.deployment), inventory.hosts, {}, None)
    assert "without an API key" in problems["gpu1"]
    targets, problems = deploy_targets(list(plan.deployment), inventory.hosts, {}, "canary-key")
    assert problems == {}
    args = targets[0].service.args
    assert args[args.index("--api-key-file") + 1] == "/srv/moefleet/secrets/moefleet-qwen3-8b-0.key"
    assert all("canary-key" not in arg for arg in args)


def test_missing_model_source_is_a_clear_problem(tmp_path: Path) -> None:
    plan = read_plan(_plan(tmp_path, want="qwen3-14b"))
    _, problems = deploy_targets(list(plan.deployment), _inventory(tmp_path).hosts, {}, None)
    assert "no source for qwen3-14b" in problems["gpu1"]


def test_injection_in_inventory_values_is_refused(tmp_path: Path) -> None:
    plan = read_plan(_plan(tmp_path))
    text = INVENTORY.replace('"/srv/models"', '"/srv/models\\nExecStartPre=/bin/rm -rf /"')
    _, problems = deploy_targets(list(plan.deployment), _inventory(tmp_path, text).hosts, {}, None)
    assert "control character" in problems["gpu1"]


def test_bad_plan_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(
        '[plan]\nformat_version = 1\nobjective = "balanced"\ncontext = "big"\nconcurrency = 1\n'
    )
    with pytest.raises(PlanFileError) as error:
        read_plan(path)
    assert str(path) in error.value.message and "plan.context" in error.value.message
    with pytest.raises(PlanFileError, match="not valid TOML"):
        path.write_text("[plan")
        read_plan(path)
    assert (
        parse_plan(
            {"plan": {"format_version": 1, "objective": "x", "context": 1, "concurrency": 1}}, "x"
        ).deployment
        == ()
    )


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    plan = read_plan(_plan(tmp_path))
    text = INVENTORY.replace("serve_port = 9000", 'service_backend = "upstart"')
    _, problems = deploy_targets(list(plan.deployment), _inventory(tmp_path, text).hosts, {}, None)
    assert "service_backend" in problems["gpu1"]
    assert DeployError.__doc__


VLLM_INVENTORY = """
[hosts.gpu2]
address = "10.0.0.2"
[hosts.gpu2.vars]
moefleet_dir = "/srv/moefleet"
service_backend = "systemd"
serve_bind = "0.0.0.0"
vllm_runtime = { path = "/opt/vllm/bin/vllm" }
model_sources = { "qwen3-8b" = { hf_repo = "Qwen/Qwen3-8B-FP8" } }
"""


def test_vllm_deployment_renders_a_unit_without_fetching(tmp_path: Path) -> None:

    cat = catalog()
    nodes = [node("H100 SXM, 256GB", "gpu2")]
    demand = Demand(replicas=(("qwen3-8b", 1),), fill_spare=False, engines=("vllm",))
    data = plan_data(plan_fleet(nodes, list(cat.models.values()), cat.vllm_formats, demand))
    plan = parse_plan(data, "test")
    inventory = _inventory(tmp_path, VLLM_INVENTORY)
    targets, problems = deploy_targets(list(plan.deployment), inventory.hosts, {}, "canary-key")
    assert problems == {}
    (target,) = targets
    spec = target.service
    assert spec.engine == "vllm" and spec.model_path == "Qwen/Qwen3-8B-FP8"
    assert "--served-model-name" in spec.args and "--api-key" not in spec.args
    entry = service_var(target, "canary-key")
    assert "model" not in entry  # vLLM loads the repo itself
    unit = next(f for f in entry["files"] if f["path"].endswith(".service"))
    assert "vllm" in unit["content"] and "serve" in unit["content"]
    assert all("canary-key" not in f["content"] for f in entry["files"] if not f["secret"])
    key = next(f for f in entry["files"] if f["secret"])
    assert key["mode"] == "0600" and key["path"] == spec.api_key_file


SHA = "d4e5f60000000000000000000000000000000000000000000000000000000000"
HF_SOURCE = """[hosts.gpu1.vars.model_sources."qwen3-8b"]
hf_repo = "Qwen/Qwen3-8B-GGUF"
hf_file = "Qwen3-8B-Q8_0.gguf"
revision = "v1"
size = 8709519360
sha256 = "d4e5f60000000000000000000000000000000000000000000000000000000000"
"""


def test_a_hugging_face_gguf_is_fetched_on_the_host(tmp_path: Path) -> None:
    plan = read_plan(_plan(tmp_path))
    text = INVENTORY.split('[hosts.gpu1.vars.model_sources."qwen3-8b"]', maxsplit=1)[0] + HF_SOURCE
    targets, problems = deploy_targets(
        list(plan.deployment), _inventory(tmp_path, text).hosts, {}, None
    )
    assert problems == {}
    assert targets[0].service.model_path == "/srv/models/qwen3-8b/Qwen3-8B-Q8_0.gguf"
    model = service_var(targets[0], None)["model"]
    assert model == {
        "dest": "/srv/models/qwen3-8b/Qwen3-8B-Q8_0.gguf", "sha256": SHA, "size": 8709519360,
        "hf_repo": "Qwen/Qwen3-8B-GGUF", "hf_file": "Qwen3-8B-Q8_0.gguf", "revision": "v1",
    }  # fmt: skip
    # the packaged playbook turns it into fetch_model arguments it accepts
    from moefleet.playbook.tasks.fetch_model import FetchModelArgs  # noqa: PLC0415

    args = FetchModelArgs(**model)
    assert args.download_url() == (
        "https://huggingface.co/Qwen/Qwen3-8B-GGUF/resolve/v1/Qwen3-8B-Q8_0.gguf"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('hf_file = "x.gguf"\nsize = 1\n', "hf_file without hf_repo"),
        ('hf_repo = "Qwen/Qwen3-8B-GGUF"\nhf_file = "x.gguf"\nsha256 = "ab"\n', "no size"),
        ('url = "https://mirror.lan/x.gguf"\nsize = 1\n', "no sha256"),
        ('url = "https://mirror.lan/x.gguf"\nsize = 1\nsha256 = "ab"\n', "64 hex digits"),
        ('hf_repo = "Qwen/Qwen3-8B-GGUF"\n', "no source"),  # llama.cpp needs one file
    ],
)
def test_incomplete_model_sources_are_refused(tmp_path: Path, source: str, expected: str) -> None:
    plan = read_plan(_plan(tmp_path))
    head = INVENTORY.split('[hosts.gpu1.vars.model_sources."qwen3-8b"]', maxsplit=1)[0]
    text = head + '[hosts.gpu1.vars.model_sources."qwen3-8b"]\n' + source
    _, problems = deploy_targets(list(plan.deployment), _inventory(tmp_path, text).hosts, {}, None)
    assert expected in problems["gpu1"]
