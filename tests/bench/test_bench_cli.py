"""`moefleet bench` end to end against a real llama-server: table, JSON, JSONL, HTML, key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llama.gguf_models import TINY_SPECS, tiny_gguf
from tests.llama.server import ServerOptions, llama_server

KEY = "bench-cli-canary-9d2e"


@pytest.fixture(scope="module")
def server(llama_bins):
    model = tiny_gguf(TINY_SPECS["qwen3moe"], "Q8_0", llama_bins.quantize)
    options = ServerOptions(n_ctx=4096, n_parallel=4)
    with llama_server(llama_bins.server, model, options, api_key=KEY) as running:
        yield running


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moefleet", "--state", str(tmp_path / "s.db"), "bench", *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_sweep_json_jsonl_html_and_no_key_in_output(server, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    raw, html = tmp_path / "raw.jsonl", tmp_path / "report.html"
    result = _bench(
        tmp_path, "--url", server.base_url, "--api-key-file", str(key_file),
        "--concurrency", "1,4", "--rate", "20", "--requests", "8", "--warmup", "1",
        "--input-tokens", "32", "--output-tokens", "16", "--slo", "ttft=2s",
        "--raw", str(raw), "--html", str(html), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [lvl["label"] for lvl in summary["levels"]] == ["c=1", "c=4", "rate=20/s"]
    for level in summary["levels"]:
        metrics = level["metrics"]
        assert metrics["completed"] == 8 and metrics["output_tps"] > 0
        assert metrics["goodput"] is not None
    lines = raw.read_text().splitlines()
    assert len(lines) == 3 * 9  # 8 measured + 1 warm-up per level
    assert "<svg" in html.read_text()
    for text in (result.stdout, result.stderr, raw.read_text(), html.read_text()):
        assert KEY not in text


def test_human_output_and_bad_key_file(server, tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text(KEY)
    loose.chmod(0o644)
    refused = _bench(tmp_path, "--url", server.base_url, "--api-key-file", str(loose))
    assert refused.returncode == 1 and "readable by others" in refused.stderr
    loose.chmod(0o600)
    shown = _bench(tmp_path, "--url", server.base_url, "--api-key-file", str(loose),
                   "--requests", "4", "--output-tokens", "8")  # fmt: skip
    assert shown.returncode == 0 and "TTFT" in shown.stdout and KEY not in shown.stdout
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    wrong.chmod(0o600)
    failing = _bench(
        tmp_path, "--url", server.base_url, "--api-key-file", str(wrong), "--model", "x",
        "--requests", "2",
    )  # fmt: skip
    assert failing.returncode == 2
