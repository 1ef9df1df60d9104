"""A small byte-level GPT-2 BPE vocabulary with ChatML control tokens, for tiny GGUF models.

llama.cpp needs a real tokenizer in the file: ``tokenizer.ggml.model = gpt2`` with merges.
The vocabulary is the 256 byte tokens, merges trained on a fixed text, the ChatML control
tokens and unused fillers up to the requested size, so any ``vocab`` >= 260 works.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

#: llama.cpp token types (``llama_token_type`` / gguf ``TokenType``).
NORMAL, CONTROL, UNUSED = 1, 3, 5
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_CORPUS = (
    "the quick brown fox jumps over the lazy dog. a fleet of machines serves the model; "
    "every node reports its memory, the planner chooses the context, the slots and the "
    "quantization, then the server starts and answers the benchmark. tokens per second, "
    "time to first token, the key value cache and the compute buffer are measured. "
    "hello world, this is a test of the tokenizer with some common english words and "
    "numbers 0123456789 and punctuation: (yes) [no] {maybe} <tag> user assistant system. "
)


@dataclass(frozen=True)
class Vocab:
    """Tokens, their types and the BPE merges, in GGUF order."""

    tokens: tuple[str, ...]
    types: tuple[int, ...]
    merges: tuple[str, ...]

    def id_of(self, token: str) -> int:
        return self.tokens.index(token)


@cache
def byte_alphabet() -> tuple[str, ...]:
    """GPT-2's reversible byte -> printable character map, indexed by byte value."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return tuple(chars[b] for b in range(256))


def _words(text: str) -> Counter[tuple[str, ...]]:
    alphabet = byte_alphabet()
    counts: Counter[tuple[str, ...]] = Counter()
    for i, word in enumerate(text.split(" ")):
        raw = (" " if i else "") + word
        counts[tuple(alphabet[b] for b in raw.encode())] += 1
    return counts


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train_merges(limit: int, text: str = _CORPUS) -> list[tuple[str, str]]:
    """Up to ``limit`` BPE merges learnt from ``text`` (most frequent pair first, ties by
    first occurrence so the result is deterministic)."""
    words = _words(text)
    merges: list[tuple[str, str]] = []
    while len(merges) < limit:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, n in words.items():
            for pair in pairwise(word):
                pairs[pair] += n
        if not pairs:
            break
        best = max(pairs.items(), key=lambda item: item[1])[0]
        merges.append(best)
        words = Counter({_merge(w, best): n for w, n in words.items()})
    return merges


@cache
def build_vocab(size: int) -> Vocab:
    """A vocabulary of exactly ``size`` tokens (at least 256 bytes + the ChatML tokens)."""
    if size < 256 + len(SPECIALS) + 1:
        raise ValueError(f"vocab {size} is too small for 256 bytes + ChatML tokens")
    merges = train_merges(size - 256 - len(SPECIALS))
    tokens = [*byte_alphabet(), *(a + b for a, b in merges)]
    types = [NORMAL] * len(tokens)
    tokens += SPECIALS
    types += [CONTROL] * len(SPECIALS)
    fillers = size - len(tokens)
    tokens += [f"<|unused_{i}|>" for i in range(fillers)]
    types += [UNUSED] * fillers
    if len(set(tokens)) != len(tokens):
        raise AssertionError("duplicate tokens in the generated vocabulary")
    return Vocab(tuple(tokens), tuple(types), tuple(f"{a} {b}" for a, b in merges))
