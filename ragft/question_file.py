"""Many questions from one file for `ragft ask --questions FILE`: read them, answer them together, report per line.

Why a file instead of one `ragft ask` per question: each cold `ragft ask` that generates pays the library imports
and the weight load again (about 9 s here, docs/benchmarks.md "## Cold start"), and answers one question at a time.
One process pays that once, and `Workspace.ask_many` shares the generator's forward passes between questions
(continuous batching, models/continuous.py) with the same decisions `ask` takes for each question alone.

The file: one question per line, either plain text or a JSON object with a "question" field (the QA JSONL that
`compare --qa` reads; other fields are ignored). Blank lines are skipped. A line that starts like JSON (`{`) but is
not an object with a non-empty "question" is reported with its line number and the rest are still answered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ragft.errors import AccessDenied, ConfigError, NotFoundError

if TYPE_CHECKING:
    from ragft.types import Answer


class Asker(Protocol):
    """What answering a file needs of a workspace (`Workspace.ask` and `Workspace.ask_many`)."""

    def ask(self, question: str, strategy: str = ..., adapter: str | None = ..., user: str | None = ...,
            groups: Any = ..., k: int | None = ...) -> "Answer": ...

    def ask_many(self, questions: Sequence[str], strategy: str = ..., adapter: str | None = ...,
                 user: str | None = ..., groups: Any = ..., k: int | None = ..., *, batch_size: int = ...,
                 on_answer: Callable[[int, "Answer"], None] | None = ...) -> list["Answer"]: ...


_CALL_ERRORS = (ConfigError, AccessDenied, NotFoundError)
"""Errors about the call (strategy, adapter, user), not about one question: raised, since every line would fail."""


@dataclass(frozen=True)
class FileQuestion:
    line: int  # 1-based line number in the file
    question: str


@dataclass(frozen=True)
class BadLine:
    line: int
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.error}


def parse_questions(text: str) -> tuple[list[FileQuestion], list[BadLine]]:
    """The questions of a file's text, and the lines that are not questions (each with what is wrong)."""
    good: list[FileQuestion] = []
    bad: list[BadLine] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("{"):
            good.append(FileQuestion(n, line))
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(BadLine(n, f"not JSON ({exc.msg}); write plain text or {{\"question\": ...}}"))
            continue
        question = row.get("question") if isinstance(row, dict) else None
        if not isinstance(question, str) or not question.strip():
            bad.append(BadLine(n, "a JSON line needs a non-empty string \"question\""))
            continue
        good.append(FileQuestion(n, question.strip()))
    return good, bad


@dataclass
class AskedFile:
    """`ragft ask --questions` result: every answer in file order (with its line and question), the lines that
    were not questions or failed, in line order (exit 1 when there are any), and the wall time of the answering."""

    answers: list[tuple[FileQuestion, "Answer"]] = field(default_factory=list)
    failed: list[BadLine] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "answers": [{"line": q.line, "question": q.question, **a.to_dict()} for q, a in self.answers],
            "failed": [b.to_dict() for b in self.failed],
            "questions": len(self.answers) + len(self.failed),
            "seconds": round(self.seconds, 2),
        }

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def ask_file(ws: Asker, questions: Sequence[FileQuestion], bad: Sequence[BadLine] = (), *,
             strategy: str = "rag", adapter: str | None = None, user: str | None = None,
             groups: Sequence[str] | None = None, k: int | None = None, batch_size: int = 8,
             progress: Callable[[int, int], None] | None = None) -> AskedFile:
    """Answer `questions` with `ws.ask_many` (`batch_size` generations at a time); when that fails part-way,
    the questions it left unanswered go one by one through `ws.ask`, and each that fails is reported with its
    line, never aborting the others. Errors about the call itself (`_CALL_ERRORS`) are raised at once."""
    if not questions:
        raise ConfigError("no questions to answer: the file has no non-empty line that is a question")
    started = time.perf_counter()
    got: dict[int, "Answer"] = {}
    failed = list(bad)

    def ready(i: int, answer: "Answer") -> None:
        got[i] = answer
        if progress is not None:
            progress(len(got), len(questions))

    texts = [q.question for q in questions]
    try:
        ws.ask_many(texts, strategy, adapter=adapter, user=user, groups=groups, k=k, batch_size=batch_size,
                    on_answer=ready)
    except _CALL_ERRORS:
        raise
    except Exception:  # noqa: BLE001 - the rest go one by one below, each failure reported with its line
        pass
    for i, q in enumerate(questions):
        if i in got:
            continue
        try:
            got[i] = ws.ask(q.question, strategy, adapter=adapter, user=user, groups=groups, k=k)
        except _CALL_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - one question's failure is data for its line
            failed.append(BadLine(q.line, f"{type(exc).__name__}: {exc}"))
        if progress is not None:
            progress(len(got) + len(failed) - len(bad), len(questions))
    answers = [(q, got[i]) for i, q in enumerate(questions) if i in got]
    return AskedFile(answers=answers, failed=sorted(failed, key=lambda b: b.line), seconds=time.perf_counter() - started)


def read_question_file(path: str, stdin: Callable[[], str]) -> tuple[list[FileQuestion], list[BadLine]]:
    """`parse_questions` of the file at `path` ("-": the text `stdin()` returns); ConfigError (exit 2) when it
    cannot be read as UTF-8 text."""
    from pathlib import Path

    if path == "-":
        return parse_questions(stdin())
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"questions file {path} not found; pass a text file with one question per line (- = stdin)")
    try:
        return parse_questions(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"questions file {path} is not UTF-8 text (byte {exc.start}); pass one question per line") from None
