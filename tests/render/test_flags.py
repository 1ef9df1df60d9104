"""Every flag the planner emits and the templates add is one the real engines know.

llama.cpp: the flags come from the real ``llama-server --help`` at test time. vLLM: the list
committed in moefleet/engine_flags/, derived from the pinned release's parser source.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from moefleet.engine_flags import FlagSet, check_flags, parse_llama_help, vllm_flags
from moefleet.plan import fleet, llama_option, vllm_option
from moefleet.render import render_ray, server_command
from tests.llama.fixtures import LlamaBinaries
from tests.render.specs import llama_spec, vllm_spec


def _flag_constants(function: object) -> list[str]:
    """Every "-flag" string literal in a planner function: all its branches at once."""
    tree = ast.parse(inspect.getsource(function))  # type: ignore[arg-type]
    return sorted(
        {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.match(r"^--?[A-Za-z]", node.value)
        }
    )


@pytest.fixture(scope="module")
def llama_flags(request: pytest.FixtureRequest) -> FlagSet:
    bins: LlamaBinaries = request.getfixturevalue("llama_bins")
    help_text = subprocess.run(
        [str(bins.server), "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return parse_llama_help(help_text)


def test_help_parser_sees_aliases_and_choices(llama_flags: FlagSet) -> None:
    assert {"-c", "--ctx-size", "-fa", "--flash-attn", "--api-key-file"} <= llama_flags.flags
    assert llama_flags.choices["-fa"] >= {"on", "off"}
    assert check_flags("llama.cpp", ["-fa", "maybe", "--nope"], llama_flags) == [
        "-fa maybe",
        "--nope",
    ]


def test_planner_llama_flags_are_real(llama_flags: FlagSet) -> None:
    flags = _flag_constants(llama_option._flags)
    assert {"-c", "-ngl", "--n-cpu-moe", "-fa", "-ctk"} <= set(flags)
    assert check_flags("llama.cpp", flags, FlagSet(llama_flags.flags)) == []


def test_rendered_llama_command_is_accepted(llama_flags: FlagSet, tmp_path: Path) -> None:
    placement = SimpleNamespace(
        gpu_layers=30, n_cpu_moe=12, tensor_split=(0.5, 0.5), mode="expert_offload"
    )
    settings = SimpleNamespace(n_ctx=8192, n_seq=4, flash_attn=True, type_k="q8_0", type_v="q8_0")
    planner_args = llama_option._flags(placement, settings, SimpleNamespace(cpu_threads=32))  # type: ignore[arg-type]
    spec = llama_spec(
        tmp_path, args=planner_args, bind_host="0.0.0.0", api_key_file="/k", port=8081
    )
    argv = server_command(spec).argv[1:]
    assert check_flags("llama.cpp", argv, llama_flags) == []
    assert {"--host", "--port", "--api-key-file", "-m", "-fa"} <= set(argv)


def test_planner_vllm_flags_are_in_the_pinned_release() -> None:
    flags = _flag_constants(vllm_option._flags) + _flag_constants(fleet._multi_node_option)
    assert "--pipeline-parallel-size" in flags and "--trust-remote-code" in flags
    assert check_flags("vllm", flags) == []


def test_rendered_vllm_command_is_accepted(tmp_path: Path) -> None:
    spec = vllm_spec(tmp_path, bind_host="0.0.0.0", api_key_file="/k")
    argv = server_command(spec).argv
    assert argv[1:3] == ("serve", spec.model_path)
    assert check_flags("vllm", argv[3:]) == []
    assert check_flags("vllm", ["--max_model_len", "1", "--bogus-flag"]) == ["--bogus-flag"]


def test_vllm_list_is_the_pinned_release() -> None:
    flags = vllm_flags().flags
    assert {"--api-key", "--host", "--port", "-tp", "--no-enforce-eager"} <= flags
    assert "--api-key-file" not in flags  # hence VLLM_API_KEY from the key file


def test_ray_commands() -> None:
    head, _ = render_ray("h", "head", ray="/r", head_address="10.0.0.1", workdir="/w")
    worker, _ = render_ray("w", "worker", ray="/r", head_address="fd00::1", workdir="/w")
    assert '"/r" "start" "--head" "--port" "6379" "--block"' in head.content
    assert '"--address" "[fd00::1]:6379" "--block"' in worker.content
