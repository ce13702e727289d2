"""RAFT example construction: oracle present/absent shares, distractors from other documents, grounded
targets that cite the oracle's marker, the answer-time prompt layout, and no evaluation-question leaks."""

from __future__ import annotations

import re

import pytest

from ragft.finetune.data import normalise_question
from ragft.finetune.raft import GroundedQA, build_raft_examples, find_span, ground_pairs, window
from ragft.prompting import ABSTAIN_ANSWER, SYSTEM_PROMPT, get_format
from ragft.types import Chunk


def _corpus(n_docs=8, per_doc=3):
    chunks = []
    for d in range(n_docs):
        for o in range(per_doc):
            chunks.append(Chunk(f"doc{d}:{o}", f"doc{d}", o, f"Document {d} part {o} says the code word is W{d}x{o} today."))
    return chunks


def _items(chunks, n=40):
    return [GroundedQA(f"What is code number {i} of doc {i % 8}?", f"W{i % 8}x{i % 3}", chunks[(i % 8) * 3 + i % 3], f"q{i}")
            for i in range(n)]


def _numbered(user_text):
    """[(n, text)] of the numbered source lines in a rendered prompt."""
    return [(int(m.group(1)), m.group(2)) for m in re.finditer(r"^\[(\d+)\] \([^)]*\) (.*)$", user_text, re.M)]


@pytest.mark.parametrize("share", [0.0, 0.5, 0.8, 1.0])
def test_oracle_share_is_exact(share):
    chunks = _corpus()
    rs = build_raft_examples(_items(chunks), chunks, distractors=3, oracle_share=share, seed=1)
    assert rs.with_oracle == round(40 * share) and rs.with_oracle + rs.without_oracle == 40
    assert sum(ex.completion != ABSTAIN_ANSWER for ex in rs.examples) == rs.with_oracle


def test_examples_are_grounded_and_distractors_come_from_other_documents():
    chunks = _corpus()
    items = _items(chunks)
    rs = build_raft_examples(items, chunks, distractors=3, oracle_share=0.5, seed=7, layout=get_format("instruct"))
    by_text = {c.text: c for c in chunks}
    for qa, ex in zip(items, rs.examples):
        assert ex.prompt[0] == {"role": "system", "content": SYSTEM_PROMPT}  # the answer-time RAG prompt
        assert qa.question in ex.prompt[-1]["content"]
        sources = _numbered(ex.prompt[-1]["content"])
        assert len(sources) == 4  # 3 distractors + oracle, or 4 distractors: the count never gives it away
        docs = [by_text[t].doc_id for _, t in sources]
        if ex.completion == ABSTAIN_ANSWER:
            assert qa.oracle.doc_id not in docs
        else:
            m = re.fullmatch(r"(.+) \[(\d)\]", ex.completion)
            assert m, ex.completion
            n = int(m.group(2))
            assert by_text[sources[n - 1][1]] == qa.oracle  # cites the oracle's marker
            assert m.group(1) in sources[n - 1][1]  # quotes a span of it
            assert docs.count(qa.oracle.doc_id) == 1
        assert set(ex.doc_ids) == {qa.oracle.doc_id, *docs}  # lineage: every document in the example


def test_oracle_position_varies_and_is_seeded():
    chunks = _corpus()
    a = build_raft_examples(_items(chunks), chunks, distractors=3, oracle_share=1.0, seed=3)
    b = build_raft_examples(_items(chunks), chunks, distractors=3, oracle_share=1.0, seed=3)
    assert [e.completion for e in a.examples] == [e.completion for e in b.examples]
    positions = {e.completion[-2] for e in a.examples}
    assert len(positions) >= 3  # the model cannot learn "always [1]"


def test_no_evaluation_question_leaks_into_training():
    chunks = _corpus()
    items = _items(chunks)
    held_out = {normalise_question(items[i].question) for i in (0, 5, 9)}
    rs = build_raft_examples(items, chunks, distractors=2, oracle_share=0.8, seed=0, exclude=held_out)
    assert len(rs.examples) == 37 and len(rs.excluded) == 3
    for ex in rs.examples:
        user = ex.prompt[-1]["content"]
        question = re.search(r"Question: (.*)", user).group(1)
        assert normalise_question(question) not in held_out


def test_grounding_finds_oracles_and_reports_the_rest():
    chunks = _corpus(n_docs=3)
    pairs = [("q1?", "W1x2", None, "line 1"), ("q2?", "yes", None, "line 2"), ("q3?", "W2x0", "doc0", "line 3"),
             ("q4?", "W0x1", "doc0", "line 4")]
    grounded, missing = ground_pairs(pairs, chunks)
    assert [g.oracle.chunk_id for g in grounded] == ["doc1:2", "doc0:1"]
    assert missing == ["line 2", "line 3"]  # yes/no, and an answer not in the given document


def test_window_keeps_the_answer():
    text = " ".join(f"w{i}" for i in range(200)) + " ANSWER " + " ".join(f"v{i}" for i in range(200))
    cut = window(text, 30, find_span(text, "answer"))
    assert "ANSWER" in cut and len(cut.split()) == 30
    assert find_span("the 1863 act", "18") is None  # whole words only
