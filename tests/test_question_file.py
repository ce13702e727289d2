"""`ragft ask --questions FILE` (ragft/question_file.py): parsing with line numbers, answers in file order equal to
one `ask` each, a failing question reported with its line while the others are answered, exit codes; and on the
tiny real model, the same answers at --batch-size 1 and 3 (the continuous path)."""

from __future__ import annotations

import dataclasses
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
    # a byte-order mark (JSONL saved on Windows) and CRLF line ends; line numbers as an editor counts them
    bom = parse_questions("\ufeff" + json.dumps({"question": "Q1?"}) + "\r\nQ2?\r\n\x0cQ3?\u2028still Q3")
    assert bom == ([FileQuestion(1, "Q1?"), FileQuestion(2, "Q2?"), FileQuestion(3, "Q3?\u2028still Q3")], [])


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
    res = CliRunner().invoke(cli.app, ["ask", "--questions", "-"],
                             input="How long are gift cards valid?\nWhich planet has the most moons?\n")
    assert res.exit_code == 0, res.output
    assert "-:1 How long are gift cards valid?" in res.stdout and "three years" in res.stdout
    # the lines on stderr say which question they are about too (stdout may go to a file)
    assert "-:2 abstained: " in res.stderr and "-:1 rag · " in res.stderr and "-:1 abstained" not in res.stderr


def test_a_file_of_bad_lines_reports_each_line_and_nothing_is_lost_on_a_markup_like_question(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "open_workspace", lambda path: _workspace(tmp_path, FakeGenerator(_reply)))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": 1}\n\n{"question": 5}\n', encoding="utf-8")
    res = CliRunner().invoke(cli.app, ["ask", "--questions", str(bad), "--json"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)
    assert data["answers"] == [] and [f["line"] for f in data["failed"]] == [1, 3] and data["questions"] == 2
    # text that looks like rich markup is printed as it is, not parsed (a "[/b]" would raise after all the work)
    res = CliRunner().invoke(cli.app, ["ask", "--questions", "-"], input="Is [/b] a [red]gift card[/red]?\n")
    assert res.exit_code == 0, res.output
    assert "-:1 Is [/b] a [red]gift card[/red]?" in res.stdout


def test_the_same_failure_again_and_again_stops_the_retries(tmp_path, monkeypatch):
    """A generator that fails on every prompt (say, weights that do not load): three questions fail alone with the
    same error, the others are reported as not tried instead of each paying for another attempt."""
    def broken(messages):  # type: ignore[no-untyped-def]
        raise RuntimeError("weights do not load")

    gen = FakeGenerator(broken)
    monkeypatch.setattr(cli, "open_workspace", lambda path: _workspace(tmp_path, gen))
    res = CliRunner().invoke(cli.app, ["ask", "--questions", "-", "--json"],
                             input="".join(f"How long can I return item {i}?\n" for i in range(6)))
    assert res.exit_code == 1, res.output
    failed = json.loads(res.stdout)["failed"]
    assert [f["line"] for f in failed] == [1, 2, 3, 4, 5, 6]
    assert all("weights do not load" in f["error"] for f in failed)
    assert [f["error"].startswith("not tried") for f in failed] == [False] * 3 + [True] * 3
    assert gen.n_calls <= 6 + 3  # the batched tries and three alone, not one per question


def test_ctrl_c_keeps_the_answers_so_far_and_exits_130(tmp_path, monkeypatch):
    """Ctrl-C while the generations run: the questions answered by then are printed, the others are failed lines
    ("not answered: interrupted"), and the exit code is 130, as for any interrupted command."""
    def reply(messages):  # type: ignore[no-untyped-def]
        if "gift" in messages[-1]["content"].lower():
            raise KeyboardInterrupt
        return "within 30 days of delivery [1]"

    monkeypatch.setattr(cli, "open_workspace", lambda path: _workspace(tmp_path, FakeGenerator(reply)))
    lines = ["Which planet has the most moons?",  # abstains before any generation: answered before the interrupt
             "How long can I return an item?", "How long are gift cards valid?", "Can an item be returned with the receipt?"]
    res = CliRunner().invoke(cli.app, ["ask", "--questions", "-", "--json"], input="\n".join(lines) + "\n")
    assert res.exit_code == 130, res.output
    data = json.loads(res.stdout)
    assert data["interrupted"] is True and [a["line"] for a in data["answers"]] == [1]
    assert [(f["line"], f["error"]) for f in data["failed"]] == [(n, "not answered: interrupted (Ctrl-C)") for n in (2, 3, 4)]
    res = CliRunner().invoke(cli.app, ["ask", "--questions", "-"], input="\n".join(lines) + "\n")
    assert res.exit_code == 130 and "3 questions not answered, from line 2" in res.stderr


@pytest.mark.parametrize("args, message", [
    (["ask"], "pass the QUESTION"),
    (["ask", "q", "--questions", "f.txt"], "not both"),
    (["ask", "q", "--batch-size", "4"], "applies to --questions"),
    (["ask", "--questions", "{missing}"], "not found"),
    (["ask", "--questions", "{empty}"], "no questions"),
    (["ask", "--questions", "{binary}"], "not UTF-8"),
    (["ask", "--questions", "-"], "not UTF-8"),  # stdin is read as the file is (its input below)
])
def test_usage_errors_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.setattr(cli, "open_workspace", lambda path: _workspace(tmp_path, FakeGenerator("x")))
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00question")
    args = [a.format(missing=tmp_path / "missing.txt", empty=tmp_path / "empty.txt", binary=tmp_path / "binary.txt")
            for a in args]
    res = CliRunner().invoke(cli.app, [*args, "--json"], input=b"\xff\xfe\x00question\n")
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
        before = dataclasses.replace(tiny_generator.decoded)
        many = ask_file(ws, items, [BadLine(9, "x")], strategy="base", batch_size=3)
        after = tiny_generator.decoded
    finally:
        ws.close()
    # the batched run really shared its steps (not the one-by-one fallback): more than one row per step
    assert after.row_steps - before.row_steps > after.steps - before.steps > 0
    assert [a.answer for _, a in one.answers] == [a.answer for _, a in many.answers]
    assert len(one.answers) == 5 and any(a.answer.strip() for _, a in one.answers)
    assert one.exit_code == 0 and many.exit_code == 1 and many.to_dict()["questions"] == 6
