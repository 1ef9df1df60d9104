"""Each tiny model loads in the real llama-server, answers chat, and reports its memory."""

from __future__ import annotations

from pathlib import Path
from urllib.error import HTTPError

import pytest

from moefleet.engines.llama_memory import LlamaMemoryReport
from tests.llama.gguf_models import TINY_SPECS

pytestmark = pytest.mark.llama

#: the log rounds sizes to 0.01 MiB
ROUNDING = 0.005 * 1024 * 1024


def gguf_tensor_bytes(path: Path) -> int:
    import gguf  # noqa: PLC0415  # optional: fixtures skip without it

    return sum(int(t.n_bytes) for t in gguf.GGUFReader(path).tensors)


def assert_model_buffer_matches_file(memory: LlamaMemoryReport, path: Path) -> None:
    """The model buffer is the GGUF tensor bytes exactly, unless llama.cpp repacked some
    weights for the CPU (AVX2 and later: Q4_0, Q4_K...): then the mmap range covers at
    most the file and the extra CPU_REPACK buffer holds the repacked copies."""
    on_file = gguf_tensor_bytes(path)
    sizes = memory.by_backend("model")
    if "CPU_REPACK" not in sizes:
        assert abs(memory.model_bytes - on_file) <= ROUNDING
    else:
        assert sizes["CPU_Mapped"] <= on_file + ROUNDING
        assert memory.model_bytes >= on_file - ROUNDING


@pytest.mark.parametrize("key", sorted(TINY_SPECS))
def test_tiny_model_serves_chat_and_reports_memory(key, tiny_model, llama_server_factory):
    path = tiny_model(key)
    server = llama_server_factory(path, n_ctx=512, n_parallel=1)

    answer = server.chat("hello there, how are you?", max_tokens=8)

    usage = answer["usage"]
    assert usage["completion_tokens"] == 8
    assert usage["prompt_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + 8
    assert answer["timings"]["predicted_n"] == 8
    memory = server.memory()
    assert memory.by_backend("model").keys() == {"CPU_Mapped"}
    assert abs(memory.model_bytes - gguf_tensor_bytes(path)) <= ROUNDING
    assert memory.kv_bytes > 0
    assert memory.compute_bytes > 0


@pytest.mark.parametrize("mix", ["Q8_0", "Q4_K_M", "Q4_0"])
def test_quantized_moe_loads_with_exact_model_buffer(mix, tiny_model, llama_server_factory):
    path = tiny_model("qwen3moe", mix)
    server = llama_server_factory(path)

    assert server.chat("count to ten", max_tokens=4)["usage"]["completion_tokens"] == 4
    assert_model_buffer_matches_file(server.memory(), path)
    assert gguf_tensor_bytes(path) < gguf_tensor_bytes(tiny_model("qwen3moe")) / 1.8


def test_parallel_slots_share_the_context(tiny_model, llama_server_factory):
    path = tiny_model("llama")
    one = llama_server_factory(path, n_ctx=2048, n_parallel=1).memory()
    four = llama_server_factory(path, n_ctx=2048, n_parallel=4).memory()

    assert one.kv_bytes == four.kv_bytes  # -np splits -c among the slots
    assert [(kv.cells, kv.streams) for kv in four.kv_caches] == [(512, 4)]


def test_api_key_is_required_when_set(tiny_model, llama_server_factory):
    server = llama_server_factory(tiny_model("qwen3"), api_key="s3cret-test-key")

    assert server.chat("hi", max_tokens=2)["usage"]["completion_tokens"] == 2
    server.api_key = None
    with pytest.raises(HTTPError) as err:
        server.chat("hi", max_tokens=2)
    err.value.close()
    assert err.value.code == 401


def test_exit_log_has_the_memory_breakdown(tiny_model, llama_server_factory):
    server = llama_server_factory(tiny_model("qwen3moe"))
    server.chat("hi", max_tokens=2)

    log = server.stop()

    assert server.process.returncode is not None
    rows = {row.device: row for row in server.memory().breakdown}
    assert "memory breakdown [MiB]" in log
    assert rows["Host"].model_mib == server.memory().model_bytes // (1024 * 1024)
