"""Training data from user files: QA JSONL, chat `messages` JSONL, prompt/completion JSONL, or CSV.

Every row is checked; malformed rows are collected with their line numbers and reported together in one
DataError (exit 2) — never silently skipped, never a crash with a traceback. Accepted row shapes:

- `{"question": str, "answer": str}` (+ optional `"doc_id"`, `"context"`): closed-book QA. The prompt is the
  same chat prompt the generator gets at answer time for the `ft` strategy (`closed_book_messages`).
- `{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}`: the last message must be the
  assistant's; everything before it is the prompt (a system message is added if the row has none).
- `{"prompt": str, "completion": str}`: the prompt becomes the user message.
- CSV with a header containing `question` and `answer` (line numbers count the header as line 1).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragft.errors import DataError
from ragft.finetune import Message, TrainExample
from ragft.prompting import CLOSED_BOOK_SYSTEM_PROMPT, closed_book_messages

# The closed-book (`ft`) chat prompt comes from ragft.prompting, the one place answer.py also builds prompts
# from, so an adapter is trained on exactly the prompt it is served with.
FT_SYSTEM = CLOSED_BOOK_SYSTEM_PROMPT
MAX_REPORTED = 20  # line numbers listed in one error message
_ROLES = {"system", "user", "assistant"}


@dataclass(frozen=True)
class QAPair:
    """A question/answer row; `doc_id`/`context` are optional hints about where the answer comes from."""

    question: str
    answer: str
    doc_id: str | None = None
    context: str | None = None
    line: int = 0


def normalise_question(text: str) -> str:
    """Lowercase, punctuation-free, single-spaced: the key for dedup and for held-out/evaluation leak checks."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def dataset_sha256(examples: Iterable[TrainExample]) -> str:
    """sha256 over the canonical JSON lines of the examples (order matters: it is the training order)."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps(ex.to_record(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


# --------------------------------------------------------------------------- parsing
def _str_field(row: dict[str, Any], key: str, problems: list[str], required: bool = True) -> str | None:
    value = row.get(key)
    if value is None:
        if required:
            problems.append(f"missing {key!r}")
        return None
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # numeric answers ("1863") are common in QA sets
        problems.append(f"{key!r} must be a string, got {type(value).__name__}")
        return None
    if required and not value.strip():
        problems.append(f"{key!r} is empty")
        return None
    return value


def _row_to_item(row: Any, line: int) -> tuple[QAPair | TrainExample | None, list[str]]:
    """Parse one row; returns (item, problems). Exactly one of them is meaningful."""
    problems: list[str] = []
    if not isinstance(row, dict):
        return None, [f"expected a JSON object, got {type(row).__name__}"]
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not msgs:
            return None, ["'messages' must be a non-empty list"]
        clean: list[Message] = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
                problems.append(f"messages[{i}] needs a role in {sorted(_ROLES)} and a string content")
            else:
                clean.append({"role": m["role"], "content": m["content"]})
        if problems:
            return None, problems
        if clean[-1]["role"] != "assistant" or not clean[-1]["content"].strip():
            return None, ["the last message must be a non-empty 'assistant' message (the training target)"]
        if not any(m["role"] == "user" for m in clean[:-1]):
            return None, ["'messages' needs a 'user' message before the assistant answer"]
        prompt = clean[:-1]
        if prompt[0]["role"] != "system":
            prompt = [{"role": "system", "content": FT_SYSTEM}, *prompt]
        return TrainExample(prompt=tuple(prompt), completion=clean[-1]["content"].strip(), origin=f"line {line}"), []
    if "prompt" in row and "question" not in row:
        prompt_text = _str_field(row, "prompt", problems)
        completion = _str_field(row, "completion", problems)
        if problems:
            return None, problems
        assert prompt_text is not None and completion is not None
        return TrainExample(prompt=tuple(closed_book_messages(prompt_text)), completion=completion.strip(), origin=f"line {line}"), []
    question = _str_field(row, "question", problems)
    answer = _str_field(row, "answer", problems)
    doc_id = _str_field(row, "doc_id", problems, required=False)
    context = _str_field(row, "context", problems, required=False)
    if problems:
        if "question" not in row and "answer" not in row:
            problems = ["needs 'question' and 'answer' (or 'messages', or 'prompt' and 'completion')"]
        return None, problems
    assert question is not None and answer is not None
    return QAPair(question.strip(), answer.strip(), doc_id or None, context or None, line), []


def _read_jsonl(path: Path) -> list[tuple[int, Any, str | None]]:
    rows: list[tuple[int, Any, str | None]] = []
    with path.open(encoding="utf-8", errors="strict") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append((line_no, json.loads(line), None))
            except json.JSONDecodeError as exc:
                rows.append((line_no, None, f"not valid JSON ({exc.msg} at column {exc.colno})"))
    return rows


def _read_csv(path: Path) -> list[tuple[int, Any, str | None]]:
    rows: list[tuple[int, Any, str | None]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = {f.strip().lower() for f in reader.fieldnames or []}
        if not {"question", "answer"} <= fields:
            raise DataError(f"{path}: line 1: CSV header must name 'question' and 'answer' columns, found {sorted(fields)}")
        for rec in reader:
            row = {(k or "").strip().lower(): v for k, v in rec.items() if k is not None}
            rows.append((reader.line_num, row, None))
    return rows


def load_rows(path: str | Path) -> list[QAPair | TrainExample]:
    """Read and validate a training file; raise DataError listing every bad line (up to MAX_REPORTED)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"training data {path} not found; pass --data FILE.jsonl (or .csv)")
    try:
        raw = _read_csv(path) if path.suffix.lower() == ".csv" else _read_jsonl(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc}); re-save the file as UTF-8") from exc
    items: list[QAPair | TrainExample] = []
    bad: list[str] = []
    for line_no, row, parse_error in raw:
        if parse_error is not None:
            bad.append(f"line {line_no}: {parse_error}")
            continue
        item, problems = _row_to_item(row, line_no)
        if problems:
            bad.append(f"line {line_no}: {'; '.join(problems)}")
        elif item is not None:
            items.append(item)
    if bad:
        more = f" (and {len(bad) - MAX_REPORTED} more)" if len(bad) > MAX_REPORTED else ""
        raise DataError(f"{path}: {len(bad)} malformed row(s): " + " | ".join(bad[:MAX_REPORTED]) + more + "; fix or remove them")
    if not items:
        raise DataError(f"{path}: no training rows; each line needs {{\"question\", \"answer\"}} or {{\"messages\": [...]}}")
    return items


def qa_to_example(qa: QAPair, doc_ids: Sequence[str] = ()) -> TrainExample:
    """A closed-book (`ft`) example: the answer-time chat prompt for the question, the answer as target."""
    ids = tuple(doc_ids) or ((qa.doc_id,) if qa.doc_id else ())
    return TrainExample(prompt=tuple(closed_book_messages(qa.question)), completion=qa.answer, doc_ids=ids, origin=f"line {qa.line}")


def split_heldout(items: Sequence[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Deterministic shuffle + split into (train, held_out); held_out has round(n * fraction) items (>=1 if
    fraction > 0 and n >= 2)."""
    import random

    order = list(items)
    random.Random(seed).shuffle(order)
    n_out = round(len(order) * fraction)
    if fraction > 0 and n_out == 0 and len(order) >= 2:
        n_out = 1
    return order[n_out:], order[:n_out]


def _eval_rows(path: Path) -> list[dict[str, Any]] | None:
    """The JSON objects of a JSONL evaluation file, or None when it is not plain JSONL (CSV, chat rows)."""
    if path.suffix.lower() == ".csv":
        return None
    rows: list[dict[str, Any]] = []
    try:
        for _, row, error in _read_jsonl(path):
            if error is not None or not isinstance(row, dict) or not isinstance(row.get("question"), str):
                return None
            rows.append(row)
    except (OSError, UnicodeDecodeError):
        return None
    return rows


def read_questions(path: str | Path) -> set[str]:
    """Normalised questions of a QA JSONL/CSV (e.g. the evaluation set) to keep out of training.

    An evaluation row may have `"answer": null` (an unanswerable question, `ragft compare`): only its question
    matters here, so such files are read leniently; anything else goes through `load_rows` and its checks.
    """
    path = Path(path)
    rows = _eval_rows(path) if path.is_file() else None
    if rows is not None:
        return {normalise_question(r["question"]) for r in rows if r["question"].strip()}
    out: set[str] = set()
    for item in load_rows(path):
        if isinstance(item, QAPair):
            out.add(normalise_question(item.question))
        else:
            users = [m["content"] for m in item.prompt if m["role"] == "user"]
            if users:
                out.add(normalise_question(users[-1]))
    return out


def read_answer_keys(path: str | Path) -> set[tuple[str, str]]:
    """(doc_id, normalised answer) of every answerable row with a doc_id: the facts an evaluation set asks about.

    Synthesis leaves these out too (`synthesise_pairs(exclude_answers=...)`), so training never holds the same
    fact as an evaluation question in other words.
    """
    path = Path(path)
    rows = _eval_rows(path) if path.is_file() else None
    return {(str(r["doc_id"]), normalise_question(str(r["answer"]))) for r in rows or []
            if r.get("doc_id") and isinstance(r.get("answer"), (str, int, float)) and str(r["answer"]).strip()}
