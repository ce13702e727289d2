"""PII detection offline (Presidio, blank spaCy, no NER): recall/precision on the labelled fixture, policies,
answer masking, overlap resolution, counts-not-values. The analyzer is built once per test session (~7-17 s)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from ragft.config import PiiSettings
from ragft.errors import ConfigError
from ragft.governance.pii import (
    DEFAULT_ENTITIES,
    REDACTED,
    Finding,
    PiiScanner,
    apply_ingest_policy,
    evaluate,
    mask_answer,
    policy_for,
    resolve_overlaps,
    scan,
)
from tests.fakes import FakeGenerator

FIXTURE = Path(__file__).parent / "fixtures" / "pii_labelled.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]

SAMPLE = "Mail jane.doe@example.com or call (415) 555-2671; card 4111 1111 1111 1111 from 203.0.113.45."


@pytest.fixture(scope="module")
def scanner():
    return PiiScanner()


def test_fixture_covers_every_default_type_with_negatives():
    labelled = {e["type"] for r in ROWS for e in r["entities"]}
    assert set(DEFAULT_ENTITIES) <= labelled
    assert sum(1 for r in ROWS if not r["entities"]) >= 10  # texts without PII measure false positives
    for r in ROWS:
        for e in r["entities"]:
            assert r["text"][e["start"] : e["end"]] == e["value"]


def test_recall_and_precision_on_labelled_fixture(scanner):
    result = evaluate(scanner, ROWS)
    assert result.overall["recall"] >= 0.9, result.per_type
    assert result.overall["precision"] >= 0.9, result.per_type
    # the high-risk identifiers are all found
    for t in ("EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "PHONE_NUMBER", "IP_ADDRESS"):
        assert result.per_type[t]["recall"] >= 0.8, (t, result.per_type[t])
    assert result.not_scanned == {"PERSON": 4}  # names need the optional NER model


def test_scan_runs_offline(scanner, monkeypatch):
    """No network: any socket connection attempt during a scan fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("PII scan tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    found = {f.type for f in scanner.scan("write to ops@example.co.uk now")}
    assert found == {"EMAIL_ADDRESS"}


def test_ip_versus_phone_overlap_resolved(scanner):
    findings = scanner.scan("Login from 192.168.1.20 failed")
    assert [(f.type, f.start, f.end) for f in findings] == [("IP_ADDRESS", 11, 23)]
    spans = resolve_overlaps([Finding("PHONE_NUMBER", 0, 10, 0.4), Finding("IP_ADDRESS", 0, 12, 0.6), Finding("EMAIL_ADDRESS", 20, 30, 1.0)])
    assert [f.type for f in spans] == ["IP_ADDRESS", "EMAIL_ADDRESS"]


def test_policies_mask_redact_reject_allow():
    masked, counts = apply_ingest_policy(SAMPLE, "mask")
    assert masked == "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>; card <CREDIT_CARD> from <IP_ADDRESS>."
    assert counts == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1, "CREDIT_CARD": 1, "IP_ADDRESS": 1}
    redacted, _ = apply_ingest_policy(SAMPLE, "redact")
    assert redacted.count(REDACTED) == 4 and "example.com" not in redacted and "EMAIL" not in redacted
    rejected, counts = apply_ingest_policy(SAMPLE, "reject")
    assert rejected is None and sum(counts.values()) == 4
    allowed, counts = apply_ingest_policy(SAMPLE, "allow")
    assert allowed == SAMPLE and sum(counts.values()) == 4
    clean, counts = apply_ingest_policy("Returns are accepted within 30 days.", "reject")
    assert clean == "Returns are accepted within 30 days." and counts == {}


def test_counts_never_carry_values():
    _, counts = apply_ingest_policy(SAMPLE, "mask")
    dumped = json.dumps(counts)
    assert "jane" not in dumped and "4111" not in dumped and "555" not in dumped


def test_mask_answer():
    answer = "You can reach the customer at jane.doe@example.com or 212-555-0188 [1]."
    assert mask_answer(answer, "mask") == "You can reach the customer at <EMAIL_ADDRESS> or <PHONE_NUMBER> [1]."
    assert mask_answer(answer, "allow") == answer
    assert "example.com" not in mask_answer(answer, "redact")
    with pytest.raises(ConfigError, match="allowed: allow, mask, redact"):
        mask_answer(answer, "reject")


def test_threshold_above_phone_score_drops_phones():
    """Documented pitfall: phone numbers score 0.40, so a 0.5 threshold silently drops them."""
    assert [f.type for f in scan("call 212-555-0188", threshold=0.35)] == ["PHONE_NUMBER"]
    assert scan("call 212-555-0188", threshold=0.5) == []


def test_bad_policy_and_entities():
    with pytest.raises(ConfigError, match="allowed: allow, mask, redact, reject"):
        apply_ingest_policy("x", "scramble")
    with pytest.raises(ConfigError, match="unknown type"):
        PiiScanner(entities=["NOT_A_TYPE"]).scan("a@example.com")
    with pytest.raises(ConfigError, match="not installed"):
        PiiScanner(ner_model="no_such_spacy_model_xyz").scan("John Smith")


def test_group_policy_strictest_wins():
    s = PiiSettings(policy="allow", group_policies={"hr": "reject", "support": "mask"})
    assert policy_for(s, []) == "allow"
    assert policy_for(s, ["support"]) == "mask"
    assert policy_for(s, ["support", "hr"]) == "reject"
    assert policy_for(s, ["sales"]) == "allow"


def test_from_settings():
    sc = PiiScanner.from_settings(PiiSettings(threshold=0.5, entities=["EMAIL_ADDRESS"]))
    assert sc.threshold == 0.5 and sc.entities == ("EMAIL_ADDRESS",)
    assert [f.type for f in sc.scan("a.b@example.com 212-555-0188")] == ["EMAIL_ADDRESS"]


LEAKY_ANSWER = "Contact jane.doe@example.com or 212-555-0188."
"""What a model that memorised personal data might answer (streamed in pieces by the fake)."""


@pytest.mark.parametrize("policy,expected", [
    ("mask", "Contact <EMAIL_ADDRESS> or <PHONE_NUMBER>."),
    ("allow", LEAKY_ANSWER),
])
def test_workspace_ask_masks_answers_before_they_leave(tmp_path, hash_embedder, policy, expected):
    from ragft.config import Settings
    from ragft.workspace import Workspace

    settings = Settings()
    settings.pii.answer_policy = policy
    ws = Workspace(tmp_path / "ws", settings=settings, embedder=hash_embedder, generator=FakeGenerator(LEAKY_ANSWER, name="leaky"))
    streamed: list[str] = []
    try:
        result = ws.ask("who should I contact?", strategy="base", on_token=streamed.append)
    finally:
        ws.close()
    assert result.answer == expected
    if policy != "allow":  # nothing unmasked was streamed before masking
        assert "".join(streamed) == expected and "jane" not in "".join(streamed)
    assert list(ws.audit.records())[-1]["event"] == "question"
