"""Training-data loading (line-numbered errors), dedup/split helpers, synthesis filter, and the adapter registry."""

from __future__ import annotations

import json
import threading

import pytest

from ragft.errors import AccessDenied, ConfigError, DataError, NotFoundError
from ragft.finetune import TrainExample
from ragft.finetune.data import QAPair, dataset_sha256, load_rows, normalise_question, qa_to_example, read_questions, split_heldout
from ragft.finetune.registry import AdapterInfo, AdapterRegistry
from ragft.finetune.synth import check_pair, parse_reply, synthesise_pairs
from ragft.prompting import CLOSED_BOOK_SYSTEM_PROMPT, closed_book_messages
from ragft.types import Chunk
from tests.fakes import FakeGenerator


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- data files
def test_qa_messages_and_prompt_rows_parse(tmp_path):
    f = _write(tmp_path / "d.jsonl", [
        json.dumps({"question": "When was it signed?", "answer": 1863, "doc_id": "d1"}),
        "",
        json.dumps({"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}),
        json.dumps({"prompt": "Capital of France?", "completion": "Paris"}),
    ])
    rows = load_rows(f)
    assert isinstance(rows[0], QAPair) and rows[0].answer == "1863" and rows[0].doc_id == "d1" and rows[0].line == 1
    chat = rows[1]
    assert isinstance(chat, TrainExample) and chat.completion == "Hello."
    assert chat.prompt[0] == {"role": "system", "content": CLOSED_BOOK_SYSTEM_PROMPT}  # added, as at answer time
    assert list(rows[2].prompt) == closed_book_messages("Capital of France?")


def test_bad_rows_are_reported_with_line_numbers(tmp_path):
    f = _write(tmp_path / "bad.jsonl", [
        json.dumps({"question": "ok?", "answer": "yes"}),
        "{not json",
        json.dumps({"question": "no answer?"}),
        json.dumps({"messages": [{"role": "user", "content": "q"}]}),
        json.dumps([1, 2]),
        json.dumps({"question": "", "answer": "x"}),
    ])
    with pytest.raises(DataError) as exc:
        load_rows(f)
    msg = str(exc.value)
    assert "5 malformed row(s)" in msg
    for line in (2, 3, 4, 5, 6):
        assert f"line {line}:" in msg
    assert "line 1:" not in msg
    assert "missing 'answer'" in msg and "last message must be" in msg and "not valid JSON" in msg


def test_csv_rows_and_header_errors(tmp_path):
    f = tmp_path / "qa.csv"
    f.write_text('question,answer\n"What, exactly?",this\n"Missing",\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 3: 'answer' is empty"):
        load_rows(f)
    f.write_text("q,a\nx,y\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: CSV header must name 'question' and 'answer'"):
        load_rows(f)
    f.write_text('question,answer\n"What, exactly?",this\n', encoding="utf-8")
    assert load_rows(f)[0].question == "What, exactly?"


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_rows(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="no training rows"):
        load_rows(_write(tmp_path / "empty.jsonl", [""]))


def test_split_is_deterministic_and_disjoint():
    items = list(range(50))
    a_train, a_out = split_heldout(items, 0.2, seed=3)
    b_train, b_out = split_heldout(items, 0.2, seed=3)
    assert (a_train, a_out) == (b_train, b_out)
    assert len(a_out) == 10 and not set(a_train) & set(a_out) and sorted(a_train + a_out) == items


def test_dataset_hash_changes_with_content():
    a = [qa_to_example(QAPair("q?", "a"))]
    b = [qa_to_example(QAPair("q?", "b"))]
    assert dataset_sha256(a) == dataset_sha256(list(a)) != dataset_sha256(b)


def test_read_questions_normalises(tmp_path):
    f = _write(tmp_path / "eval.jsonl", [json.dumps({"question": "Who  wrote  it?", "answer": "x"})])
    assert read_questions(f) == {normalise_question("who wrote it")}


# --------------------------------------------------------------------------- synthesis
PASSAGE = "The Treaty of Rivendell was signed in 1421 by the elves and the dwarves after a long winter war."


def test_parse_and_quality_filter():
    assert parse_reply("Question: When was the Treaty of Rivendell signed?\nAnswer: 1421.") == (
        "When was the Treaty of Rivendell signed?", "1421")
    assert parse_reply("no format here") is None
    assert check_pair("When was the Treaty of Rivendell signed?", "1421", PASSAGE) is None
    assert check_pair("When was the treaty signed", "1421", PASSAGE) == "not a question"
    assert check_pair("When was the Treaty of Rivendell signed?", "1999", PASSAGE) == "answer not in passage"
    assert check_pair("Was the treaty of 1421 signed by elves?", "1421", PASSAGE) == "question gives the answer away"


def test_synthesis_dedups_filters_and_excludes():
    chunks = [Chunk(f"d{i}:0", f"d{i}", 0, PASSAGE) for i in range(5)]
    gen = FakeGenerator([
        "Question: When was the Treaty of Rivendell signed?\nAnswer: 1421",
        "Question: When was the Treaty of Rivendell signed?\nAnswer: 1421",  # duplicate
        "Question: Who signed the treaty with the dwarves?\nAnswer: the elves",  # evaluation question
        "garbage",
        "Question: What kind of war came before the treaty?\nAnswer: a long winter war",
    ], name="scripted", context_window=512)
    rep = synthesise_pairs(gen, chunks, count=5, exclude={normalise_question("Who signed the treaty with the dwarves?")},
                           method="generator")
    assert [p.answer for p in rep.pairs] == ["1421", "a long winter war"]
    assert rep.rejected == {"duplicate": 1, "evaluation question": 1, "unparseable reply": 1}
    assert rep.attempts == 5


# --------------------------------------------------------------------------- registry
def _info(name, docs=("d1",), kind="ft"):
    return AdapterInfo(name=name, path=f"/x/{name}", kind=kind, base_model="tiny",
                       lineage={"documents": list(docs), "dataset_sha256": "ab"})


def test_registry_roundtrip_taint_and_approve(tmp_path):
    reg = AdapterRegistry(tmp_path)
    assert reg.list() == []
    reg.register(_info("a", ("d1", "d2")))
    reg.register(_info("b", ("d3",), kind="raft"))
    again = AdapterRegistry(tmp_path)  # a fresh reader sees the file
    assert [a.name for a in again.list()] == ["a", "b"] and again.get("b").kind == "raft"
    assert again.mark_tainted(["d2", "zzz"]) == ["a"]
    assert reg.get("a").tainted and reg.get("a").tainted_by == ["d2"] and not reg.get("b").tainted
    with pytest.raises(AccessDenied, match="retrain it with `ragft finetune --retrain a`"):
        reg.get_servable("a")
    assert reg.get_servable("b").name == "b"
    reg.approve("a")
    assert reg.get_servable("a").approved
    reg.mark_tainted(["d1"])  # new erasure withdraws approval
    with pytest.raises(AccessDenied):
        reg.get_servable("a")


def test_registry_errors(tmp_path):
    reg = AdapterRegistry(tmp_path)
    reg.register(_info("known"))
    with pytest.raises(NotFoundError, match="known adapters: known"):
        reg.get("nope")
    with pytest.raises(ConfigError, match="invalid adapter name"):
        reg.register(_info("../evil"))
    assert not list(reg.root.glob("*.tmp"))  # atomic write leaves no temp files


def test_registry_concurrent_writers_never_corrupt(tmp_path):
    reg = AdapterRegistry(tmp_path)
    errors = []

    def work(i):
        try:
            for j in range(10):
                reg.register(_info(f"a{i}-{j}"))
                reg.list()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    json.loads(reg.file.read_text())  # always a whole JSON document
    assert len(reg.list()) == 40  # the lock serialises read-modify-write: no lost update
