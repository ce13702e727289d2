"""Question/answer pairs synthesised from the workspace's chunks (`--from-docs`, and `compare`'s held-out set).

Two methods, one quality filter:

- `spans` (default): answer spans first. Rules pick the answers a passage states — dates, years, quantities,
  names, defined terms (`ragft.finetune.spans`) and table cells (`ragft.finetune.tables`) — deterministically,
  and the question is formed around the span: the generator may rewrite the masked sentence into a question
  (at most `rewrite_calls` calls, one item per call through the `Generator` protocol), and a template question
  is used whenever there is no rewrite or the rewrite fails the checks. So the yield is a property of the text,
  not of a 135M model getting a format right, and the time is bounded by `rewrite_calls`.
- `generator`: the original free-form method (ask the generator for "Question: ... Answer: ..." per passage),
  kept for comparison (benchmarks/synth.py) and for strong remote generators.

Why a strict filter: a pair is kept only if it passes every check in `check_pair` — the answer is a short span of
its oracle chunk (so the pair is grounded and usable as a RAFT oracle), the question is a real question and does
not give the answer away — the answer is not a fragment (`ragft.wellformed`), its normalised question is new
(dedup), not an evaluation question (`exclude`), and its (document, answer) is not an evaluation answer
(`exclude_answers`: the same fact asked in other words is a leak too).

Very short chunks (a heading, one CSV row, a table header) are merged with their neighbours of the same document
before synthesis (`merge_short_chunks`), so they give questions instead of being rejected; a pair's oracle is
always the one original chunk that holds its answer. Passages are visited in a seeded round-robin over documents;
up to `per_chunk` rounds take one candidate per passage each, so pairs cover the collection before any passage
gives a second one. Same chunks, same seed, same generator: same pairs.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from ragft.finetune.data import normalise_question
from ragft.finetune.raft import GroundedQA, find_span, window
from ragft.finetune.spans import (
    KIND_ORDER,
    AnswerSpan,
    candidate_spans,
    sentences,
    starts_with_pronoun,
    template_question,
    wh_phrase,
)
from ragft.finetune.tables import TableState, table_cells
from ragft.models.base import Generator
from ragft.types import Chunk
from ragft.wellformed import degenerate_reason

SYNTH_SYSTEM = "You write quiz questions about a passage. Reply in exactly the requested format."
SYNTH_USER = (
    "Passage: {passage}\n\n"
    "Write one question that this passage answers, and its answer: a short phrase copied exactly from the passage.\n"
    "Format:\nQuestion: <question>\nAnswer: <answer>"
)
REWRITE_SYSTEM = "You turn a sentence with a blank into one natural question that asks for the blank."
# One-shot, with the wh-phrase the template chose as a hint: a 135M model needs both to stay on task.
REWRITE_USER = (
    "Sentence: Repairs under warranty take about ___.\nAsk with: how many weeks\n"
    "Question: How many weeks do repairs under warranty take?\n\n"
    "Sentence: {masked}\nAsk with: {wh}\nQuestion:"
)
METHODS = ("spans", "generator")
DEFAULT_REWRITE_CALLS = 0
"""Generator rewrites per run. 0 by default: measured on the bundled 135M model (docs/benchmarks.md
"## QA synthesis"), its rewrites pass the checks too rarely to pay for ~2 s a call; a stronger or remote generator
can be given a budget (`rewrite_calls=`)."""
MIN_PASSAGE_WORDS = 25
_Q = re.compile(r"question\s*:\s*(.+?)\s*(?:\n|answer\s*:|$)", re.IGNORECASE | re.DOTALL)
_A = re.compile(r"answer\s*:\s*(.+?)\s*(?:\n|$)", re.IGNORECASE)
_CONTENT = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
_WH = {"what", "which", "when", "where", "whom", "whose", "many", "much", "year", "date", "place", "number"}

Progress = Callable[[int, int], None]
"""`progress(done, total)`: called after every attempt; `done` pairs kept so far of the `total` asked for."""


@dataclass
class SynthReport:
    """What synthesis produced and why the rest was rejected (reason -> count), for notes and benchmarks."""

    pairs: list[GroundedQA]
    attempts: int = 0  # original chunks whose passage was tried (yield = len(pairs) / attempts)
    rejected: Counter = field(default_factory=Counter)
    method: str = "spans"
    passages: int = 0  # passages (merged chunks) tried
    candidates: int = 0  # answer candidates tried
    generator_calls: int = 0
    rewritten: int = 0  # kept pairs whose question is the generator's rewrite
    from_tables: int = 0  # kept pairs from table cells
    seconds: float = 0.0


@dataclass(frozen=True)
class Passage:
    """Consecutive chunks of one document, merged until they hold `MIN_PASSAGE_WORDS` words."""

    chunks: tuple[Chunk, ...]

    @property
    def doc_id(self) -> str:
        return self.chunks[0].doc_id

    @property
    def text(self) -> str:
        return "\n\n".join(c.text for c in self.chunks)

    def oracle_for(self, answer: str) -> Chunk | None:
        return next((c for c in self.chunks if find_span(c.text, answer)), None)


@dataclass(frozen=True)
class _Candidate:
    answer: str
    template: str | None  # None: no template fits; the rewrite is the only way to a question
    oracle: Chunk
    kind: str
    masked: str = ""  # the sentence with ___ for the answer (rewrite prompt); "" for table cells
    sentence: str = ""
    wh: str = "what"  # the template's wh-phrase, a hint for the rewrite


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


def answer_key(doc_id: str | None, answer: str) -> tuple[str, str]:
    """(document, normalised answer): the same fact, whatever the question's wording (see `exclude_answers`)."""
    return (doc_id or "", normalise_question(answer))


def merge_short_chunks(chunks: Sequence[Chunk], min_words: int = MIN_PASSAGE_WORDS) -> list[Passage]:
    """Passages of consecutive chunks (same document, ordinals in a row) holding at least `min_words` words.

    A short chunk joins the chunks after it; a short tail joins the passage before it. Document order is kept.
    """
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    out: list[Passage] = []
    for doc_chunks in by_doc.values():
        doc_chunks = sorted(doc_chunks, key=lambda c: c.ordinal)
        groups: list[list[Chunk]] = []
        current: list[Chunk] = []
        words = 0
        for c in doc_chunks:
            if current and (c.ordinal != current[-1].ordinal + 1 or words >= min_words):
                groups.append(current)
                current, words = [], 0
            current.append(c)
            words += len(c.text.split())
        if current:
            if groups and words < min_words and groups[-1][-1].ordinal + 1 == current[0].ordinal:
                groups[-1].extend(current)
            else:
                groups.append(current)
        out.extend(Passage(tuple(g)) for g in groups)
    return out


def _visit_order(passages: Sequence[Passage], rng: random.Random) -> list[Passage]:
    """Round-robin over documents (seeded), so the first pairs cover the collection, not the first long file."""
    by_doc: dict[str, list[Passage]] = {}
    for p in passages:
        by_doc.setdefault(p.doc_id, []).append(p)
    docs = sorted(by_doc)  # sorted first: the order chunks came in plays no part
    for d in docs:
        rng.shuffle(by_doc[d])
    rng.shuffle(docs)
    order: list[Passage] = []
    while any(by_doc[d] for d in docs):
        for d in docs:
            if by_doc[d]:
                order.append(by_doc[d].pop())
    return order


def _masked(span: AnswerSpan) -> str:
    return span.sentence[: span.start] + "___" + span.sentence[span.end :]


def _candidates(passage: Passage, tables: TableState, rng: random.Random) -> list[_Candidate]:
    """Answer candidates of a passage, best first and spread over its sentences/rows (one each before seconds)."""
    per_unit: list[list[tuple[tuple, _Candidate]]] = []
    seen: set[tuple[str, str]] = set()
    for chunk in passage.chunks:
        for cell in table_cells(chunk.text, tables):
            key = (cell.answer.lower(), cell.row)
            if key not in seen:
                seen.add(key)
                per_unit.append([((0, 0), _Candidate(cell.answer, cell.question, chunk, "table"))])
        for sent in sentences(chunk.text):
            unit = []
            pronoun = starts_with_pronoun(sent)
            for span in candidate_spans(sent):
                key = (span.text.lower(), sent)
                if key in seen:
                    continue
                seen.add(key)
                rank = (1 + int(pronoun), 1 + KIND_ORDER.index(span.kind))
                unit.append((rank, _Candidate(span.text, template_question(span), chunk, span.kind, _masked(span), sent,
                                              wh_phrase(span))))
            if unit:
                per_unit.append(sorted(unit, key=lambda rc: rc[0]))
    rng.shuffle(per_unit)
    per_unit.sort(key=lambda u: u[0][0])  # stable: best units first, seeded order among equals
    out: list[_Candidate] = []
    depth = 0
    while any(depth < len(u) for u in per_unit):
        out.extend(u[depth][1] for u in per_unit if depth < len(u))
        depth += 1
    return out


def _rewrite(generator: Generator, masked: str, wh: str) -> str:
    reply = generator.generate(
        [{"role": "system", "content": REWRITE_SYSTEM},
         {"role": "user", "content": REWRITE_USER.format(masked=masked, wh=wh)}],
        max_tokens=40,
        temperature=0.0,
    )
    line = next((ln for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^\s*(?:question\s*:\s*)", "", line, flags=re.IGNORECASE).strip().strip('"').strip()
    return line


# The wh-word a rewrite may ask with, per answer kind: "When ...?" cannot be answered by a name.
_WH_FOR_KIND = {
    "date": {"when", "what", "which", "on"}, "year": {"when", "what", "which", "in"},
    "quantity": {"how", "what"}, "number": {"how", "what", "which"},
    "entity": {"who", "whom", "what", "which", "where"}, "subject": {"who", "what", "which"},
}
_WH_WORD = re.compile(r"\b(what|which|who|whom|when|where|how|why)\b", re.IGNORECASE)


def rewrite_reason(question: str, sentence: str, kind: str = "") -> str | None:
    """Why a generator rewrite is not a faithful question about `sentence`, or None.

    On top of `check_pair`: no blank left, a wh-word that fits the answer's kind, and its content words come from
    the sentence (at least two, and at least 60% of them), so the rewrite asks about this sentence and invents
    nothing.
    """
    if "___" in question or "_" in question:
        return "rewrite kept the blank"
    words = {w.lower() for w in _CONTENT.findall(question)} - _WH
    source = {w.lower() for w in _CONTENT.findall(sentence)}
    wh = _WH_WORD.search(question)
    if wh is None:
        return "rewrite is not a wh-question"
    if kind in _WH_FOR_KIND and wh.group(1).lower() not in _WH_FOR_KIND[kind]:
        return "rewrite asks for another kind of answer"
    shared = words & source
    if len(shared) < 2 or len(shared) < 0.6 * len(words):
        return "rewrite drifts from the sentence"
    return None


def synthesise_pairs(
    generator: Generator,
    chunks: Sequence[Chunk],
    count: int,
    *,
    seed: int = 0,
    exclude: Collection[str] = frozenset(),
    exclude_answers: Collection[tuple[str, str]] = frozenset(),
    max_attempts: int | None = None,
    passage_words: int = 120,
    progress: Progress | None = None,
    method: str = "spans",
    rewrite_calls: int = DEFAULT_REWRITE_CALLS,
    per_chunk: int = 3,
    min_words: int = MIN_PASSAGE_WORDS,
) -> SynthReport:
    """Up to `count` filtered, deduplicated, grounded pairs from `chunks` (see the module docstring).

    `exclude`: normalised questions that must not come out (evaluation questions); `exclude_answers`:
    `answer_key(doc_id, answer)` pairs that must not either. `max_attempts` caps the original chunks tried
    (default: all for `spans`, 3 x count for `generator`). `progress(done, total)` after every attempt.
    """
    if method not in METHODS:
        raise ValueError(f"unknown synthesis method {method!r}; choose from {', '.join(METHODS)}")
    started = time.perf_counter()
    if not chunks:
        return SynthReport(pairs=[], method=method)
    rng = random.Random(seed)
    order = _visit_order(merge_short_chunks(chunks, min_words), rng)
    run = _free_form if method == "generator" else _from_spans
    report = run(generator, order, count, seed=seed, exclude=set(exclude), exclude_answers=set(exclude_answers),
                 max_attempts=max_attempts, passage_words=passage_words, progress=progress,
                 rewrite_calls=rewrite_calls, per_chunk=per_chunk)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


class _Keeper:
    """The shared acceptance rule: quality checks, fragment rule, dedup, evaluation exclusions."""

    def __init__(self, report: SynthReport, exclude: set[str], exclude_answers: set[tuple[str, str]]):
        self.report, self.exclude, self.exclude_answers = report, exclude, exclude_answers
        self.seen: set[str] = set()
        self.answers: set[tuple[str, str]] = set()

    def reason(self, question: str, answer: str, oracle: Chunk) -> str | None:
        reason = check_pair(question, answer, oracle.text)
        if reason is None and degenerate_reason(answer, question):
            reason = "answer is a fragment"
        key = normalise_question(question)
        if reason is None and key in self.exclude:
            reason = "evaluation question"
        if reason is None and answer_key(oracle.doc_id, answer) in self.exclude_answers:
            reason = "evaluation answer"
        if reason is None and key in self.seen:
            reason = "duplicate"
        return reason

    def keep(self, question: str, answer: str, oracle: Chunk) -> GroundedQA:
        self.seen.add(normalise_question(question))
        self.answers.add(answer_key(oracle.doc_id, answer))
        qa = GroundedQA(question, answer, oracle, origin=f"synth {oracle.chunk_id}")
        self.report.pairs.append(qa)
        return qa


def _from_spans(generator, order, count, *, seed, exclude, exclude_answers, max_attempts, passage_words, progress,
                rewrite_calls, per_chunk) -> SynthReport:
    report = SynthReport(pairs=[], method="spans")
    keeper = _Keeper(report, exclude, exclude_answers)
    by_doc: dict[str, list[int]] = {}
    for i, p in enumerate(order):
        by_doc.setdefault(p.doc_id, []).append(i)
    cands: dict[int, list[_Candidate]] = {}

    def candidates_of(i: int) -> list[_Candidate]:
        # Built per document, in ordinal order (a table header carries over into the next chunk), on first visit:
        # a large collection only pays for the documents it reaches.
        if i not in cands:
            tables = TableState()
            for j in sorted(by_doc[order[i].doc_id], key=lambda j: order[j].chunks[0].ordinal):
                cands[j] = _candidates(order[j], tables, random.Random(f"{seed}:{order[j].chunks[0].chunk_id}"))
        return cands[i]
    budget = max_attempts if max_attempts is not None else sum(len(p.chunks) for p in order)
    tried: set[int] = set()
    calls_left = rewrite_calls
    for depth in range(per_chunk):
        for i, passage in enumerate(order):
            if len(report.pairs) >= count:
                return report
            if i not in tried:
                if report.attempts + len(passage.chunks) > budget and report.attempts > 0:
                    continue
                tried.add(i)
                report.attempts += len(passage.chunks)
                report.passages += 1
            # The depth-th usable candidate of this passage: skip the ones already decided (kept answers).
            pending = [c for c in candidates_of(i) if answer_key(c.oracle.doc_id, c.answer) not in keeper.answers]
            while pending:
                cand = pending.pop(0)
                cands[i].remove(cand)
                report.candidates += 1
                question, rewritten = None, False
                if calls_left > 0 and cand.masked:
                    calls_left -= 1
                    report.generator_calls += 1
                    proposal = _rewrite(generator, cand.masked, cand.wh)
                    why = check_pair(proposal, cand.answer, cand.oracle.text) or rewrite_reason(proposal, cand.sentence, cand.kind)
                    if why is None and keeper.reason(proposal, cand.answer, cand.oracle) is None:
                        question, rewritten = proposal, True
                    else:
                        report.rejected[f"rewrite: {why or 'filtered'}"] += 1
                if question is None:
                    if cand.template is None:
                        report.rejected["no template fits"] += 1
                        continue
                    question = cand.template
                reason = keeper.reason(question, cand.answer, cand.oracle)
                if reason is not None:
                    report.rejected[reason] += 1
                    continue
                keeper.keep(question, cand.answer, cand.oracle)
                report.rewritten += int(rewritten)
                report.from_tables += int(cand.kind == "table")
                break
            if progress is not None:
                progress(len(report.pairs), count)
    return report


def _free_form(generator, order, count, *, seed, exclude, exclude_answers, max_attempts, passage_words, progress,
               rewrite_calls, per_chunk) -> SynthReport:
    """The original method: one free-form "Question/Answer" generation per passage."""
    report = SynthReport(pairs=[], method="generator")
    keeper = _Keeper(report, exclude, exclude_answers)
    limit = max_attempts if max_attempts is not None else 3 * count
    for passage in order:
        if len(report.pairs) >= count or report.attempts >= limit:
            break
        report.attempts += len(passage.chunks)
        report.passages += 1
        text = window(passage.text, passage_words)
        report.generator_calls += 1
        reply = generator.generate(
            [{"role": "system", "content": SYNTH_SYSTEM}, {"role": "user", "content": SYNTH_USER.format(passage=text)}],
            max_tokens=48,
            temperature=0.0,
        )
        parsed = parse_reply(reply)
        if parsed is None:
            report.rejected["unparseable reply"] += 1
        else:
            question, answer = parsed
            reason = check_pair(question, answer, text)
            oracle = passage.oracle_for(answer) if reason is None else None
            if reason is None and oracle is None:
                reason = "answer not in passage"
            if reason is None and oracle is not None:
                reason = keeper.reason(question, answer, oracle)
            if reason is not None:
                report.rejected[reason] += 1
            elif oracle is not None:
                keeper.keep(question, answer, oracle)
        if progress is not None:
            progress(len(report.pairs), count)
    return report
