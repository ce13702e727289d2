"""`ragft ask --questions FILE` (ragft/question_file.py): parsing with line numbers, answers in file order equal to
one `ask` each, a failing question reported with its line while the others are answered, exit codes; and on the
tiny real model, the same answers at --batch-size 1 and 3 (the continuous path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragft import cli
from ragft.question_file import BadLine, FileQuestion, parse_questions
from tests.fakes import FakeGenerator, HashEmbedder

DOCS = {
    "returns.md": "# Returns\n\nItems can be returned within 30 days of delivery with the receipt.\n",
    "giftcards.md": "# Gift cards\n\nGift cards are valid for three years from the date of purchase.\n",
}


def test_parse_questions_keeps_line_numbers_and_reports_bad_lines():
    text = "\n".join([
        "How long can I return an item?",  # 1: plain text
        "",  # 2: blank, skipped
        json.dumps({"question": " How long are gift cards valid? ", "answer": "three years"}),  # 3: QA JSONL
        json.dumps({"q": "no question field"}),  # 4
        "{not json",  # 5
        json.dumps({"question": ""}),  # 6
        "   ",  # 7: blank
        "Is there a {brace} inside? ",  # 8: plain text that merely contains a brace
    ])
    good, bad = parse_questions(text)
    assert good == [FileQuestion(1, "How long can I return an item?"), FileQuestion(3, "How long are gift cards valid?"),
                    FileQuestion(8, "Is there a {brace} inside?")]
    assert [b.line for b in bad] == [4, 5, 6]
    assert "not JSON" in bad[1].error and "\"question\"" in bad[0].error
    assert parse_questions("") == ([], [])


def _workspace(tmp_path: Path, generator, name: str = "ws"):  # type: ignore[no-untyped-def]
    from ragft.workspace import Workspace

    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    ws = Workspace(tmp_path / name, embedder=HashEmbedder(), generator=generator)
    ws.ingest([docs])
    return ws


def _reply(messages) -> str:  # type: ignore[no-untyped-def]
    text = messages[-1]["content"]
    if "explode" in text:
        raise RuntimeError("the generator broke on this prompt")
    if "gift" in text.lower():
        return "three years [1]"
    return "within 30 days of delivery [1]"


def test_cli_answers_every_line_in_order_and_reports_failures(tmp_path, monkeypatch):
    gen = FakeGenerator(_reply)
    monkeypatch.setattr(cli, "open_workspace", lambda path: _workspace(tmp_path, gen))
    questions = tmp_path / "questions.txt"
    questions.write_text("\n".join([
        "How long can I return an item?",
        json.dumps({"question": "How long are gift cards valid?", "answer": "three years"}),
        "{broken",
        "Why did the return explode?",
        "Which planet has the most moons?",
    ]), encoding="utf-8")
    res = CliRunner().invoke(cli.app, ["ask", "--questions", str(questions), "--batch-size", "2", "--json"])
    assert res.exit_code == 1, res.output  # partial failure: the bad line and the failing question
    data = json.loads(res.stdout)
    assert [(a["line"], a["question"]) for a in data["answers"]] == [
        (1, "How long can I return an item?"), (2, "How long are gift cards valid?"),
        (5, "Which planet has the most moons?")]
    assert [f["line"] for f in data["failed"]] == [3, 4]
    assert "the generator broke" in data["failed"][1]["error"] and data["questions"] == 5
    # every answer is the one `ragft ask` gives for that question alone
    ws = _workspace(tmp_path, FakeGenerator(_reply), "alone")
    for a in data["answers"]:
        alone = ws.ask(a["question"])
        assert (a["answer"], a["abstained"], a["citations"]) == (
            alone.answer, alone.abstained, [c.to_dict() for c in alone.citations])
    ws.close()
    assert data["answers"][0]["answer"].startswith("within 30 days") and data["answers"][2]["abstained"]
    # human output names each question's file and line; stdin works the same
    res = CliRunner().invoke(cli.app, ["ask", "--questions", "-"], input="How long are gift cards valid?\n")
    assert res.exit_code == 0, res.output
    assert "-:1 How long are gift cards valid?" in res.stdout and "three years" in res.stdout


@pytest.mark.parametrize("args, message", [
    (["ask"], "pass the QUESTION"),
    (["ask", "q", "--questions", "f.txt"], "not both"),
    (["ask", "q", "--batch-size", "4"], "applies to --questions"),
    (["ask", "--questions", "{missing}"], "not found"),
    (["ask", "--questions", "{empty}"], "no questions"),
    (["ask", "--questions", "{binary}"], "not UTF-8"),
])
def test_usage_errors_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.setattr(cli, "open_workspace", lambda path: _workspace(tmp_path, FakeGenerator("x")))
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00question")
    args = [a.format(missing=tmp_path / "missing.txt", empty=tmp_path / "empty.txt", binary=tmp_path / "binary.txt")
            for a in args]
    res = CliRunner().invoke(cli.app, [*args, "--json"])
    assert res.exit_code == 2, res.output
    assert message in json.loads(res.stdout)["error"]["message"]


def test_batched_and_one_at_a_time_answers_are_the_same_on_the_tiny_model(tmp_path, tiny_generator):
    """The real continuous path (TransformersGenerator on a tiny random Llama, float32): closed-book answers, so
    the raw generations are compared, not an abstention."""
    from ragft.question_file import ask_file

    ws = _workspace(tmp_path, tiny_generator)
    items = [FileQuestion(i + 1, q) for i, q in enumerate(
        ["How long can I return an item?", "Gift cards?", "What is the warranty on shoes bought in the winter sale?",
         "Who?", "How long are gift cards valid and can they be used online?"])]
    try:
        one = ask_file(ws, items, strategy="base", batch_size=1)
        many = ask_file(ws, items, [BadLine(9, "x")], strategy="base", batch_size=3)
    finally:
        ws.close()
    assert [a.answer for _, a in one.answers] == [a.answer for _, a in many.answers]
    assert len(one.answers) == 5 and any(a.answer.strip() for _, a in one.answers)
    assert one.exit_code == 0 and many.exit_code == 1 and many.to_dict()["questions"] == 6
