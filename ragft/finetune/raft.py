"""RAFT examples: retrieval-aware fine-tuning data (Zhang et al. 2024, "RAFT: Adapting Language Model to
Domain Specific RAG").

Each example is the *answer-time* retrieval prompt — built by `ragft.prompting` with the configured layout, so
the adapter is trained on exactly what the `hybrid` strategy shows it — holding the question, the oracle chunk
(the one containing the answer) and `distractors` chunks sampled from OTHER documents, in random order. A share
`1 - oracle_share` of the examples leaves the oracle out (distractors only); their target is the abstention
sentence the RAG prompt asks for. Targets with the oracle quote the answer span as it is written in the oracle
and cite its marker, e.g. `1863 [2]`, the short extractive form the prompt asks for.

Questions in an exclusion set (the evaluation questions, normalised) never enter training.
Chunk texts are cut to a window of `chunk_words` words (around the answer in the oracle) to bound the example
length on CPU; the window is what the model sees, so the target stays grounded in it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ragft.finetune import Message, TrainExample
from ragft.finetune.data import normalise_question
from ragft.prompting import ABSTAIN_ANSWER, DEFAULT_FORMAT, get_format
from ragft.types import Chunk, Hit

PromptLayout = Callable[[str, Sequence[Hit]], list[Message]]


@dataclass(frozen=True)
class GroundedQA:
    """A question, its short answer, and the chunk that contains the answer (the RAFT oracle)."""

    question: str
    answer: str
    oracle: Chunk
    origin: str = ""


@dataclass
class RaftSet:
    examples: list[TrainExample]
    with_oracle: int = 0
    without_oracle: int = 0
    excluded: list[str] = field(default_factory=list)  # questions dropped because they are evaluation questions


def find_span(text: str, answer: str) -> tuple[int, int] | None:
    """Character span of `answer` in `text`, case-insensitive on word boundaries, or None."""
    ans = answer.strip().rstrip(".")
    if not ans:
        return None
    m = re.search(r"(?<!\w)" + re.escape(ans) + r"(?!\w)", text, flags=re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def window(text: str, max_words: int, around: tuple[int, int] | None = None) -> str:
    """At most `max_words` words of `text`; centred on the character span `around` when given."""
    words = list(re.finditer(r"\S+", text))
    if len(words) <= max_words:
        return " ".join(w.group(0) for w in words)
    start = 0
    if around is not None:
        first = next((i for i, w in enumerate(words) if w.end() > around[0]), 0)
        start = max(0, min(first - max_words // 3, len(words) - max_words))
    return " ".join(w.group(0) for w in words[start : start + max_words])


def _as_hit(chunk: Chunk, text: str, sources: dict[str, str]) -> Hit:
    return Hit(doc_id=chunk.doc_id, chunk_id=chunk.chunk_id, source=sources.get(chunk.doc_id, chunk.doc_id), score=1.0, text=text)


def build_raft_examples(
    items: Sequence[GroundedQA],
    pool: Sequence[Chunk],
    *,
    distractors: int,
    oracle_share: float,
    seed: int,
    exclude: set[str] | frozenset[str] = frozenset(),
    chunk_words: int = 60,
    layout: PromptLayout | None = None,
    sources: dict[str, str] | None = None,
) -> RaftSet:
    """RAFT examples for `items`, distractors drawn from `pool` chunks of other documents.

    Exactly round(len(kept) * oracle_share) examples contain the oracle (chosen at random with `seed`).
    Oracle-absent examples get `distractors + 1` distractors, so the number of sources never gives it away.
    """
    layout = layout or get_format(DEFAULT_FORMAT)
    sources = sources or {}
    rng = random.Random(seed)
    kept: list[GroundedQA] = []
    out = RaftSet(examples=[])
    for qa in items:
        if normalise_question(qa.question) in exclude:
            out.excluded.append(qa.question)
        else:
            kept.append(qa)
    n_present = round(len(kept) * oracle_share)
    present = set(rng.sample(range(len(kept)), n_present))
    for i, qa in enumerate(kept):
        others = [c for c in pool if c.doc_id != qa.oracle.doc_id]
        n_distract = distractors + (0 if i in present else 1)
        chosen = rng.sample(others, min(n_distract, len(others)))
        hits = [_as_hit(c, window(c.text, chunk_words), sources) for c in chosen]
        if i in present:
            span = find_span(qa.oracle.text, qa.answer)
            oracle_text = window(qa.oracle.text, chunk_words, span)
            pos = rng.randint(0, len(hits))
            hits.insert(pos, _as_hit(qa.oracle, oracle_text, sources))
            quoted = _quote(oracle_text, qa.answer)
            completion = f"{quoted} [{pos + 1}]"
            out.with_oracle += 1
        else:
            completion = ABSTAIN_ANSWER
            out.without_oracle += 1
        doc_ids = tuple(dict.fromkeys([qa.oracle.doc_id] + [h.doc_id for h in hits]))
        out.examples.append(
            TrainExample(prompt=tuple(layout(qa.question, hits)), completion=completion, doc_ids=doc_ids, origin=qa.origin)
        )
    return out


def _quote(text: str, answer: str) -> str:
    """The answer as written in the source (its casing), or the given answer when it is not a span (yes/no)."""
    span = find_span(text, answer)
    return text[span[0] : span[1]] if span else answer.strip()


def ground_pairs(
    pairs: Sequence[tuple[str, str, str | None, str]],
    chunks: Sequence[Chunk],
) -> tuple[list[GroundedQA], list[str]]:
    """Find the oracle chunk of each (question, answer, doc_id-or-None, origin): the first chunk (of that
    document, if given) containing the answer as a span. Returns (grounded, origins of pairs with no oracle).

    Pairs whose answer is not a span of any chunk (e.g. yes/no) cannot be RAFT examples; the caller reports them.
    """
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    grounded: list[GroundedQA] = []
    missing: list[str] = []
    for question, answer, doc_id, origin in pairs:
        candidates = by_doc.get(doc_id, []) if doc_id else chunks
        oracle = next((c for c in candidates if find_span(c.text, answer)), None)
        if oracle is None or answer.strip().lower() in {"yes", "no"}:
            missing.append(origin)
        else:
            grounded.append(GroundedQA(question, answer, oracle, origin))
    return grounded, missing
