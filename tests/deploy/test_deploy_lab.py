"""`moefleet deploy` end to end on the real-SSH lab with a real llama-server on CPU serving a
tiny MoE GGUF: check mode changes nothing, a deploy brings every reachable host to a healthy
server that answers, a second run changes nothing, a broken variant is rolled back while the
previous server keeps answering, an interrupted deploy converges, the unreachable host is
reported, and the API key never shows anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
import tomli_w
from textual.widgets import DataTable, Log

from moefleet.inventory import load_inventory
from moefleet.state import StateStore
from moefleet.tui.actions import DeployRequest
from moefleet.tui.app import MoefleetApp
from moefleet.tui.screens.benchmarks import BenchmarksScreen
from moefleet.tui.screens.confirm import ConfirmScreen
from moefleet.tui.screens.rollout import RolloutScreen
from moefleet.tui.source import StateSource
from tests.deploy.cli import recap_changed, run_moefleet
from tests.llama.corrupt import corrupt_expert
from tests.tui.pilot import settle

KEY = "sk-moefleet-canary-5b1d9e"
HOSTS = ("rtx4090", "rtx3090-riser")
BASE_PORT = 28300


@pytest.fixture(scope="module")
def fleet(make_lab_module, llama_bins, tiny_model, tmp_path_factory):
    """A lab (two GPU profiles + an unreachable host), probed, with deploy vars and a plan."""
    lab = make_lab_module(list(HOSTS), broken_hosts=True)
    work = tmp_path_factory.mktemp("deploy")
    home = lab.run(HOSTS[0], "echo $HOME").stdout.strip()
    data = tomllib.loads(lab.inventory_path.read_text())
    model = str(tiny_model("qwen3moe", "Q8_0"))
    for index, host in enumerate((*HOSTS, "unreachable")):
        variables = data["hosts"][host].setdefault("vars", {})
        variables.update(
            moefleet_dir=f"{home}/moefleet", models_dir=f"{home}/models",
            serve_port=BASE_PORT + 10 * index, service_backend="process",
            model_sources={"qwen3-30b-a3b": {"path": model}},
            llama_runtime={"src": str(llama_bins.server.parent)},
        )  # fmt: skip
    inventory = work / "inventory.toml"
    inventory.write_text(tomli_w.dumps(data))
    probe = run_moefleet(work, "probe", "-i", str(inventory), "--json", "--timeout", "8")
    assert probe.returncode == 2  # the broken hosts
    plan_file = work / "plan.toml"
    made = run_moefleet(work, "plan", "-i", str(inventory), "--model", "qwen3-30b-a3b",
                     "--engine", "llama.cpp", "-o", str(plan_file), "--json")  # fmt: skip
    assert {d["hosts"][0] for d in json.loads(made.stdout)["deployment"]} == set(HOSTS)
    # add a deployment for the unreachable host: deploy must report it and go on
    plan = tomllib.loads(plan_file.read_text())
    ghost = dict(plan["deployment"][0], hosts=["unreachable"])
    plan["deployment"].append(ghost)
    plan_file.write_text(tomli_w.dumps(plan))
    key_file = work / "api.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    yield lab, work, inventory, plan_file, key_file, home
    for host in HOSTS:
        lab.run(host, "for p in ~/.moefleet/run/*.pid; do kill $(cat $p) 2>/dev/null; done; true")


def _deploy(fleet, *extra: str, plan_file: Path | None = None, timeout: float = 300):
    _, work, inventory, default_plan, key_file, _ = fleet
    return run_moefleet(
        work, "deploy", "-i", str(inventory), "--plan-file", str(plan_file or default_plan),
        "--api-key-file", str(key_file), "--health-timeout", "60", *extra, timeout=timeout,
    )  # fmt: skip


def _answers(port: int) -> dict:
    headers = {"Authorization": f"Bearer {KEY}"}
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    anonymous = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
    assert anonymous.status_code == 401
    answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60)
    assert answer.status_code == 200
    return answer.json()


def test_deploy_end_to_end(fleet) -> None:
    lab, work, _, plan_file, _, home = fleet
    # 1. --plan: shows what would change, changes nothing on the hosts
    planned = _deploy(fleet, "--plan")
    assert "Qwen3-30B-A3B" in planned.stdout and "PLAY RECAP" in planned.stdout
    for host in HOSTS:
        assert lab.run(host, f"test -e {home}/moefleet").returncode != 0
    # 2. deploy: every reachable host healthy and answering; the unreachable one reported
    first = _deploy(fleet)
    assert first.returncode == 2, first.stderr[-3000:]
    assert "unreachable" in first.stdout
    for index, _host in enumerate(HOSTS):
        assert _answers(BASE_PORT + 10 * index)["usage"]["completion_tokens"] == 4
    # 3. a second run changes nothing
    second = _deploy(fleet)
    for host in HOSTS:
        assert recap_changed(second.stdout, host) == 0, second.stdout
    # 4. a broken variant (a flag llama-server does not know) is rolled back
    plan = tomllib.loads(plan_file.read_text())
    plan["deployment"][0]["flags"] = [*plan["deployment"][0]["flags"], "--no-such-flag"]
    broken_file = work / "broken.toml"
    broken_file.write_text(tomli_w.dumps(plan))
    broken = _deploy(fleet, plan_file=broken_file)
    assert broken.returncode == 2 and "rolled back" in broken.stderr + broken.stdout
    assert _answers(BASE_PORT)["usage"]["completion_tokens"] == 4  # the previous server
    launcher = lab.run(HOSTS[0], f"cat {home}/moefleet/run/moefleet-qwen3-30b-a3b-0.sh").stdout
    assert "--no-such-flag" not in launcher
    # 5. killing the controller mid-deploy, then re-running, converges
    plan["deployment"][0]["flags"] = [
        f if f != "--no-such-flag" else "--metrics" for f in plan["deployment"][0]["flags"]
    ]
    plan["deployment"][0]["flags"][plan["deployment"][0]["flags"].index("-c") + 1] = "4096"
    changed_file = work / "changed.toml"
    changed_file.write_text(tomli_w.dumps(plan))
    env = dict(os.environ, MOEFLEET_CATALOG=str(work / "none.toml"))
    _, _, inventory, _, key_file, _ = fleet
    argv = [
        sys.executable,
        "-m",
        "moefleet",
        "--state",
        str(work / "state.db"),
        "deploy",
        "-i",
        str(inventory),
        "--plan-file",
        str(changed_file),
        "--api-key-file",
        str(key_file),
    ]
    running = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(2.5)
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    rerun = _deploy(fleet, plan_file=changed_file)
    assert _answers(BASE_PORT)["usage"]["completion_tokens"] == 4
    final = _deploy(fleet, plan_file=changed_file)
    assert recap_changed(final.stdout, HOSTS[0]) == 0
    # 6. the key never shows: outputs, state (journal incl. WAL), launcher scripts, logs
    for result in (planned, first, second, broken, rerun, final):
        assert KEY not in result.stdout + result.stderr
    for name in os.listdir(work):
        if name.startswith("state.db"):
            assert KEY.encode() not in (work / name).read_bytes()
    for host in HOSTS:
        scripts = lab.run(host, f"cat {home}/moefleet/run/*.sh {home}/moefleet/run/*.env").stdout
        assert KEY not in scripts
        listing = lab.run(host, "ps -eo args").stdout
        assert KEY not in listing


def test_bench_report_calibrate_on_the_deployed_fleet(fleet) -> None:
    """After a deploy: bench every deployment (stored with the prediction), report predicted
    vs measured, calibrate (error down), and the next plan uses the correction."""
    _, work, inventory, _, key_file, _ = fleet
    assert _deploy(fleet).returncode == 2  # (the unreachable host) — the others converge
    for _ in range(2):  # two runs per deployment: calibration is then judged out of sample
        benched = run_moefleet(
            work, "bench", "-i", str(inventory), "--api-key-file", str(key_file),
            "--concurrency", "1,2", "--requests", "6", "--warmup", "1",
            "--input-tokens", "32", "--output-tokens", "16", "--json",
        )  # fmt: skip
        assert benched.returncode == 0, benched.stderr[-2000:]
        assert len(json.loads(benched.stdout)) == len(HOSTS)
    report = json.loads(run_moefleet(work, "report", "--json").stdout)
    assert {row["host"] for row in report} >= set(HOSTS)
    assert all(row["predicted_decode_tps"] and row["measured_decode_tps"] for row in report)
    calibrated = run_moefleet(work, "calibrate", "--json")
    assert calibrated.returncode == 0, calibrated.stderr
    fit = json.loads(calibrated.stdout)
    assert fit["method"] == "leave-one-out" and fit["runs"] == 2 * len(HOSTS)
    assert fit["error_after"] < fit["error_before"]
    replanned = json.loads(
        run_moefleet(work, "plan", "-i", str(inventory), "--model", "qwen3-30b-a3b",
                  "--engine", "llama.cpp", "--json").stdout
    )  # fmt: skip
    reasons = [r for d in replanned["deployment"] for r in d["reasons"]]
    assert any("calibrated from" in r for r in reasons)
    for result in (benched,):
        assert KEY not in result.stdout + result.stderr


def test_quality_gate_rolls_back_a_damaged_model(fleet, tiny_model) -> None:
    """`--quality-reference`: a server whose answers drift from the reference (one expert
    scrambled in every layer) fails the on-host gate and is rolled back; a faithful one passes."""
    lab, work, inventory, _, key_file, home = fleet
    assert _deploy(fleet).returncode == 2  # converged (the unreachable host aside)
    reference = work / "reference.json"
    recorded = run_moefleet(
        work, "gate", "record", "--url", f"http://127.0.0.1:{BASE_PORT}",
        "--api-key-file", str(key_file), "--prompts", "6", "-o", str(reference),
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    gate = ("--quality-reference", str(reference), "--gate-fail-top1", "0.95",
            "--gate-fail-kl", "0.03")  # fmt: skip
    faithful = _deploy(fleet, *gate)
    assert "quality gate" in faithful.stderr and "rolled back" not in faithful.stderr
    for host in HOSTS:
        assert f"{host}" in faithful.stdout and "failed=0" in _recap_line(faithful.stdout, host)
    damaged = work / "damaged-f16.gguf"
    corrupt_expert(tiny_model("qwen3moe", "F16"), damaged, layer=0, expert=5)
    for layer in (1, 2, 3):
        corrupt_expert(damaged, damaged.with_suffix(".tmp"), layer=layer, expert=5)
        damaged.with_suffix(".tmp").replace(damaged)
    data = tomllib.loads(inventory.read_text())
    data["hosts"][HOSTS[0]]["vars"]["model_sources"] = {"qwen3-30b-a3b": {"path": str(damaged)}}
    bad_inventory = work / "inventory-damaged.toml"
    bad_inventory.write_text(tomli_w.dumps(data))
    _, _, _, plan_file, _, _ = fleet
    bad = run_moefleet(
        work, "deploy", "-i", str(bad_inventory), "--plan-file", str(plan_file),
        "--api-key-file", str(key_file), "--health-timeout", "60", *gate,
    )  # fmt: skip
    assert "rolled back" in bad.stdout + bad.stderr
    assert "failed=1" in _recap_line(bad.stdout, HOSTS[0])
    assert "failed=0" in _recap_line(bad.stdout, HOSTS[1])
    assert _answers(BASE_PORT)["usage"]["completion_tokens"] == 4  # the faithful server
    launcher = lab.run(HOSTS[0], f"cat {home}/moefleet/run/moefleet-qwen3-30b-a3b-0.sh").stdout
    assert "damaged" not in launcher


def _recap_line(output: str, host: str) -> str:
    return next(line for line in output.splitlines() if line.split(":")[0].strip() == host)


@pytest.mark.anyio
async def test_deploy_from_the_tui_asks_then_follows_the_rollout(fleet) -> None:
    """The rollout screen: `d` asks first (no changes on "n"), then deploys in a worker; the
    per-host progress and the journal tail follow it live, and the key never shows."""
    _, work, inventory_path, plan_file, _, _ = fleet
    inventory = load_inventory(inventory_path)
    request = DeployRequest(inventory, KEY, plan_file)
    app = MoefleetApp(StateSource(work / "state.db", inventory), interval=0, deploy=request)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RolloutScreen)
        with StateStore(work / "state.db") as state:
            runs_before = len(state.runs(limit=1000))
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot, lambda: screen.deploys_done)
        assert screen.deploys_done == 1
        screen.action_refresh()
        await app.workers.wait_for_complete()
        await pilot.pause()
        hosts = screen.query_one("#hosts", DataTable)
        seen = {str(hosts.get_row_at(i)[0]) for i in range(hosts.row_count)}
        assert set(HOSTS) <= seen and "unreachable" in seen
        lines = "\n".join(str(line) for line in screen.query_one(Log).lines)
        assert "health gate" in lines or "healthy" in lines
        assert KEY not in lines
    with StateStore(work / "state.db") as state:
        assert len(state.runs(limit=1000)) == runs_before + 1  # "n" started nothing


@pytest.mark.anyio
async def test_bench_from_the_tui(fleet) -> None:
    _, work, inventory_path, _, _, _ = fleet
    assert _deploy(fleet).returncode == 2  # deployments recorded (the unreachable host aside)
    inventory = load_inventory(inventory_path)
    request = DeployRequest(inventory, KEY)
    app = MoefleetApp(StateSource(work / "state.db", inventory), interval=0, deploy=request)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("b")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BenchmarksScreen)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot, lambda: screen.benches_done)
        assert screen.benches_done == 1
        await settle(pilot, lambda: screen.query_one(DataTable).row_count >= len(HOSTS))
        table = screen.query_one(DataTable)
        hosts = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert set(HOSTS) <= hosts
