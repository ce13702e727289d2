"""Cross-group leakage, property-tested across every retrieval path (issue 14).

Thousands of generated cases: random corpora whose documents belong to random groups, random callers (by user
name through the governance registry, or by explicit groups), random queries and k. For each case, search in
bm25, dense and hybrid, and the full `ask` path (prompt items and citations) must never surface a chunk of a
group the caller is not in, while the caller still gets min(k, visible) hits from what they may see.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragft.config import Settings
from ragft.store.sqlite import SqliteStore
from ragft.types import Chunk, Document
from ragft.workspace import Workspace
from tests.fakes import HashEmbedder
from tests.fakes import FakeGenerator

VOCAB = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
GROUPS = ["g1", "g2", "g3", "g4"]
MODES = ("bm25", "dense", "hybrid")


class CiteEverything(FakeGenerator):
    """A generator that answers with words from its prompt and cites every marker it could: the worst case for
    leakage through citations (markers pointing at anything the answer path might have let in)."""

    name = "cite-everything"

    def respond(self, messages, adapter):  # type: ignore[no-untyped-def]
        words = [w for w in messages[-1]["content"].split() if w in VOCAB][:4]
        return " ".join(words or ["alpha"]) + " " + " ".join(f"[{n}]" for n in range(1, 21))


case = st.fixed_dictionaries(
    {
        "docs": st.lists(
            st.tuples(
                st.lists(st.sampled_from(VOCAB), min_size=1, max_size=6),
                st.lists(st.sampled_from(GROUPS), max_size=2, unique=True),
            ),
            min_size=1,
            max_size=14,
        ),
        "user_groups": st.lists(st.sampled_from(GROUPS), max_size=2, unique=True),
        "narrow": st.one_of(st.none(), st.lists(st.sampled_from(GROUPS + ["other"]), max_size=2, unique=True)),
        "queries": st.lists(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3), min_size=1, max_size=3),
        "k": st.integers(min_value=1, max_value=8),
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(c=case)
def test_no_chunk_of_another_group_on_any_path(c):
    embedder = HashEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        s = Settings()
        s.answer.abstain_threshold = 0.0  # always reach the model, so citations are exercised on every case
        s.answer.support_threshold = 0.0
        s.answer.extractive = False
        ws = Workspace(Path(tmp) / "ws", settings=s, store=SqliteStore(Path(tmp) / "ragft.db"),
                       embedder=embedder, generator=CiteEverything())
        ws.users.add("caller", groups=c["user_groups"])
        mine = set(c["user_groups"])
        effective = mine if c["narrow"] is None else mine & set(c["narrow"])
        allowed: dict[str, bool] = {}
        for i, (words, groups) in enumerate(c["docs"]):
            doc_id, text = f"d{i}", " ".join(words)
            doc = Document(doc_id=doc_id, source=f"{doc_id}.txt", title=doc_id, content_hash="h", groups=tuple(groups))
            ws.store.replace_document(doc, [Chunk(f"{doc_id}:0", doc_id, 0, text)], embedder.embed([text]))
            allowed[doc_id] = not groups or bool(set(groups) & effective)
        visible = sum(allowed.values())
        for words in c["queries"]:
            query = " ".join(words)
            for mode in MODES:
                hits = ws.search(query, k=c["k"], mode=mode, user="caller", groups=c["narrow"])
                assert all(allowed[h.doc_id] for h in hits), (mode, query, [h.doc_id for h in hits])
                if mode == "dense":  # dense ranks every visible chunk: the caller still gets k of their own
                    assert len(hits) == min(c["k"], visible)
            answer = ws.ask(query, strategy="rag", user="caller", groups=c["narrow"], k=c["k"])
            given = [cid.split(":")[0] for cid in answer.retrieved]
            assert all(allowed[d] for d in given), ("prompt", query, given)
            assert all(allowed[cit.doc_id] for cit in answer.citations), ("citations", query, answer.citations)
        ws.close()


# Live SQL rows and compare reports (issue #20): the same rule on the two paths that carry data out besides chunks.
sql_case = st.fixed_dictionaries(
    {
        "sources": st.lists(st.lists(st.sampled_from(GROUPS), max_size=2, unique=True), min_size=1, max_size=3),
        "user_groups": st.lists(st.sampled_from(GROUPS), max_size=2, unique=True),
        "words": st.lists(st.sampled_from(VOCAB), min_size=1, max_size=2),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(c=sql_case)
def test_no_row_of_a_hidden_source_and_no_report_of_a_hidden_group(c):
    import sqlite3

    from ragft.governance.reports import may_read, report_access, write_access

    with tempfile.TemporaryDirectory() as tmp:
        s = Settings()
        s.answer.abstain_threshold = 0.0
        s.answer.support_threshold = 0.0
        s.answer.extractive = False
        ws = Workspace(Path(tmp) / "ws", settings=s, store=SqliteStore(Path(tmp) / "ragft.db"),
                       embedder=HashEmbedder(), generator=CiteEverything())
        ws.users.add("caller", groups=c["user_groups"])
        mine = set(c["user_groups"])
        allowed: dict[str, bool] = {}
        for i, groups in enumerate(c["sources"]):
            db = Path(tmp) / f"s{i}.sqlite"
            con = sqlite3.connect(db)
            con.execute("CREATE TABLE facts (id INTEGER PRIMARY KEY, body TEXT)")
            con.execute("INSERT INTO facts VALUES (1, ?)", (" ".join(VOCAB),))
            con.commit()
            con.close()
            ws.add_sql_source(f"s{i}", f"sqlite:///{db}", groups=groups)
            allowed[f"s{i}"] = not groups or bool(set(groups) & mine)
        question = " ".join(c["words"])
        answer = ws.ask(question, strategy="rag", user="caller")
        seen = [cid for cid in answer.retrieved if cid.startswith("sql:")] + \
               [cit.chunk_id for cit in answer.citations if cit.chunk_id.startswith("sql:")]
        assert all(allowed[cid[4:].split("/")[0]] for cid in seen), (seen, allowed)
        assert any(cid.startswith("sql:") for cid in answer.retrieved) == any(allowed.values())
        # A report whose runs cited every source may be read only by a caller holding all their groups.
        results = {"questions": [{"runs": {"rag": {"citations": [{"chunk_id": f"sql:s{i}/facts#1"}
                                                                 for i in range(len(c["sources"]))]}}}]}
        access = report_access(results, {}, {f"s{i}": g for i, g in enumerate(c["sources"])})
        write_access(Path(tmp), access)
        needed = {g for groups in c["sources"] for g in groups}
        assert may_read(Path(tmp), mine, admin=False) == (needed <= mine)
        ws.close()
