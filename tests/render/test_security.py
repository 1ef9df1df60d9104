"""API keys: required when exposed, never rendered; secrets 0600; StrictUndefined."""

from __future__ import annotations

from pathlib import Path

import pytest

from moefleet.render import (
    RenderedFile,
    RenderError,
    render_compose,
    render_service,
    render_template,
)
from tests.render.specs import llama_spec, vllm_spec


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "10.0.0.5"])
@pytest.mark.parametrize("make", [llama_spec, vllm_spec])
def test_exposed_bind_without_key_is_refused(tmp_path: Path, bind: str, make: object) -> None:
    spec = make(tmp_path, bind_host=bind)  # type: ignore[operator]
    with pytest.raises(RenderError, match="without an API key"):
        render_service(spec)
    if spec.engine == "vllm":
        with pytest.raises(RenderError, match="without an API key"):
            render_compose(spec)


def test_key_on_the_command_line_is_refused(tmp_path: Path) -> None:
    for args in (("--api-key", "k"), ("--api-key=k",)):
        with pytest.raises(RenderError, match="ps"):
            render_service(llama_spec(tmp_path, args=args))


def test_llama_reads_the_key_file_and_the_key_never_appears(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("canary-7f3a")
    for backend in ("systemd", "systemd-user", "process"):
        spec = llama_spec(tmp_path, backend=backend, bind_host="0.0.0.0", api_key_file=str(key))
        files = render_service(spec, home="/home/x")
        assert f'"--api-key-file" "{key}"' in files[0].content or str(key) in files[0].content
        assert all("canary" not in f.content for f in files)
    vspec = vllm_spec(tmp_path, bind_host="0.0.0.0", api_key_file=str(key))
    assert "canary" not in render_compose(vspec).content


def test_env_file_with_a_token_is_secret_and_0600(tmp_path: Path) -> None:
    env = render_service(llama_spec(tmp_path, env={"HF_TOKEN": "hf_x"}))[1]
    assert (env.secret, env.mode) == (True, 0o600)
    assert "hf_x" not in repr(env)
    plain = render_service(llama_spec(tmp_path))[1]
    assert (plain.secret, plain.mode) == (False, 0o600)


def test_secret_file_must_be_0600() -> None:
    with pytest.raises(RenderError, match="0600"):
        RenderedFile(path="/x", content="s", mode=0o644, secret=True)


def test_strict_undefined_raises_on_a_missing_variable() -> None:
    with pytest.raises(RenderError, match="undefined"):
        render_template("env.j2")


def test_user_unit_needs_home(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="home"):
        render_service(llama_spec(tmp_path, backend="systemd-user"))
