"""What the load generator sends: synthetic prompts of exact token lengths, or real prompts.

Synthetic prompts are lists of token ids (both llama-server and vLLM accept token ids as the
``prompt`` of ``/v1/completions``), so the input length is exact whatever the tokenizer; ids
are drawn from 10..200, which every byte-level vocabulary has. ``ignore_eos`` makes the output
length exact on servers that support it (llama-server, vLLM).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

#: A small built-in set of real prompts (chat), for runs that should look like real traffic.
REAL_PROMPTS: tuple[str, ...] = (
    "Explain in three sentences why mixture-of-experts models need more memory than compute.",
    "Write a Python function that returns the n-th Fibonacci number iteratively.",
    "Summarise the difference between TCP and UDP for a new network engineer.",
    "List five checks to run before putting a GPU server into production.",
    "Translate 'the model is loaded and answering requests' into French and German.",
    "What is the capital of Australia, and why is it not Sydney?",
    "Give a JSON object with keys 'host', 'gpu' and 'tokens_per_second' for a made-up server.",
    "Describe how a KV cache speeds up autoregressive decoding.",
)


@dataclass(frozen=True)
class Workload:
    """Request shape: ``input_tokens``/``output_tokens`` synthetic, or ``real`` prompts."""

    model: str
    input_tokens: int = 128
    output_tokens: int = 128
    real: bool = False
    ignore_eos: bool = True
    temperature: float = 0.0

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self.real else "/v1/completions"

    def body(self, index: int, rng: random.Random) -> dict[str, Any]:
        """The JSON body of request ``index``."""
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.output_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.temperature,
            "seed": index,
        }
        if self.ignore_eos:
            body["ignore_eos"] = True
        if self.real:
            prompt = REAL_PROMPTS[index % len(REAL_PROMPTS)]
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = [rng.randint(10, 200) for _ in range(self.input_tokens)]
        return body
