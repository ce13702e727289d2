"""Question/answer pairs synthesised from the workspace's chunks with the configured generator (`--from-docs`).

Why a strict filter: the bundled generator is a 135M model; many of its questions are vague or their answers are
not in the passage. A pair is kept only if it passes every check in `check_pair` — the answer is a short span of
the passage (so the pair is grounded and usable as a RAFT oracle), the question is a real question about the
passage and does not give the answer away — and its normalised question is new (dedup) and not an evaluation
question (`exclude`). The kept pairs are split into train and a held-out set that never enters training
(written next to the adapter as `heldout.jsonl` for `ragft compare`).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ragft.finetune.data import normalise_question
from ragft.finetune.raft import GroundedQA, find_span, window
from ragft.models.base import Generator
from ragft.types import Chunk

SYNTH_SYSTEM = "You write quiz questions about a passage. Reply in exactly the requested format."
SYNTH_USER = (
    "Passage: {passage}\n\n"
    "Write one question that this passage answers, and its answer: a short phrase copied exactly from the passage.\n"
    "Format:\nQuestion: <question>\nAnswer: <answer>"
)
_Q = re.compile(r"question\s*:\s*(.+?)\s*(?:\n|answer\s*:|$)", re.IGNORECASE | re.DOTALL)
_A = re.compile(r"answer\s*:\s*(.+?)\s*(?:\n|$)", re.IGNORECASE)


@dataclass
class SynthReport:
    pairs: list[GroundedQA]
    attempts: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> count


def parse_reply(reply: str) -> tuple[str, str] | None:
    """(question, answer) from a "Question: ... Answer: ..." reply, or None."""
    q, a = _Q.search(reply), _A.search(reply)
    if not q or not a:
        return None
    question = q.group(1).strip().strip('"')
    answer = a.group(1).strip().strip('"').rstrip(".")
    return (question, answer) if question and answer else None


def check_pair(question: str, answer: str, passage: str) -> str | None:
    """The reason to reject a pair, or None when it passes the quality filter."""
    qwords = question.split()
    if not question.endswith("?"):
        return "not a question"
    if not 4 <= len(qwords) <= 30:
        return "question length"
    if not 1 <= len(answer.split()) <= 8:
        return "answer length"
    if find_span(passage, answer) is None:
        return "answer not in passage"
    if find_span(question, answer) is not None:
        return "question gives the answer away"
    if normalise_question(question).rstrip("?") in normalise_question(passage):
        return "question copied from passage"
    return None


def synthesise_pairs(
    generator: Generator,
    chunks: Sequence[Chunk],
    count: int,
    *,
    seed: int = 0,
    exclude: set[str] | frozenset[str] = frozenset(),
    max_attempts: int | None = None,
    passage_words: int = 120,
    progress: Callable[[int, int], None] | None = None,
) -> SynthReport:
    """Up to `count` filtered, deduplicated pairs; tries chunks in a seeded order spread over documents."""
    if not chunks:
        return SynthReport(pairs=[])
    rng = random.Random(seed)
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    for lst in by_doc.values():
        rng.shuffle(lst)
    # Round-robin over documents so the pairs cover the collection, not the first long file.
    order: list[Chunk] = []
    docs = list(by_doc)
    rng.shuffle(docs)
    while any(by_doc[d] for d in docs):
        for d in docs:
            if by_doc[d]:
                order.append(by_doc[d].pop())
    limit = max_attempts if max_attempts is not None else min(len(order), 3 * count)
    report = SynthReport(pairs=[])
    seen: set[str] = set()
    for chunk in order[:limit]:
        if progress is not None and report.attempts:  # after every attempt, kept or not: each is a generator call
            progress(len(report.pairs), count)
        if len(report.pairs) >= count:
            break
        report.attempts += 1
        passage = window(chunk.text, passage_words)
        reply = generator.generate(
            [{"role": "system", "content": SYNTH_SYSTEM}, {"role": "user", "content": SYNTH_USER.format(passage=passage)}],
            max_tokens=48,
            temperature=0.0,
        )
        parsed = parse_reply(reply)
        if parsed is None:
            report.rejected["unparseable reply"] += 1
            continue
        question, answer = parsed
        reason = check_pair(question, answer, passage)
        key = normalise_question(question)
        if reason is None and key in seen:
            reason = "duplicate"
        if reason is None and key in exclude:
            reason = "evaluation question"
        if reason is not None:
            report.rejected[reason] += 1
            continue
        seen.add(key)
        report.pairs.append(GroundedQA(question, answer, chunk, origin=f"synth {chunk.chunk_id}"))
    if progress is not None and report.attempts:
        progress(len(report.pairs), count)
    return report
