"""Tiny random-weight GGUF models built from a catalog ``ModelSpec``, cached on disk.

The tensor inventory is moefleet's own (``moefleet.plan.tensors.model_tensors``), so a model
that the real llama.cpp loads also validates the planner's view of the architecture. Weights
are written as F16 (vectors F32) with gguf-py, then ``llama-quantize`` makes the other mixes.
Files are cached under ``$MOEFLEET_TEST_CACHE`` (default ``~/.cache/moefleet-tests/gguf``),
keyed by a hash of the spec, the mix and ``GENERATOR_VERSION``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

from moefleet.catalog.model import ModelSpec, MoeSpec, SlidingWindowSpec
from moefleet.plan.tensors import Tensor, model_tensors, parameter_count
from tests.llama.tokenizer import CHATML_TEMPLATE, build_vocab

#: Bump when the bytes written for the same spec change (invalidates the cache).
GENERATOR_VERSION = 1
#: gguf ``general.file_type`` of the written base file (LLAMA_FTYPE_MOSTLY_F16).
_FTYPE_F16 = 1
_GGUF_ARCH = {"gpt-oss": "gpt-oss"}


def _tiny(key: str, arch: str, *, layers: int = 4, vocab: int = 512, **fields: object) -> ModelSpec:
    base = ModelSpec(
        id=f"tiny-{key}",
        name=f"Tiny {key}",
        arch=arch,
        license="apache-2.0",
        source="tests/llama/gguf_models.py (random weights)",
        total_params_b=1.0,
        active_params_b=1.0,
        layers=layers,
        hidden=256,
        heads=4,
        kv_heads=2,
        head_dim=64,
        vocab=vocab,
        max_context=32768,
        **fields,  # type: ignore[arg-type]
    )
    total = parameter_count(model_tensors(base)) / 1e9
    return base.model_copy(update={"total_params_b": total, "active_params_b": total})


#: The tiny models the harness builds, by short key.
TINY_SPECS: dict[str, ModelSpec] = {
    "llama": _tiny("llama", "llama", ffn=512),
    "qwen3": _tiny("qwen3", "qwen3", ffn=512),
    "qwen3moe": _tiny("qwen3moe", "qwen3moe", moe=MoeSpec(experts=8, active=2, expert_ffn=256)),
    "gemma3": _tiny(
        "gemma3",
        "gemma3",
        layers=6,
        ffn=512,
        tied_embeddings=True,
        sliding_window=SlidingWindowSpec(window=128, swa_layers=5),
    ),
    "gpt-oss": _tiny(
        "gpt-oss",
        "gpt-oss",
        moe=MoeSpec(experts=8, active=2, expert_ffn=256),
        sliding_window=SlidingWindowSpec(window=128, swa_layers=2),
    ),
}


def cache_dir() -> Path:
    """Where generated GGUF files are kept between runs."""
    env = os.environ.get("MOEFLEET_TEST_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "moefleet-tests"
    return root / "gguf"


@cache
def _generator_digest() -> str:
    """Hash of this generator's own source (an edit regenerates the cached files)."""
    here = Path(__file__).parent
    blob = b"".join((here / name).read_bytes() for name in ("gguf_models.py", "tokenizer.py"))
    return hashlib.sha256(blob).hexdigest()


def cache_key(spec: ModelSpec, mix: str) -> str:
    """A short hash of what determines the file's bytes (spec, mix, generator, and the
    tensor inventory of ``moefleet.plan.tensors``, which the generator follows)."""
    inventory = [(t.name, t.shape) for t in model_tensors(spec)]
    blob = f"{GENERATOR_VERSION}|{_generator_digest()}|{mix}|{spec.model_dump_json()}|{inventory}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _swa_pattern(swa: SlidingWindowSpec, layers: int) -> int:
    full = layers - swa.swa_layers
    return layers // full if full else 0


def _metadata(writer: object, spec: ModelSpec) -> None:
    """Architecture keys llama.cpp reads (``src/llama-model.cpp`` ``load_hparams``)."""
    w = writer  # gguf.GGUFWriter (untyped)
    w.add_name(spec.name)  # type: ignore[attr-defined]
    w.add_file_type(_FTYPE_F16)  # type: ignore[attr-defined]
    w.add_vocab_size(spec.vocab)  # type: ignore[attr-defined]
    w.add_context_length(spec.max_context)  # type: ignore[attr-defined]
    w.add_embedding_length(spec.hidden)  # type: ignore[attr-defined]
    w.add_block_count(spec.layers)  # type: ignore[attr-defined]
    ffn = spec.ffn if spec.ffn is not None else (spec.moe.expert_ffn if spec.moe else 0)
    w.add_feed_forward_length(ffn)  # type: ignore[attr-defined]
    w.add_head_count(spec.heads)  # type: ignore[attr-defined]
    w.add_head_count_kv(spec.kv_heads)  # type: ignore[attr-defined]
    w.add_key_length(spec.head_dim)  # type: ignore[attr-defined]
    w.add_value_length(spec.head_dim)  # type: ignore[attr-defined]
    w.add_layer_norm_rms_eps(1e-6)  # type: ignore[attr-defined]
    w.add_rope_freq_base(10000.0)  # type: ignore[attr-defined]
    if spec.moe is not None:
        w.add_expert_count(spec.moe.experts)  # type: ignore[attr-defined]
        w.add_expert_used_count(spec.moe.active)  # type: ignore[attr-defined]
        w.add_expert_feed_forward_length(spec.moe.expert_ffn)  # type: ignore[attr-defined]
    if spec.sliding_window is not None:
        w.add_sliding_window(spec.sliding_window.window)  # type: ignore[attr-defined]
        pattern = _swa_pattern(spec.sliding_window, spec.layers)
        w.add_sliding_window_pattern(pattern)  # type: ignore[attr-defined]


def _tokenizer(writer: object, spec: ModelSpec) -> None:
    vocab = build_vocab(spec.vocab)
    w = writer
    w.add_tokenizer_model("gpt2")  # type: ignore[attr-defined]
    w.add_tokenizer_pre("default")  # type: ignore[attr-defined]
    w.add_token_list(list(vocab.tokens))  # type: ignore[attr-defined]
    w.add_token_types(list(vocab.types))  # type: ignore[attr-defined]
    w.add_token_merges(list(vocab.merges))  # type: ignore[attr-defined]
    w.add_bos_token_id(vocab.id_of("<|endoftext|>"))  # type: ignore[attr-defined]
    w.add_eos_token_id(vocab.id_of("<|im_end|>"))  # type: ignore[attr-defined]
    w.add_add_bos_token(False)  # type: ignore[attr-defined]
    w.add_chat_template(CHATML_TEMPLATE)  # type: ignore[attr-defined]


def stays_f32(tensor: Tensor) -> bool:
    """Tensors convert_hf_to_gguf keeps in F32: vectors, biases, routers, conv kernels."""
    name = tensor.name
    return (
        len(tensor.shape) == 1
        or name.endswith(".bias")
        or "ffn_gate_inp" in name
        or "ssm_conv1d" in name
    )


def _values(tensor: Tensor, rng: np.random.Generator) -> np.ndarray:
    shape = tuple(reversed(tensor.shape))  # numpy order is ggml order reversed
    if stays_f32(tensor):
        if "norm" in tensor.name:
            return np.ones(shape, dtype=np.float32)
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)
    return (rng.standard_normal(shape) * 0.02).astype(np.float16)


def write_f16(spec: ModelSpec, path: Path, seed: int = 0) -> None:
    """Write ``spec`` as an F16 GGUF with random weights to ``path``."""
    import gguf  # noqa: PLC0415  # test-only: collection works without it

    writer = gguf.GGUFWriter(str(path), _GGUF_ARCH.get(spec.arch, spec.arch))
    _metadata(writer, spec)
    _tokenizer(writer, spec)
    rng = np.random.default_rng(seed)
    for tensor in model_tensors(spec):
        writer.add_tensor(tensor.name, _values(tensor, rng))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize(quantize_bin: Path, src: Path, dst: Path, mix: str, threads: int = 2) -> None:
    """Run the real ``llama-quantize`` (raises with its output on failure)."""
    cmd = [str(quantize_bin), str(src), str(dst), mix, str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"llama-quantize {mix} failed:\n{done.stdout}\n{done.stderr}")


def tiny_gguf(spec: ModelSpec, mix: str = "F16", quantize_bin: Path | None = None) -> Path:
    """The cached GGUF of ``spec`` in ``mix``, generating (and quantizing) it if missing."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{spec.id}-{mix}-{cache_key(spec, mix)}.gguf"
    if final.is_file():
        return final
    base = final if mix == "F16" else tiny_gguf(spec, "F16")
    fd, tmp_name = tempfile.mkstemp(suffix=".gguf.part", dir=root)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if mix == "F16":
            write_f16(spec, tmp)
        else:
            if quantize_bin is None:
                raise ValueError(f"mix {mix} needs the llama-quantize binary")
            quantize(quantize_bin, base, tmp, mix)
        os.replace(tmp, final)  # atomic: a concurrent reader never sees a partial file
    finally:
        tmp.unlink(missing_ok=True)
    return final
