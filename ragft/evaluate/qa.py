"""The questions `ragft compare` asks: load a QA file, pick a seeded subset, or synthesise a held-out set.

QA file: JSONL, one object per line with "question" (string) and "answer" (a string, or null for a question the
documents cannot answer: then abstaining is the correct answer), optional "doc_id", "source", "context" and
"id". "source" names the gold document by the end of its path ("clauses/payment.md") when the answer is not a
verbatim span of it (a drafted clause, a summary); it resolves to that document's id before the run, so recall@k
and citation accuracy check the document instead of looking for the answer text.

Without a file, `heldout_set` builds the questions (an adapter's held-out split, else pairs synthesised from
passages sampled across the documents by the span-first pipeline of `ragft.finetune.synth`, else extractive
cloze questions) and turns about `UNANSWERABLE_SHARE` of them into questions the
corpus cannot answer by swapping their named entity for an invented one (`make_unanswerable`; the entity-swap
construction of SQuAD 2.0, Rajpurkar et al. 2018). The answerable questions are written to
`<workspace>/eval/heldout.jsonl`; training reads `heldout_questions(ws_path)` to leave them out.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragft.errors import ConfigError, DataError
from ragft.evaluate import metrics as M

if TYPE_CHECKING:
    from ragft.evaluate.seams import EvalWorkspace
    from ragft.finetune.synth import SynthReport
    from ragft.types import Chunk

HELDOUT_FILE = Path("eval") / "heldout.jsonl"  # answerable evaluation questions (training leaves them out)
QUESTIONS_FILE = Path("eval") / "questions.jsonl"  # every evaluated question, unanswerable ones included
UNANSWERABLE_SHARE = 0.2


# --------------------------------------------------------------------------- QA data
@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answer: str | None  # None: the documents cannot answer it; abstaining is correct
    doc_id: str | None = None
    context: str | None = None
    source: str | None = None


def load_qa(path: str | Path) -> list[QAItem]:
    """Parse a QA JSONL file; every malformed line is reported at once with its line number."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"QA file {path} not found; pass --qa FILE.jsonl with lines {{\"question\": ..., \"answer\": ...}}")
    items: list[QAItem] = []
    problems: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {lineno}: expected an object, got {type(row).__name__}")
            continue
        bad = [k for k in ("question", "answer") if not isinstance(row.get(k), str) or not row[k].strip()]
        if bad == ["answer"] and "answer" in row and row["answer"] is None:
            bad = []  # "answer": null marks an unanswerable question
        bad += [k for k in ("doc_id", "context", "source") if row.get(k) is not None and not isinstance(row[k], (str, int))]
        if bad:
            problems.append(f"line {lineno}: missing or non-string {', '.join(bad)} (an unanswerable question has \"answer\": null)")
            continue
        items.append(
            QAItem(
                id=str(row.get("id", lineno)),
                question=row["question"].strip(),
                answer=row["answer"].strip() if row["answer"] is not None else None,
                doc_id=str(row["doc_id"]) if row.get("doc_id") is not None else None,
                context=str(row["context"]) if row.get("context") is not None else None,
                source=str(row["source"]) if row.get("source") is not None else None,
            )
        )
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... {len(problems) - 10} more" if len(problems) > 10 else "")
        raise DataError(f"{path}: {len(problems)} malformed line(s): {shown}. Each line needs string \"question\" and \"answer\".")
    if not items:
        raise DataError(f"{path}: no questions; each line needs {{\"question\": ..., \"answer\": ...}}")
    return items


def resolve_sources(items: Sequence[QAItem], documents: Sequence[Any]) -> list[QAItem]:
    """Give every item that names a gold `source` (and no `doc_id`) the id of the one document whose path ends
    with it, compared by whole path components ("payment.md" matches ".../clauses/payment.md", not
    ".../late-payment.md"). No match or several matches is a DataError naming the rows, before any model runs."""
    wanted = [i for i in items if i.source and not i.doc_id]
    if not wanted:
        return list(items)
    by_parts = [(Path(d.source).parts, d.doc_id) for d in documents]
    resolved: dict[str, str] = {}
    problems: list[str] = []
    for source in dict.fromkeys(i.source for i in wanted):
        tail = Path(source).parts
        hits = sorted({doc_id for parts, doc_id in by_parts if tail and parts[-len(tail):] == tail})
        if len(hits) == 1:
            resolved[source] = hits[0]
        else:
            problems.append(f"source {source!r} matches {'no document' if not hits else f'{len(hits)} documents'}")
    if problems:
        raise DataError(f"QA file: {'; '.join(problems)}; give the end of the document's path as `ragft documents` shows it "
                        "(e.g. \"clauses/payment.md\"), unique in the workspace, or a \"doc_id\"")
    return [QAItem(**{**asdict(i), "doc_id": resolved[i.source]}) if i.source and not i.doc_id else i for i in items]


def _row(item: QAItem) -> str:
    row = {k: v for k, v in asdict(item).items() if v is not None}
    row.setdefault("answer", None)  # keep `"answer": null` for unanswerable questions
    return json.dumps(row, ensure_ascii=False)


def write_heldout(ws_path: Path, items: Sequence[QAItem]) -> Path:
    """Record the evaluation questions: the answerable ones in `eval/heldout.jsonl`, which training reads to
    leave them out (its reader wants an answer per row), and all of them in `eval/questions.jsonl`, which
    `ragft compare --qa` can rerun as is."""
    target = Path(ws_path) / HELDOUT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    answerable = [_row(i) for i in items if i.answer is not None]
    target.write_text("\n".join(answerable) + ("\n" if answerable else ""), encoding="utf-8")
    (Path(ws_path) / QUESTIONS_FILE).write_text("\n".join(_row(i) for i in items) + "\n", encoding="utf-8")
    return target


def heldout_questions(ws_path: str | Path) -> set[str]:
    """Normalised questions `compare` evaluates on in this workspace; training data must exclude them."""
    target = Path(ws_path) / HELDOUT_FILE
    if not target.is_file() or not target.read_text(encoding="utf-8").strip():
        return set()
    return {M.normalize_answer(i.question) for i in load_qa(target)}


_SENT = re.compile(r"(?<=[.!?])\s+")
_SPAN = re.compile(r"\b(1[0-9]{3}|20[0-9]{2}|\d+(?:[.,]\d+)?)\b|(?<=\s)([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)")


def synthesise_heldout(ws: "EvalWorkspace", n: int, seed: int = 0) -> list[QAItem]:
    """Extractive cloze questions from the documents (no model, deterministic given `seed`).

    Per sampled chunk: one sentence of 8-40 words, one answer span in it (a number/year, else a capitalised
    name that does not start the sentence), and the question "Fill in the blank: <sentence with ____>".
    The gold answer is the span, `doc_id` the document, `context` the sentence. Cloze questions are easier
    than natural ones, so absolute scores run high; the comparison between strategies is what they are for.
    """
    rng = random.Random(seed)
    docs = sorted(d.doc_id for d in ws.store.list_documents())
    if not docs:
        raise ConfigError("no documents in the workspace to synthesise questions from; `ragft ingest` first or pass --qa")
    rng.shuffle(docs)
    items: list[QAItem] = []
    for doc_id in docs:
        chunks = ws.store.get_chunks([f"{doc_id}:{i}" for i in range(4)])
        sentences = [s for c in chunks for s in _SENT.split(" ".join(c.text.split())) if 8 <= len(s.split()) <= 40]
        rng.shuffle(sentences)
        for sent in sentences:
            spans = [m.group(0) for m in _SPAN.finditer(sent) if m.group(0).lower() not in M.YES_NO]
            if not spans:
                continue
            span = spans[0]
            question = "Fill in the blank: " + sent.replace(span, "____", 1)
            items.append(QAItem(id=f"synth-{len(items)}", question=question, answer=span, doc_id=doc_id, context=sent))
            break
        if len(items) >= n:
            break
    if not items:
        raise ConfigError("could not synthesise any question from the documents (no sentence with a number or name); pass --qa")
    return items


def heldout_set(ws: "EvalWorkspace", n: int, seed: int = 0, unanswerable: float = UNANSWERABLE_SHARE) -> tuple[list[QAItem], str]:
    """`n` questions without --qa: about `unanswerable` of them (rounded) the corpus cannot answer, the rest
    from `answerable_heldout`; see `make_unanswerable`. Returns the questions and where they came from."""
    items, source = answerable_heldout(ws, n, seed)
    total = min(n, len(items))
    k = round(unanswerable * total) if total > 1 else 0
    if k == 0:
        return items[:n], source
    keep = items[: total - k]
    donors = items[total - k:] + keep  # prefer questions not also asked in their answerable form
    fakes = make_unanswerable(donors, k, random.Random(seed), lambda name: _absent(ws, name))
    if not fakes:
        return items[:n], source
    order = random.Random(seed + 1)
    mixed = sorted(keep + fakes, key=lambda _: order.random())  # unanswerable ones spread through the set
    return mixed, f"{source}; {len(fakes)} of {len(mixed)} made unanswerable by an entity swap"


def answerable_heldout(ws: "EvalWorkspace", n: int, seed: int = 0) -> tuple[list[QAItem], str]:
    """The questions to use without --qa, and where they came from.

    1. the held-out split the fine-tuning step wrote next to its adapters (`adapters/<name>/heldout.jsonl`):
       questions synthesised like the training ones but never trained on;
    2. else pairs synthesised now from passages sampled across the documents (`_sample_chunks`) by the
       span-first pipeline of `ragft.finetune.synth` (answer spans by rules, template questions; the same
       quality filter as training pairs);
    3. else (nothing passed the filter) extractive cloze questions (`synthesise_heldout`, no model).
    The result is written to `<workspace>/eval/heldout.jsonl` by the runner so later training excludes it.
    """
    from ragft.finetune.registry import AdapterRegistry

    seen: set[str] = set()
    items: list[QAItem] = []
    files = sorted(AdapterRegistry(ws.path).root.glob("*/heldout.jsonl"))
    for f in files:
        for item in load_qa(f):
            key = M.normalize_answer(item.question)
            if key not in seen:
                seen.add(key)
                items.append(item)
    if items:
        return items[:n], "held-out split of " + ", ".join(f.parent.name for f in files)
    from ragft.finetune.synth import synthesise_pairs

    chunks = _sample_chunks(ws, 3 * n, seed)
    if chunks:
        report = synthesise_pairs(ws.generator, chunks, n, seed=seed)
        items = [
            QAItem(id=f"synth-{i}", question=p.question, answer=p.answer, doc_id=p.oracle.doc_id, context=p.oracle.text)
            for i, p in enumerate(report.pairs)
        ]
        if items:
            return items, synth_label(report)
    return synthesise_heldout(ws, n, seed), "extractive cloze questions from the documents"


def synth_label(report: "SynthReport") -> str:
    """How the synthesised questions were made, in words, from the report of the run that made them: answer
    spans picked by rules from the text, questions formed around them by a template (or the generator's rewrite
    of the sentence, when it was given calls and its rewrite passed the checks), pairs sampled across whole
    documents."""
    if report.method != "spans":
        return "synthesised from passages across the documents: generator-written pairs, filtered"
    extra = [f"{n} {what}" for n, what in ((report.from_tables, "from table cells"),
                                           (report.rewritten, "rewritten by the generator")) if n]
    return ("synthesised from passages across the documents: rule-chosen answer spans, template questions"
            + (f" ({', '.join(extra)})" if extra else ""))


def _sample_chunks(ws: "EvalWorkspace", n: int, seed: int) -> list["Chunk"]:
    """The chunks of about `n` passages sampled across whole documents (deterministic for `seed`).

    Documents are shuffled (seeded); each gives up to `max(2, ceil(n / documents))` passages drawn at seeded
    random positions from all of its chunks, not only its first ones, so held-out questions cover the end of a
    long document as well as its title page. A passage is what synthesis works on (`merge_short_chunks`:
    consecutive chunks merged until they hold enough words), so a short chunk comes with the neighbours it is
    merged with. Passages are taken round-robin over documents (each document's first draw, then its second,
    ...) until `n`, so a small `n` still spans many documents."""
    from ragft.finetune.synth import merge_short_chunks

    rng = random.Random(seed)
    docs = sorted(d.doc_id for d in ws.store.list_documents())
    rng.shuffle(docs)
    per_doc = max(2, -(-n // max(1, len(docs))))
    drawn: list[list[tuple["Chunk", ...]]] = []
    total = 0
    for start in range(0, len(docs), 64):
        batch = docs[start : start + 64]
        by_doc: dict[str, list[Chunk]] = {}
        for c in ws.store.iter_chunks(batch):
            by_doc.setdefault(c.doc_id, []).append(c)
        for doc_id in batch:
            passages = merge_short_chunks(by_doc.get(doc_id, []))
            if passages:
                picks = rng.sample(range(len(passages)), min(per_doc, len(passages)))  # random order, not position
                drawn.append([passages[i].chunks for i in picks])
                total += len(picks)
        if total >= n:
            break
    out: list[Chunk] = []
    taken = 0
    for rank in range(per_doc):
        for picks in drawn:
            if rank < len(picks) and taken < n:
                out.extend(picks[rank])
                taken += 1
    return out


def select(items: Sequence[QAItem], limit: int | None, seed: int) -> list[QAItem]:
    """A seeded sample of `limit` items, kept in file order (all items when limit is None or larger)."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    keep = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in keep]


# --------------------------------------------------------------------------- unanswerable questions
_SYLLABLES = ("Vask", "Quen", "Morr", "Zel", "Orv", "Tal", "Brin", "Kesh", "Ulm", "Dravo", "Yss", "Phel")
_ENDINGS = ("elund", "thira", "owgate", "brandt", "anique", "muresh", "ovar", "isca", "endor", "athel")
_ENTITY = re.compile(r"(?<=[\s(\"'])([A-Z][a-z]{2,}(?:\s+(?:of\s+|de\s+|von\s+)?[A-Z][a-z]+)*)")
_NOT_ENTITY = frozenset({"What", "Which", "Who", "Where", "When", "Why", "How", "Is", "Was", "Are", "Were", "Did", "Does",
                         "Do", "The", "In", "On", "At", "Fill", "According", "Can", "Could", "Has", "Have", "Name"})


_FIRST_WORD = re.compile(r"(\S+)\s*")


def invented_name(rng: random.Random) -> str:
    """A made-up proper name (seeded): two invented parts, e.g. "Quenthira Vaskelund"."""
    return f"{rng.choice(_SYLLABLES)}{rng.choice(_ENDINGS)} {rng.choice(_SYLLABLES)}{rng.choice(_ENDINGS)}"


def swap_entity(question: str, name: str) -> str | None:
    """`question` with its named entity replaced by `name`: the longest capitalised run not opening the
    question (a full name before a lone capitalised adjective), the first of equals; None when it names none."""
    found: list[tuple[int, int, str]] = []
    for m in _ENTITY.finditer(question):
        entity, start = m.group(1), m.start(1)
        while (lead := _FIRST_WORD.match(entity)) is not None and lead.group(1) in _NOT_ENTITY:
            entity, start = entity[lead.end():], start + lead.end()
        if entity:  # the run as the question spells it (two spaces between its words stay two)
            found.append((-len(entity.split()), start, entity))
    if not found:
        return None
    _, start, entity = min(found)
    return question[:start] + name + question[start + len(entity):]


def make_unanswerable(
    donors: Sequence[QAItem], k: int, rng: random.Random, absent: Callable[[str], bool] = lambda _: True
) -> list[QAItem]:
    """Up to `k` questions the corpus cannot answer: a donor question whose named entity is swapped for an
    invented name that `absent` confirms is in no document ("When was Quenthira Vaskelund born?"). Same
    style and topic as the answerable questions, so a strategy cannot tell them apart by their form; the
    gold answer is None (abstaining is correct)."""
    out: list[QAItem] = []
    for item in donors:
        if len(out) >= k:
            break
        name = invented_name(rng)
        if not absent(name):
            continue
        question = swap_entity(item.question, name)
        if question is None:
            continue
        out.append(replace(item, id=f"unanswerable-{len(out)}", question=question, answer=None, doc_id=None,
                           context=None, source=None))
    return out


def _absent(ws: "EvalWorkspace", name: str) -> bool:
    """True when no chunk keyword search finds for `name` contains any part of it."""
    parts = [p.lower() for p in name.split()]
    hits = ws.search(name, k=5, mode="bm25")
    return not any(p in h.text.lower() for h in hits for p in parts)
