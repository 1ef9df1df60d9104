"""Rendered units pass ``systemd-analyze verify`` and run exactly the intended argv.

systemd is not PID 1 here: ``systemd-analyze verify`` loads units in a test-mode manager
(system units as they are; ``--user`` needs ``XDG_RUNTIME_DIR``), checks every directive and
that ExecStart's binary exists. It exits 0 on mere warnings, so stderr must be empty too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from moefleet.render import RenderedFile, render_ray, render_service, server_command
from tests.render.readers import split_exec
from tests.render.specs import HOSTILE, llama_spec, stub, vllm_spec

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None and not os.environ.get("CI"), reason="systemd-analyze missing"
)


def _verify(unit: RenderedFile, tmp_path: Path, user: bool) -> None:
    copy = tmp_path / "verify" / Path(unit.path).name
    copy.parent.mkdir(exist_ok=True)
    copy.write_text(unit.content)
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700, exist_ok=True)
    cmd = ["systemd-analyze", *(["--user"] if user else []), "verify", "--man=no", str(copy)]
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp_path)}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert (result.returncode, result.stderr) == (0, ""), unit.content


def _exec_start(unit: RenderedFile) -> list[str]:
    line = next(x for x in unit.content.splitlines() if x.startswith("ExecStart="))
    return split_exec(line.removeprefix("ExecStart="))


def _units(tmp_path: Path, backend: str) -> list[RenderedFile]:
    key = str(tmp_path / "secrets" / "api.key")
    home = str(tmp_path / "home")
    specs = [
        llama_spec(tmp_path, backend=backend, user="root" if backend == "systemd" else None),
        llama_spec(tmp_path, backend=backend, bind_host="0.0.0.0", api_key_file=key),
        vllm_spec(tmp_path, backend=backend, bind_host="0.0.0.0", api_key_file=key),
    ]
    files = [f for spec in specs for f in render_service(spec, home=home, after=())]
    ray = stub(tmp_path, "ray")
    for role in ("head", "worker"):
        files += render_ray(
            f"moefleet-ray-{role}", role, ray=ray, head_address="10.1.2.3",  # type: ignore[arg-type]
            workdir=str(tmp_path / "run"), gpus=(0, 1), backend=backend, home=home,  # type: ignore[arg-type]
        )  # fmt: skip
    return [f for f in files if f.path.endswith(".service")]


@needs_systemd
@pytest.mark.parametrize("backend", ["systemd", "systemd-user"])
def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path, backend: str) -> None:
    units = _units(tmp_path, backend)
    assert len(units) == 5
    for unit in units:
        _verify(unit, tmp_path, user=backend == "systemd-user")


def test_paths_and_modes(tmp_path: Path) -> None:
    spec = llama_spec(tmp_path)
    unit, env = render_service(spec)
    assert unit.path == "/etc/systemd/system/moefleet-qwen3-30b-a3b-0.service"
    assert env.path == f"{spec.workdir}/moefleet-qwen3-30b-a3b-0.env"
    assert (unit.mode, env.mode) == (0o644, 0o600)
    user_unit, _ = render_service(spec.model_copy(update={"backend": "systemd-user"}), home="/h/x")
    assert user_unit.path == "/h/x/.config/systemd/user/moefleet-qwen3-30b-a3b-0.service"
    launcher, _ = render_service(spec.model_copy(update={"backend": "process"}))
    assert (launcher.path, launcher.mode) == (f"{spec.workdir}/moefleet-qwen3-30b-a3b-0.sh", 0o755)


def test_unit_execstart_is_the_server_command(tmp_path: Path) -> None:
    spec = llama_spec(tmp_path, args=(*HOSTILE, "--metrics"), model_path="/m/a b;$c%d\\e.gguf")
    unit = render_service(spec)[0]
    assert _exec_start(unit) == list(server_command(spec).argv)
    assert "CUDA_VISIBLE_DEVICES=0,1" in render_service(spec)[1].content


def _run_launcher(tmp_path: Path, spec_backend_process: object) -> dict[str, object]:
    files = render_service(spec_backend_process)  # type: ignore[arg-type]
    for f in files:
        Path(f.path).write_text(f.content)
        Path(f.path).chmod(f.mode)
    out = subprocess.run([files[0].path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_process_launcher_passes_hostile_values_as_exact_arguments(tmp_path: Path) -> None:
    model = str(tmp_path / "m $HOME %h ;'\"\\ x.gguf")
    env = {f"T_{i}": value for i, value in enumerate(HOSTILE)}
    spec = llama_spec(tmp_path, backend="process", args=tuple(HOSTILE), model_path=model, env=env)
    seen = _run_launcher(tmp_path, spec)
    assert seen["argv"] == list(server_command(spec).argv[1:])
    assert seen["argv"][:2] == ["-m", model]  # type: ignore[index]
    assert seen["env"] == env


def test_vllm_key_goes_to_the_environment_never_argv(tmp_path: Path) -> None:
    key = tmp_path / "api.key"
    key.write_text("canary-KEY-$x'\n")
    spec = vllm_spec(tmp_path, backend="process", bind_host="0.0.0.0", api_key_file=str(key))
    seen = _run_launcher(tmp_path, spec)
    assert seen["key"] == "canary-KEY-$x'"
    assert seen["argv"][:2] == ["serve", spec.model_path]  # type: ignore[index]
    assert "canary" not in json.dumps(seen["argv"])
    # the systemd unit's /bin/sh wrapper does the same, run here as systemd would split it
    unit = render_service(spec.model_copy(update={"backend": "systemd"}))[0]
    out = subprocess.run(_exec_start(unit), capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["key"] == "canary-KEY-$x'"
    assert json.loads(out.stdout)["argv"] == seen["argv"]
