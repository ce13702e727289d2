"""Heading-aware chunking: blocks -> token-sized chunks with overlap, never crossing a heading.

Algorithm (per section = consecutive blocks under the same heading path):
1. Cut the section into units: whole paragraphs when they fit the budget, else their sentences, else
   word windows (a "sentence" longer than the budget, e.g. a table dump).
2. Pack units greedily up to the budget. When a chunk is full, the next one starts with the tail of the
   previous chunk (whole trailing sentences up to `overlap_tokens`, else trailing words), so a fact cut by a
   boundary is still whole in one of the two chunks.
The budget is `max_tokens` minus the heading's tokens (at most half), because the heading is embedded
together with the chunk text (see `embedding_text`).

Token counting: `approx_tokens` counts regex word/punctuation tokens plus one extra token per 8 characters of
a long word. Measured on the 3,200 rag-mini-wikipedia passages against the all-MiniLM-L6-v2 word-piece
tokenizer (benchmarks/ingest.py --tokens; docs/benchmarks.md "## Ingest"): mean error +2 %, mean absolute
error 6 %, under-counts by more than 10 % on 6 % of passages; `words x 1.3` has the same mean but 10 % MAE
and under-counts on 19 %. It needs no model files, so chunking does not depend on which embedder is
configured, and chunks stay within the embedder's 256-token window at the default size (200) but for the rare
under-count: ingest then splits that chunk with the embedder's own tokenizer (`fit_to_window`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

from ragft.documents.loaders import Block

TokenCounter = Callable[[str], int]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？])\s+|\n+")
_LINE_END = re.compile(r"\s*\n\s*")


def approx_tokens(text: str) -> int:
    """Approximate word-piece token count (see the module docstring for how it was measured)."""
    return sum(1 + (len(tok) - 1) // 8 for tok in _TOKEN.findall(text))


@dataclass(frozen=True)
class TextChunk:
    """A chunk before it gets ids: its text, the heading path (" > "-joined) and its token count."""

    text: str
    heading: str
    n_tokens: int


HEADING_SEP = " > "


def embedding_text(heading: str, text: str, title: str = "") -> str:
    """What gets embedded for a chunk: its heading path (or the document title) as context, then the text."""
    context = heading or title
    return f"{context}\n{text}" if context else text


def _spans(text: str, boundary: re.Pattern[str]) -> list[tuple[int, int, str]]:
    """The non-blank pieces of `text` between matches of `boundary`: (start, end, the break before it)."""
    breaks = list(boundary.finditer(text))
    starts, ends = [0, *(m.end() for m in breaks)], [*(m.start() for m in breaks), len(text)]
    gaps = ["", *(m.group(0) for m in breaks)]
    return [(a, b, gap) for a, b, gap in zip(starts, ends, gaps) if text[a:b].strip()]


def _units(text: str, budget: int, count: TokenCounter) -> list[tuple[str, str]]:
    """`text` as pieces of at most `budget` tokens: itself, its sentences, or word windows; each with what joins it
    to the piece before: "\n" where the text broke the line there (a list item, a record's line), else " "."""
    if count(text) <= budget:
        return [("", text)]
    out: list[tuple[str, str]] = []
    for a, b, gap in _spans(text, _SENTENCE_END):
        sentence = text[a:b].strip()
        joiner = "\n" if "\n" in gap else " "
        if count(sentence) <= budget:
            out.append((joiner, sentence))
            continue
        window: list[str] = []
        used = 0
        for word in sentence.split():
            n = count(word)
            if window and used + n > budget:
                out.append((joiner, " ".join(window)))
                window, used, joiner = [], 0, " "
            window.append(word)  # a single word above the budget is kept whole (never lose text)
            used += n
        if window:
            out.append((joiner, " ".join(window)))
    return out


def _tail(text: str, overlap: int, count: TokenCounter) -> str:
    """The end of `text` worth at most `overlap` tokens, as the text writes it: whole lines if possible (a table
    row, a record or a list item repeats whole, never its last field alone), else whole sentences, else words."""
    if overlap <= 0:
        return ""
    for boundary in (_LINE_END, _SENTENCE_END):
        spans = _spans(text, boundary)
        picked = _last_fitting([text[a:b] for a, b, _ in spans], overlap, count)
        if picked:  # line and paragraph breaks kept
            return text[spans[len(spans) - len(picked)][0]:].strip()
    return " ".join(_last_fitting(text.split(), overlap, count))


def _last_fitting(pieces: Sequence[str], budget: int, count: TokenCounter) -> list[str]:
    """The longest run of `pieces` at the end whose token counts add up to at most `budget`."""
    picked: list[str] = []
    used = 0
    for piece in reversed(pieces):
        n = count(piece)
        if used + n > budget:
            break
        picked.insert(0, piece)
        used += n
    return picked


def _pack(units: Sequence[tuple[str, str]], budget: int, overlap: int, count: TokenCounter) -> list[str]:
    """Greedy packing of (joiner, text) units; joiner is "\\n\\n" at a paragraph start, " " inside one."""
    chunks: list[str] = []
    parts: list[tuple[str, str]] = []
    used = 0
    for joiner, unit in units:
        n = count(unit)
        if parts and used + n > budget:
            text = _join(parts)
            chunks.append(text)
            tail = _tail(text, min(overlap, budget - n), count)
            parts = [("", tail)] if tail else []
            used = count(tail) if tail else 0
        parts.append((joiner, unit))
        used += n
    if parts:
        chunks.append(_join(parts))
    return chunks


def fit_to_window(chunks: Sequence[TextChunk], title: str, window: int, count: TokenCounter) -> list[TextChunk]:
    """`chunks` with each one whose embedding text (`embedding_text`) is longer than `window` real tokens of the
    embedder (`count`) split into pieces that fit, so the embedder never truncates: no text is left unembedded.

    Why: chunking budgets with `approx_tokens`, which under-counts some texts (URLs, formulas, non-English words);
    with the heading or title on top, ~0.4% of SciFact chunks at the default 200 reached 256-278 word pieces, and
    the model silently drops what is past its window (benchmarks/peers --scifact counts it). Chunks that fit are
    returned unchanged, so only those few documents chunk differently."""
    out: list[TextChunk] = []
    for chunk in chunks:
        if count(embedding_text(chunk.heading, chunk.text, title)) <= window:
            out.append(chunk)
            continue
        budget = max(window - count(chunk.heading or title) - 1, window // 2)
        # Paragraph breaks stay as they were (the erasure scrub and citations find sentences by them).
        units = [("\n\n" if i == 0 else joiner, unit) for para in chunk.text.split("\n\n") if para.strip()
                 for i, (joiner, unit) in enumerate(_units(para.strip(), budget, count))]
        for text in _pack(units, budget, 0, count):
            out.append(TextChunk(text=text, heading=chunk.heading, n_tokens=approx_tokens(text)))
    return out


def _join(parts: Sequence[tuple[str, str]]) -> str:
    out = parts[0][1]
    for joiner, text in parts[1:]:
        out += (joiner or " ") + text
    return out


def chunk_blocks(
    blocks: Iterable[Block],
    max_tokens: int = 200,
    overlap_tokens: int = 40,
    count: TokenCounter = approx_tokens,
) -> list[TextChunk]:
    """Split blocks into chunks of about `max_tokens` tokens, overlapping by up to `overlap_tokens`.

    Chunks never span two heading paths; each keeps its path in `heading` ("Guide > Returns > Refunds").
    """
    if overlap_tokens >= max_tokens:
        raise ValueError(f"overlap_tokens ({overlap_tokens}) must be below max_tokens ({max_tokens})")
    chunks: list[TextChunk] = []
    for headings, section in groupby(blocks, key=lambda b: b.headings):
        heading = HEADING_SEP.join(headings)
        budget = max(max_tokens - count(heading), max_tokens // 2)
        overlap = min(overlap_tokens, budget // 2)
        units: list[tuple[str, str]] = []
        for block in section:
            text = block.text.strip()
            if not text:
                continue
            for i, (joiner, unit) in enumerate(_units(text, budget, count)):
                units.append(("\n\n" if i == 0 else joiner, unit))
        for text in _pack(units, budget, overlap, count):
            chunks.append(TextChunk(text=text, heading=heading, n_tokens=count(text)))
    return chunks
