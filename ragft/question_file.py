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
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ragft.errors import AccessDenied, ConfigError, NotFoundError

if TYPE_CHECKING:
    from ragft.types import Answer

log = logging.getLogger(__name__)


class Asker(Protocol):
    """What answering a file needs of a workspace (`Workspace.ask` and `Workspace.ask_many`)."""

    def ask(self, question: str, strategy: str = ..., adapter: str | None = ..., user: str | None = ...,
            groups: Any = ..., k: int | None = ...) -> "Answer": ...

    def ask_many(self, questions: Sequence[str], strategy: str = ..., adapter: str | None = ...,
                 user: str | None = ..., groups: Any = ..., k: int | None = ..., *, batch_size: int = ...,
                 on_answer: Callable[[int, "Answer"], None] | None = ...) -> list["Answer"]: ...


_CALL_ERRORS = (ConfigError, AccessDenied, NotFoundError)
"""Errors about the call (strategy, adapter, user), not about one question: raised, since every line would fail."""
INTERRUPTED = "not answered: interrupted (Ctrl-C)"
SAME_FAILURES = 3
"""After this many questions in a row fail alone with the same error, the rest are not tried: the cause is not one
question (e.g. weights that do not load), and each try could take as long as a load."""


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
    for n, raw in enumerate(text.removeprefix("\ufeff").split("\n"), 1):  # line numbers as editors count them
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
    interrupted: bool = False  # Ctrl-C: the answers so far are kept, the rest are failed lines (`INTERRUPTED`)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answers": [{"line": q.line, "question": q.question, **a.to_dict()} for q, a in self.answers],
            "failed": [b.to_dict() for b in self.failed],
            "questions": len(self.answers) + len(self.failed),
            "seconds": round(self.seconds, 2),
            "interrupted": self.interrupted,
        }

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else 1 if self.failed else 0


def ask_file(ws: Asker, questions: Sequence[FileQuestion], bad: Sequence[BadLine] = (), *,
             strategy: str = "rag", adapter: str | None = None, user: str | None = None,
             groups: Sequence[str] | None = None, k: int | None = None, batch_size: int = 8,
             progress: Callable[[int, int], None] | None = None) -> AskedFile:
    """Answer `questions` with `ws.ask_many` (`batch_size` generations at a time); when that fails part-way,
    every question it left unanswered goes one by one through `ws.ask`, and each that fails is reported with its
    line, never aborting the others (until `SAME_FAILURES` in a row fail alike). Errors about the call itself
    (`_CALL_ERRORS`) are raised at once. An answer delivered before such a failure keeps the latency of its own
    work, without a share of the generation."""
    if not questions and not bad:
        raise ConfigError("no questions to answer: the file has no non-empty line")
    started = time.perf_counter()
    got: dict[int, "Answer"] = {}
    failed = list(bad)

    def ready(i: int, answer: "Answer") -> None:
        got[i] = answer
        if progress is not None:
            progress(len(got), len(questions))

    texts = [q.question for q in questions]
    interrupted = False
    try:
        if texts:
            ws.ask_many(texts, strategy, adapter=adapter, user=user, groups=groups, k=k, batch_size=batch_size,
                        on_answer=ready)
    except _CALL_ERRORS:
        raise
    except KeyboardInterrupt:  # keep what is answered (models/compute.py stops the run at its next step)
        interrupted = True
    except Exception as exc:  # noqa: BLE001 - the rest go one by one below, each failure reported with its line
        log.warning("answering together failed (%s: %s); the %d questions left go one by one",
                    type(exc).__name__, exc, len(questions) - len(got))
    streak: list[str] = []  # the errors of the last questions that failed alone, since the last answer
    for i, q in enumerate(questions):
        if i in got:
            continue
        if interrupted:
            failed.append(BadLine(q.line, INTERRUPTED))
            continue
        if len(streak) >= SAME_FAILURES and len(set(streak[-SAME_FAILURES:])) == 1:
            failed.append(BadLine(q.line, f"not tried: the {SAME_FAILURES} questions before it failed with {streak[-1]}"))
            continue
        try:
            got[i] = ws.ask(q.question, strategy, adapter=adapter, user=user, groups=groups, k=k)
            streak.clear()
        except _CALL_ERRORS:
            raise
        except KeyboardInterrupt:
            interrupted = True
            failed.append(BadLine(q.line, INTERRUPTED))
        except Exception as exc:  # noqa: BLE001 - one question's failure is data for its line
            streak.append(f"{type(exc).__name__}: {exc}")
            failed.append(BadLine(q.line, streak[-1]))
        if progress is not None:
            progress(len(got) + len(failed) - len(bad), len(questions))
    answers = [(q, got[i]) for i, q in enumerate(questions) if i in got]
    return AskedFile(answers=answers, failed=sorted(failed, key=lambda b: b.line), seconds=time.perf_counter() - started,
                     interrupted=interrupted)


def read_question_file(path: str, stdin: Callable[[], bytes]) -> tuple[list[FileQuestion], list[BadLine]]:
    """`parse_questions` of the file at `path` ("-": the bytes `stdin()` returns), read the same way from both:
    UTF-8, a byte-order mark dropped; ConfigError (exit 2) when it is not UTF-8 text or not there."""
    from pathlib import Path

    if path == "-":
        data = stdin()
    else:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"questions file {path} not found; pass a text file with one question per line (- = stdin)")
        data = file.read_bytes()
    try:
        return parse_questions(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"questions file {path} is not UTF-8 text (byte {exc.start}); pass one question per line") from None
