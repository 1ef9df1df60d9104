"""vLLM compose file (read back as YAML with compose's $$ rule) and the nginx front door."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from moefleet.render import VLLM_IMAGE, RenderError, render_compose, render_front_door
from tests.render.specs import vllm_spec


def _uncompose(value: object) -> object:
    if isinstance(value, str):
        assert "$" not in value.replace("$$", ""), value  # compose would interpolate it
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [_uncompose(v) for v in value]
    if isinstance(value, dict):
        return {k: _uncompose(v) for k, v in value.items()}
    return value


def test_compose_service(tmp_path: Path) -> None:
    key = str(tmp_path / "key")
    env = {"T_X": "a $HOME 'q' \"d\" \\ #"}
    spec = vllm_spec(tmp_path, bind_host="0.0.0.0", api_key_file=key, env=env)
    rendered = render_compose(spec)
    doc = _uncompose(yaml.safe_load(rendered.content))
    service = doc["services"][spec.name]  # type: ignore[index]
    assert service["image"] == VLLM_IMAGE
    assert service["command"][:2] == ["serve", spec.model_path]
    assert service["command"][-4:] == ["--host", "0.0.0.0", "--port", "8080"]
    assert service["entrypoint"][:2] == ["/bin/sh", "-c"]
    assert service["environment"] == env
    assert service["ports"] == ["0.0.0.0:8080:8080"]
    assert doc["secrets"] == {"api_key": {"file": key}}  # type: ignore[index]
    device = service["deploy"]["resources"]["reservations"]["devices"][0]
    assert device == {"driver": "nvidia", "device_ids": ["0", "1"], "capabilities": ["gpu"]}
    assert "--api-key" not in rendered.content


def test_front_door_nginx(tmp_path: Path) -> None:
    conf = render_front_door("qwen3-30b-a3b", ["http://127.0.0.1:8080", "http://[::1]:8081"], 18080)
    assert conf.path == "/etc/nginx/conf.d/moefleet_qwen3_30b_a3b.conf"
    assert "server 127.0.0.1:8080 max_fails=2" in conf.content
    assert "server [::1]:8081 max_fails=2" in conf.content
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.skip("nginx not installed: nginx -t not run (apt-get install nginx-light)")
    (tmp_path / "logs").mkdir()
    (tmp_path / "door.conf").write_text(conf.content)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/logs/error.log;\n"
        f"events {{}}\nhttp {{ access_log off; include {tmp_path}/door.conf; }}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "url", ["https://x:1", "http://h:1/path", "http://h;x:1", "http://u@h:1", "http://h:1\n"]
)
def test_front_door_refuses_odd_replicas(url: str) -> None:
    with pytest.raises((RenderError, ValueError)):
        render_front_door("m", [url], 8000)
