"""The hash-chained audit log: verifies when intact; detects an edited, deleted (middle or last), reordered or
truncated record; reserved fields rejected; CLI verify/export."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragft.cli import app
from ragft.errors import ConfigError
from ragft.governance.audit import AUDIT_FILE, HEAD_FILE, AuditLog, record_hash


def _log(tmp_path, n=5) -> AuditLog:
    log = AuditLog(tmp_path)
    for i in range(n):
        log.append("question", principal=f"user{i % 2}", strategy="rag", chunk_ids=[f"d{i}:0", f"d{i}:1"])
    return log


def _lines(log):
    return log.path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_chain_verifies_and_links(tmp_path):
    log = _log(tmp_path)
    report = log.verify()
    assert report.ok and report.records == 5 and report.first_bad_line is None
    recs = list(log.records())
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert recs[0]["prev"] == "0" * 64
    for a, b in zip(recs, recs[1:]):
        assert b["prev"] == a["hash"]
    assert all(r["hash"] == record_hash(r) for r in recs)
    assert report.head_hash == recs[-1]["hash"]


def test_empty_log_is_ok(tmp_path):
    assert AuditLog(tmp_path).verify().ok


def test_detects_modified_line(tmp_path):
    log = _log(tmp_path)
    lines = _lines(log)
    lines[2] = lines[2].replace('"user0"', '"mallory"')
    log.path.write_text("".join(lines), encoding="utf-8")
    report = log.verify()
    assert not report.ok and report.first_bad_line == 3 and "edited" in report.reason


def test_detects_recomputed_hash_of_modified_line(tmp_path):
    """Re-hashing the edited record breaks the next record's `prev` link instead."""
    log = _log(tmp_path)
    lines = _lines(log)
    rec = json.loads(lines[1])
    rec["principal"] = "mallory"
    rec["hash"] = record_hash(rec)
    lines[1] = json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n"
    log.path.write_text("".join(lines), encoding="utf-8")
    report = log.verify()
    assert not report.ok and report.first_bad_line == 3


def test_detects_deleted_middle_line(tmp_path):
    log = _log(tmp_path)
    lines = _lines(log)
    del lines[1]
    log.path.write_text("".join(lines), encoding="utf-8")
    report = log.verify()
    assert not report.ok and report.first_bad_line == 2 and report.records == 1


def test_detects_deleted_last_line(tmp_path):
    log = _log(tmp_path)
    lines = _lines(log)
    log.path.write_text("".join(lines[:-1]), encoding="utf-8")
    report = log.verify()
    assert not report.ok and report.first_bad_line == 5 and "tail" in report.reason


def test_deleted_last_line_stays_visible_after_next_append(tmp_path):
    log = _log(tmp_path)
    log.path.write_text("".join(_lines(log)[:-1]), encoding="utf-8")
    log.append("ingest", chunks=3)
    assert not log.verify().ok


def test_detects_reordered_lines(tmp_path):
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.path.write_text("".join(lines), encoding="utf-8")
    report = log.verify()
    assert not report.ok and report.first_bad_line == 2


def test_detects_missing_head_and_garbage(tmp_path):
    log = _log(tmp_path)
    log.head_path.unlink()
    assert not log.verify().ok
    log2 = _log(tmp_path / "b")
    log2.path.write_text(log2.path.read_text() + "not json\n")
    report = log2.verify()
    assert not report.ok and report.first_bad_line == 6


def test_crash_between_append_and_head_is_recovered(tmp_path):
    """A line fsynced whose head write did not happen is adopted by the next append (it chains exactly)."""
    log = _log(tmp_path, 2)
    head = log.head_path.read_text()
    log.append("ingest", chunks=1)
    log.head_path.write_text(head)  # simulate the crash: head still at seq 2
    log.append("ingest", chunks=2)
    assert log.verify().ok and log.verify().records == 4


def test_reserved_fields_rejected(tmp_path):
    with pytest.raises(ConfigError, match="reserved"):
        AuditLog(tmp_path).append("ingest", hash="x")
    with pytest.raises(ConfigError):
        AuditLog(tmp_path).append("")


def test_question_record_carries_ids_not_text(tmp_path):
    log = AuditLog(tmp_path)
    rec = log.append("question", principal="alice", strategy="rag", chunk_ids=["d1:0"])
    assert rec["principal"] == "alice" and rec["chunk_ids"] == ["d1:0"] and "question" not in rec
    assert rec["ts"].endswith("Z")


def test_cli_verify_and_export(tmp_path):
    ws = tmp_path / "ws"
    log = _log(ws, 3)
    runner = CliRunner()
    res = runner.invoke(app, ["audit", "verify", "-w", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ok"] is True and json.loads(res.stdout)["records"] == 3
    res = runner.invoke(app, ["audit", "export", "-w", str(ws)])
    assert [json.loads(l)["seq"] for l in res.stdout.splitlines()] == [1, 2, 3]
    out = tmp_path / "export.jsonl"
    res = runner.invoke(app, ["audit", "export", "--out", str(out), "-w", str(ws), "--json"])
    assert json.loads(res.stdout)["records"] == 3 and len(out.read_text().splitlines()) == 3
    lines = _lines(log)
    log.path.write_text("".join(lines[:1] + lines[2:]), encoding="utf-8")
    res = runner.invoke(app, ["audit", "verify", "-w", str(ws), "--json"])
    assert res.exit_code == 1
    data = json.loads(res.stdout)
    assert data["ok"] is False and data["first_bad_line"] == 2 and data["records"] == 1


def test_a_deleted_log_beside_ingested_documents_fails_verify(fast_ws, tmp_path):
    """Both audit files deleted: the chain is empty, as in a new workspace, but this one holds documents whose
    ingest was audited, so `audit verify` fails (exit 1); a workspace with no documents and no log stays ok."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("# Returns\n\nItems can be returned within 30 days.\n", encoding="utf-8")
    fast_ws.ingest([src])
    path = fast_ws.path
    fast_ws.close()
    runner = CliRunner()
    assert runner.invoke(app, ["audit", "verify", "-w", str(path)]).exit_code == 0
    (path / AUDIT_FILE).unlink()
    (path / HEAD_FILE).unlink()
    res = runner.invoke(app, ["audit", "verify", "-w", str(path), "--json"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)
    assert data["ok"] is False and data["records"] == 0 and "holds 1 document(s)" in data["reason"]
    (path / AUDIT_FILE).write_text("", encoding="utf-8")  # emptied rather than deleted: the same
    assert runner.invoke(app, ["audit", "verify", "-w", str(path)]).exit_code == 1
    assert AuditLog(tmp_path / "new").verify(documents=0).ok
