"""fetch_model and install_runtime on lab hosts: SFTP push with resume, HTTP download from a
controller-side http.server, the disk check before any transfer, runtime upload."""

# ruff: noqa: E501  (playbooks inline as TOML: one table per line)
from __future__ import annotations

import functools
import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest

from tests.playbook.conftest import on_host

FETCH = """
[[plays]]
[[plays.tasks]]
name = "model"
fetch_model = {{ dest = "{dest}", sha256 = "{sha}", size = {size}, {source} }}
"""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> tuple[Path, str, int]:
    path = tmp_path_factory.mktemp("models") / "tiny.gguf"
    path.write_bytes(os.urandom(3 * 2**20 + 123))
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size


def test_sftp_push_resumes_a_truncated_file_and_verifies(play, lab, workdir, model_file):
    path, sha, size = model_file
    dest = f"{lab.models_dir}/{workdir.rsplit('/', 1)[1]}/tiny.gguf"
    toml = FETCH.format(dest=dest, sha=sha, size=size, source=f'src = "{path}"')
    first, lines = play(toml, limit="cpu-only")
    assert first.find("cpu-only", "model").changed, lines
    assert on_host(lab, "cpu-only", f"sha256sum < {dest}").split()[0] == sha

    assert play(toml, limit="cpu-only")[0].changed == 0  # present and valid: skipped

    on_host(lab, "cpu-only", f"truncate -s 1000000 {dest}")
    resumed, _ = play(toml, limit="cpu-only")
    result = resumed.find("cpu-only", "model")
    assert result.changed and result.data["resumed_from"] == 1_000_000
    assert "resume at 1000000 B" in result.message
    assert on_host(lab, "cpu-only", f"sha256sum < {dest}").split()[0] == sha


def test_a_corrupt_partial_is_detected_and_removed(play, lab, workdir, model_file):
    path, sha, size = model_file
    dest = f"{workdir}/tiny.gguf"
    on_host(lab, "cpu-only", f"mkdir -p {workdir} && head -c 1000 /dev/urandom > {dest}.part")
    toml = FETCH.format(dest=dest, sha=sha, size=size, source=f'src = "{path}"')
    report, _ = play(toml, limit="cpu-only")
    assert "sha256 or size mismatch" in report.find("cpu-only", "model").message
    assert lab.run("cpu-only", f"ls {dest}.part").returncode != 0
    assert play(toml, limit="cpu-only")[0].ok  # the next run starts clean


def test_http_download_on_the_host(play, lab, workdir, model_file):
    path, sha, size = model_file
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
        toml = FETCH.format(dest=f"{workdir}/m.gguf", sha=sha, size=size, source=f'url = "{url}"')
        report, lines = play(toml)
    finally:
        server.shutdown()
        server.server_close()
    assert report.ok and report.changed == 2, lines
    assert on_host(lab, "rtx4090", f"sha256sum < {workdir}/m.gguf").split()[0] == sha


def test_disk_space_is_checked_before_anything_moves(play, lab, workdir, model_file):
    _, sha, _ = model_file
    dest = f"{workdir}/huge.gguf"
    toml = FETCH.format(dest=dest, sha=sha, size=2**60, source='url = "http://127.0.0.1:9/x"')
    report, _ = play(toml, limit="cpu-only")
    result = report.find("cpu-only", "model")
    assert result.status == "failed" and "not enough disk" in result.message
    assert "nothing was transferred" in result.message
    assert lab.run("cpu-only", f"ls {workdir}").returncode != 0  # not even its directory


def test_install_runtime_uploads_a_prebuilt_tree_once(play, lab, workdir, tmp_path):
    tree = tmp_path / "llama"
    (tree / "bin").mkdir(parents=True)
    binary = tree / "bin" / "llama-server"
    binary.write_text("#!/bin/sh\necho 'version: 4242 (abc123)'\n")
    binary.chmod(0o755)
    toml = f"""
[[plays]]
[[plays.tasks]]
name = "runtime"
install_runtime = {{ src = "{tree}", dest = "{workdir}/llama", binary = "bin/llama-server", version = "4242" }}
[[plays.tasks]]
name = "existing"
install_runtime = {{ binary = "{workdir}/llama/bin/llama-server", version = "4242" }}
[[plays.tasks]]
name = "wrong version"
install_runtime = {{ binary = "{workdir}/llama/bin/llama-server", version = "9999" }}
ignore_errors = true
[[plays.tasks]]
name = "from source"
install_runtime = {{ binary = "llama-server", build = "b4242" }}
ignore_errors = true
"""
    first, _ = play(toml, limit="cpu-only")
    assert first.find("cpu-only", "runtime").changed
    assert first.find("cpu-only", "existing").status == "ok"
    assert "is not version '9999'" in first.find("cpu-only", "wrong version").message
    assert "not supported yet" in first.find("cpu-only", "from source").message
    assert first.stats["cpu-only"].ignored == 2
    assert (
        on_host(lab, "cpu-only", f"{workdir}/llama/bin/llama-server") == "version: 4242 (abc123)\n"
    )
    again, _ = play(toml, limit="cpu-only")
    assert again.changed == 0
