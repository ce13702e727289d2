"""Model seams: `Embedder` and `Generator` protocols.

Messages are OpenAI-style dicts: [{"role": "system"|"user"|"assistant", "content": str}].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

Message = dict[str, str]


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> "np.ndarray":
        """float32 array of shape (len(texts), dim), rows L2-normalised."""
        ...


@runtime_checkable
class Generator(Protocol):
    name: str
    context_window: int

    def generate(
        self,
        messages: Sequence[Message],
        max_tokens: int = 64,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        adapter: str | None = None,
        *,
        constrain_to: str | None = None,
    ) -> str:
        """The completion text (no prompt). `adapter` is a registered LoRA adapter path, or None for the base.

        `constrain_to` (optional keyword, may be absent from older generators; answer.py checks the signature):
        copy-constrained decoding, the answer may only copy text from this string (plus `[n]` markers). The
        bundled generator enforces it; remote APIs accept and ignore it.
        """
        ...

    def stream(
        self,
        messages: Sequence[Message],
        max_tokens: int = 64,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        adapter: str | None = None,
        *,
        constrain_to: str | None = None,
    ) -> Iterator[str]:
        """The same completion, yielded in pieces as they are produced."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in this model's tokenizer."""
        ...
