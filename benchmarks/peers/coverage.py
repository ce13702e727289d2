"""What an ingest really embedded: word pieces kept, word pieces the model cut off, source words in no vector.

Every system here embeds with all-MiniLM-L6-v2, which sees at most `max_seq_length` (256) word pieces per text,
[CLS] and [SEP] included, so 254 pieces of content; sentence-transformers (and ragft's ONNX path, and LlamaIndex's
HuggingFaceEmbedding) silently drop the rest. A system that puts a whole abstract into one text therefore embeds
less than it stores, which makes it look fast. This module counts it, from the texts each system handed to the
model (`(document key, embedded text)` pairs, gathered after the timed ingest):

- pieces / pieces embedded / pieces truncated: per embedded text, its word pieces (no special tokens), the ones
  within the limit, the ones beyond it (summed; an upper bound of the text lost when chunks overlap, since an
  overlapping neighbour may embed the same words);
- source words in no embedded text: per document, the distinct whitespace-separated words of the source file
  that occur in none of the kept prefixes of its embedded texts (the model's truncation applied), summed. 0 means
  no text dropped, whatever the overlap; the same count as benchmarks/ingest.py's "source words dropped", but after
  truncation. Words cut in half at the truncation point count as dropped (conservative).

Stdlib only plus a tokenizer the caller passes (`encode`: texts -> per text the (start, end) character offsets of
its word pieces), so it runs in both venvs and a test can drive it with a fake tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

Offsets = list[tuple[int, int]]
Encode = Callable[[Sequence[str]], list[Offsets]]
SPECIAL_TOKENS = 2  # [CLS] and [SEP] count against max_seq_length


@dataclass(frozen=True)
class Coverage:
    """Totals over one system's embedded texts (module docstring)."""

    texts: int
    pieces: int
    pieces_embedded: int
    pieces_truncated: int
    texts_truncated: int
    max_text_pieces: int
    source_docs: int
    source_pieces: int
    source_words: int
    source_words_missing: int
    docs_missing_words: int
    docs_without_text: int
    limit: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def coverage(embedded: Iterable[tuple[str, str]], sources: Mapping[str, str], encode: Encode, limit: int) -> Coverage:
    """Count the word pieces embedded and cut off, and the source words no kept text contains.

    `embedded`: (document key, text given to the model); `sources`: document key -> source file text; `limit`:
    content word pieces the model keeps per text (max_seq_length minus the special tokens).
    """
    pairs = list(embedded)
    offsets = encode([text for _, text in pairs]) if pairs else []
    kept_words: dict[str, set[str]] = {}
    pieces = kept_total = truncated = texts_cut = longest = 0
    for (key, text), offs in zip(pairs, offsets):
        n = len(offs)
        kept = min(n, limit)
        pieces += n
        kept_total += kept
        truncated += n - kept
        texts_cut += n > kept
        longest = max(longest, n)
        kept_text = text if n <= limit else text[: offs[kept - 1][1]] if kept else ""
        kept_words.setdefault(key, set()).update(kept_text.split())
    keys = list(sources)
    source_offsets = encode([sources[k] for k in keys]) if keys else []
    missing = docs_missing = words_total = 0
    for key in keys:
        words = set(sources[key].split())
        words_total += len(words)
        lost = len(words - kept_words.get(key, set()))
        missing += lost
        docs_missing += lost > 0
    return Coverage(
        texts=len(pairs), pieces=pieces, pieces_embedded=kept_total, pieces_truncated=truncated,
        texts_truncated=texts_cut, max_text_pieces=longest, source_docs=len(keys),
        source_pieces=sum(len(o) for o in source_offsets), source_words=words_total,
        source_words_missing=missing, docs_missing_words=docs_missing,
        docs_without_text=sum(1 for k in keys if k not in kept_words), limit=limit,
    )


def minilm_encoder(model_dir: str | Path) -> tuple[Encode, int]:
    """The model's own word-piece tokenizer (no padding, no truncation, no special tokens) and its content limit."""
    from tokenizers import Tokenizer

    folder = Path(model_dir)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    config = folder / "sentence_bert_config.json"
    max_seq = int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length") or 512) if config.is_file() else 512

    def encode(texts: Sequence[str]) -> list[Offsets]:
        return [list(e.offsets) for e in tok.encode_batch(list(texts), add_special_tokens=False)]

    return encode, max_seq - SPECIAL_TOKENS


def read_sources(folder: Path) -> dict[str, str]:
    """Document key (file stem) -> file text, for every .txt file in `folder`."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))}
