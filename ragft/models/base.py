"""Model seams: `Embedder` and `Generator` protocols, and `GeneratorBase`, which derives the protocol's methods
from one completion method so implementations do not repeat the signatures.

Messages are OpenAI-style dicts: [{"role": "system"|"user"|"assistant", "content": str}].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class BatchItem:
    """One prompt of a batched generation: its messages and its copy constraint (`constrain_to`, or None).

    `head`: the constant text the last message starts with (its layout's opening, `prompting.constant_head`;
    never caller text), which a generator may keep cached with the messages before it: every prompt of that
    layout starts with the same tokens there (the bundled generator's `PrefixCache`)."""

    messages: Sequence[Message]
    constrain_to: str | None = None
    head: str = ""


@dataclass(frozen=True)
class Decoding:
    """The decoding settings one call (or a whole batch) shares. `adapter`: a registered LoRA adapter path.

    `paragraph`: the caller keeps only the first non-empty paragraph of the text (`answer.clean_answer`), so the
    generator may stop once that paragraph has ended (`stops.paragraph_ended`); the kept text is the same. Why:
    a tiny model that repeats its answer line after line ran to the 64-token cap, and in a batch that one row
    decoded alone for seconds after the others had finished. The bundled generator honours it; a remote API
    cannot express "a blank line after some text" as a stop string, so there it changes nothing."""

    max_tokens: int = 64
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    adapter: str | None = None
    paragraph: bool = False

    @classmethod
    def of(cls, max_tokens: int = 64, temperature: float = 0.0, stop: Sequence[str] | None = None,
           adapter: str | None = None, paragraph: bool = False) -> "Decoding":
        return cls(max_tokens, temperature, tuple(s for s in (stop or ()) if s), adapter, paragraph)


@runtime_checkable
class Generator(Protocol):
    name: str
    context_window: int

    def generate(self, messages: Sequence[Message], max_tokens: int = 64, temperature: float = 0.0,
                 stop: Sequence[str] | None = None, adapter: str | None = None, *,
                 constrain_to: str | None = None) -> str:
        """The completion text (no prompt). `adapter` is a registered LoRA adapter path, or None for the base.

        `constrain_to`: copy-constrained decoding, the answer may only copy text from this string (plus `[n]`
        markers). The bundled generator enforces it; remote APIs accept and ignore it.
        """
        ...

    def stream(self, messages: Sequence[Message], max_tokens: int = 64, temperature: float = 0.0,
               stop: Sequence[str] | None = None, adapter: str | None = None, *,
               constrain_to: str | None = None) -> Iterator[str]:
        """The same completion, yielded in pieces as they are produced."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in this model's tokenizer."""
        ...


def generate_batch(gen: Generator, items: Sequence[BatchItem], decoding: Decoding, width: int | None = None) -> list[str]:
    """The completions of `items` (same order), all with `decoding`, at most `width` (default: all) decoded
    together: continuously when the generator has `generate_continuous` (the bundled one: a finished row's place
    goes to the next item), in batches of `width` when it has `generate_batch` (GeneratorBase), else one
    `generate` per item (any other Protocol implementation)."""
    width = width or max(1, len(items))
    if getattr(gen, "generate_continuous", None) is not None:
        return list(gen.generate_batch(items, decoding, width=width))  # type: ignore[attr-defined]
    batched = getattr(gen, "generate_batch", None)
    if batched is not None:
        return [text for i in range(0, len(items), width) for text in batched(items[i:i + width], decoding)]
    return [gen.generate(it.messages, decoding.max_tokens, decoding.temperature, list(decoding.stop),
                         decoding.adapter, constrain_to=it.constrain_to) for it in items]


class GeneratorBase:
    """The Generator protocol built on one method, `complete`; subclasses may add a real `generate_batch`.

    Why: `generate` and `stream` take the same six arguments; written out in every generator, the signatures
    and their argument checks drifted. Here they are spelled once and packed into a `Decoding`.
    """

    name: str
    context_window: int

    def complete(self, messages: Sequence[Message], decoding: Decoding, constrain_to: str | None,
                 streaming: bool) -> Iterator[str]:
        """The completion in pieces (`streaming`: as produced; otherwise one piece is fine), stop strings cut."""
        raise NotImplementedError

    def generate(self, messages: Sequence[Message], max_tokens: int = 64, temperature: float = 0.0,
                 stop: Sequence[str] | None = None, adapter: str | None = None, *,
                 constrain_to: str | None = None) -> str:
        """See `Generator.generate`."""
        return self.generate_one(BatchItem(messages, constrain_to), Decoding.of(max_tokens, temperature, stop, adapter))

    def generate_one(self, item: BatchItem, decoding: Decoding) -> str:
        """`generate` with its arguments packed; the bundled generator coalesces concurrent calls here."""
        return "".join(self.complete(item.messages, decoding, item.constrain_to, streaming=False))

    def stream(self, messages: Sequence[Message], max_tokens: int = 64, temperature: float = 0.0,
               stop: Sequence[str] | None = None, adapter: str | None = None, *,
               constrain_to: str | None = None) -> Iterator[str]:
        """See `Generator.stream`."""
        return self.complete(messages, Decoding.of(max_tokens, temperature, stop, adapter), constrain_to, streaming=True)

    def generate_batch(self, items: Sequence[BatchItem], decoding: Decoding) -> list[str]:
        """The completions of `items`, in order. This default answers one at a time (remote servers batch
        concurrent requests themselves); the bundled generator overrides it with one padded forward pass."""
        return ["".join(self.complete(it.messages, decoding, it.constrain_to, streaming=False)) for it in items]

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError
