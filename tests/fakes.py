"""Fast stand-ins for the extra, quick test layer. The real bundled models run in `real_model` tests."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Deterministic bag-of-words embedder: texts sharing words get similar vectors. Not a model."""

    name = "test-hash-embedder"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


class FakeGenerator:
    """The one fake Generator of the fast test layer, complete with the protocol (ragft/models/base.py):
    `generate` and `stream` (both take `constrain_to`), `count_tokens` (whitespace words, a stand-in tokenizer),
    `name` and `context_window`. Not a model: the real bundled generator runs in the `real_model` tests.

    Args:
        reply: the answer: a string; a list of strings, replied in order (one per call); or a callable
            `reply(messages) -> str`. Subclasses may override `respond(messages, adapter)` instead.
        gate: every call waits for this event before answering (holds a request in flight).

    Records every call: `calls` (the messages), `adapters` (the adapter path or None), `constraints`
    (`constrain_to`, None when not given); `n_calls` counts them.
    """

    name = "fake"
    context_window = 2048

    def __init__(self, reply: "str | list[str] | Callable[[Sequence[dict]], str]" = "", *, name: str | None = None,
                 context_window: int | None = None, gate: "threading.Event | None" = None) -> None:
        self.reply = list(reply) if isinstance(reply, list) else reply
        if name is not None:
            self.name = name
        if context_window is not None:
            self.context_window = context_window
        self.gate = gate
        self.calls: list[list[dict]] = []
        self.adapters: list[str | None] = []
        self.constraints: list[str | None] = []

    @property
    def n_calls(self) -> int:
        return len(self.calls)

    def respond(self, messages: Sequence[dict], adapter: str | None) -> str:
        if isinstance(self.reply, list):
            return self.reply.pop(0)
        return self.reply(messages) if callable(self.reply) else self.reply

    def generate(self, messages, max_tokens=64, temperature=0.0, stop=None, adapter=None, *,  # type: ignore[no-untyped-def]
                 constrain_to=None) -> str:
        if self.gate is not None:
            assert self.gate.wait(30), "test gate never opened"
        self.calls.append(list(messages))
        self.adapters.append(adapter)
        self.constraints.append(constrain_to)
        return self.respond(messages, adapter)

    def stream(self, messages, max_tokens=64, temperature=0.0, stop=None, adapter=None, *,  # type: ignore[no-untyped-def]
               constrain_to=None) -> Iterator[str]:
        text = self.generate(messages, max_tokens, temperature, stop, adapter, constrain_to=constrain_to)
        for i, word in enumerate(text.split(" ")):
            yield word if i == 0 else " " + word

    def count_tokens(self, text: str) -> int:
        return len(text.split())
