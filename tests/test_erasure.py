"""Right to erasure, tested the way an auditor would: after `forget`, no rows, vectors or full-text hits for the
subject, and no canary bytes anywhere in the workspace (.db, -wal, -shm, training/eval JSONL); adapters trained
on the data are listed as tainted and refused; the audit chain records it without the text."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragft.cli import app
from ragft.errors import AccessDenied, ConfigError, NotFoundError
from ragft.finetune.registry import AdapterInfo, AdapterRegistry
from ragft.workspace import Workspace

CANARY = "zqxcanary4711"
SUBJECT = "patient-42"


def _subject_text() -> str:
    paras = [
        f"Clinical note for {CANARY}. The patient {CANARY} reported chest pain on admission to the ward.",
        f"Follow-up visit: {CANARY} was prescribed a beta blocker and advised to rest for two weeks.",
        f"Discharge summary of {CANARY}: stable, scheduled for a cardiology review in March.",
    ]
    return "\n\n".join(p + " " + " ".join(f"filler{i}{j}" for j in range(60)) for i, p in enumerate(paras))


def _files_with(root: Path, needle: bytes) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes())


def _setup(ws: Workspace, src: Path) -> tuple[str, str]:
    src.mkdir()
    (src / "note.md").write_text(_subject_text(), encoding="utf-8")
    (src / "policy.md").write_text("Returns are accepted within 30 days of delivery with a receipt.", encoding="utf-8")
    r1 = ws.ingest([src / "note.md"], subject=SUBJECT)
    r2 = ws.ingest([src / "policy.md"])
    assert r1.added == 1 and r2.added == 1
    subject_doc = ws.store.list_documents(SUBJECT)[0].doc_id
    other_doc = next(d.doc_id for d in ws.store.list_documents() if d.doc_id != subject_doc)
    # Two adapters: one trained on the subject's note (its dataset copies the text), one on other data.
    reg = AdapterRegistry(ws.path)
    for name, docs in (("support-ft", [subject_doc, other_doc]), ("clean-ft", [other_doc])):
        folder = reg.adapter_dir(name)
        folder.mkdir(parents=True)
        rows = [{"prompt": [{"role": "user", "content": f"Who is {CANARY}?"}], "completion": "a patient", "doc_ids": [subject_doc]}] if subject_doc in docs else []
        rows.append({"prompt": [{"role": "user", "content": "How long for returns?"}], "completion": "30 days", "doc_ids": [other_doc]})
        (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        reg.register(AdapterInfo(name=name, path=str(folder), kind="ft", base_model="test",
                                 lineage={"documents": docs, "dataset_sha256": "x"}))
    # A held-out file quoting the note without a doc id (found by its text).
    (ws.path / "eval").mkdir()
    (ws.path / "eval" / "heldout.jsonl").write_text(
        json.dumps({"question": "What was prescribed?", "answer": "a beta blocker",
                    "context": f"Follow-up visit: {CANARY} was prescribed a beta blocker and advised to rest for two weeks."}) + "\n"
        + json.dumps({"question": "Return window?", "answer": "30 days"}) + "\n",
        encoding="utf-8",
    )
    return subject_doc, other_doc


def _assert_erased(ws: Workspace, subject_doc: str, other_doc: str) -> None:
    store = ws.store
    assert store.list_documents(SUBJECT) == []
    assert store.get_document(subject_doc) is None
    assert store.search_bm25(CANARY, k=10) == []
    qv = ws.embedder.embed([f"Clinical note for {CANARY} chest pain"])[0]
    assert all(h.doc_id != subject_doc for h in store.search_dense(qv, k=50))
    with sqlite3.connect(ws.path / "ragft.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM chunks WHERE doc_id = ?", (subject_doc,)).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (CANARY,)).fetchone()[0] == 0
    # the other document survives, and so do the other training rows
    assert [h.doc_id for h in store.search_bm25("returns delivery receipt", k=5)] == [other_doc]
    train = (ws.path / "adapters" / "support-ft" / "train.jsonl").read_text()
    assert "30 days" in train and CANARY not in train
    assert "Return window" in (ws.path / "eval" / "heldout.jsonl").read_text()
    # an auditor greps every file of the workspace, including the -wal and -shm files
    assert _files_with(ws.path, CANARY.encode()) == []


def test_forget_leaves_no_trace(fast_ws, tmp_path):
    ws = fast_ws
    subject_doc, other_doc = _setup(ws, tmp_path / "src")
    before = _files_with(ws.path, CANARY.encode())
    assert any(f.startswith("ragft.db") for f in before) and "eval/heldout.jsonl" in before  # the test can fail

    report = ws.forget(SUBJECT, principal="dpo")

    assert report.documents == 1 and report.chunks >= 2
    assert report.tainted_adapters == ["support-ft"]
    _assert_erased(ws, subject_doc, other_doc)
    reg = AdapterRegistry(ws.path)
    with pytest.raises(AccessDenied, match="retrain"):
        reg.get_servable("support-ft")
    assert reg.get_servable("clean-ft").name == "clean-ft"
    # audit: verified chain, a forget record with ids and counts, never the text
    assert ws.audit.verify().ok
    last = list(ws.audit.records())[-1]
    assert last["event"] == "forget" and last["principal"] == "dpo" and last["subject"] == SUBJECT
    assert last["doc_ids"] == [subject_doc] and last["rows_dropped"] == 2
    # forgetting again is a no-op, not an error
    again = ws.forget(SUBJECT)
    assert (again.documents, again.chunks, again.tainted_adapters) == (0, 0, [])


def test_delete_by_document_is_erasure_too(fast_ws, tmp_path):
    ws = fast_ws
    subject_doc, other_doc = _setup(ws, tmp_path / "src")
    report = ws.delete(subject_doc)
    assert report.documents == 1 and report.tainted_adapters == ["support-ft"]
    _assert_erased(ws, subject_doc, other_doc)
    assert list(ws.audit.records())[-1]["event"] == "delete"
    with pytest.raises(NotFoundError):
        ws.delete("no-such-doc")


def test_forget_needs_a_target(fast_ws):
    from ragft.governance.erasure import forget

    with pytest.raises(ConfigError, match="subject"):
        forget(fast_ws.store, fast_ws.registry, fast_ws.path)


def test_cli_forget_json(fast_ws, tmp_path):
    subject_doc, other_doc = _setup(fast_ws, tmp_path / "src")
    path = fast_ws.path
    fast_ws.close()
    res = CliRunner().invoke(app, ["forget", "--subject", SUBJECT, "-w", str(path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"documents", "chunks", "tainted_adapters"}
    assert data["documents"] == 1 and data["tainted_adapters"] == ["support-ft"]
    assert _files_with(path, CANARY.encode()) == []


@pytest.mark.real_model
def test_forget_with_real_embedder(real_embedder, tmp_path):
    ws = Workspace(tmp_path / "real-ws", embedder=real_embedder)
    try:
        subject_doc, other_doc = _setup(ws, tmp_path / "src")
        qv = real_embedder.embed([f"Clinical note for {CANARY} chest pain"])[0]
        assert ws.store.search_dense(qv, k=1)[0].doc_id == subject_doc  # findable before
        report = ws.forget(SUBJECT)
        assert report.documents == 1 and report.tainted_adapters == ["support-ft"]
        _assert_erased(ws, subject_doc, other_doc)
    finally:
        ws.close()


def test_scrub_files_handles_jsonl_json_and_text(tmp_path):
    from ragft.governance.erasure import ERASED, scrub_files

    secret = 'The patient said "stop the treatment now" to the night nurse.'
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"text": secret}) + "\n" + json.dumps({"text": "keep me", "doc_ids": ["other"]}) + "\n"
        + json.dumps({"text": "short", "doc_id": "gone"}) + "\n", encoding="utf-8")
    (tmp_path / "r.json").write_text(json.dumps({"items": [{"ctx": secret}, {"ctx": "fine"}]}), encoding="utf-8")
    (tmp_path / "r.html").write_text("<p>The patient said &quot;stop the treatment now&quot; to the\n night nurse.</p>",
                                     encoding="utf-8")
    (tmp_path / "ragft.toml").write_text("# The patient said \"stop the treatment now\" to the night nurse.\n")
    result = scrub_files(tmp_path, {"gone"}, [secret + "\nThanks."])
    assert result.rows_dropped == 2 and sorted(result.files_changed) == ["a.jsonl", "r.html", "r.json"]
    assert [json.loads(l)["text"] for l in (tmp_path / "a.jsonl").read_text().splitlines()] == ["keep me"]
    assert json.loads((tmp_path / "r.json").read_text()) == {"items": [{"ctx": ERASED}, {"ctx": "fine"}]}
    assert "treatment" not in (tmp_path / "r.html").read_text()
    assert "treatment" in (tmp_path / "ragft.toml").read_text()  # config is never rewritten
