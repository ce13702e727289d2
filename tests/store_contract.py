"""Store contract tests, written once and run against every backend (STYLE.md §11, Haystack's pattern).

A backend test file subclasses `StoreContract` and provides a `store` fixture yielding an empty store:

    class TestSqliteStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            s = SqliteStore(tmp_path / "ragft.db"); yield s; s.close()
"""

from __future__ import annotations

import numpy as np
import pytest

from ragft.errors import StoreError
from ragft.types import Chunk, Document

DIM = 8


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    """A deterministic random unit vector."""
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def make_doc(doc_id: str, texts: list[str], groups: tuple[str, ...] = (), subject: str | None = None,
             content_hash: str = "h", seed: int = 0) -> tuple[Document, list[Chunk], np.ndarray]:
    doc = Document(doc_id=doc_id, source=f"{doc_id}.txt", title=doc_id.upper(), content_hash=content_hash,
                   mtime=1.5, groups=groups, subject=subject, metadata={"lang": "en"})
    chunks = [Chunk(chunk_id=f"{doc_id}:{i}", doc_id=doc_id, ordinal=i, text=t, heading=f"h{i}", n_tokens=len(t.split()))
              for i, t in enumerate(texts)]
    vectors = np.stack([unit(seed * 1000 + i) for i in range(len(texts))]) if texts else np.zeros((0, DIM), np.float32)
    return doc, chunks, vectors


def put(store, doc_id, texts, **kw):  # type: ignore[no-untyped-def]
    doc, chunks, vectors = make_doc(doc_id, texts, **kw)
    store.replace_document(doc, chunks, vectors)
    return doc, chunks, vectors


class StoreContract:
    """Mixin of contract tests; subclasses supply the `store` fixture."""

    # ------------------------------------------------------------------ documents
    def test_replace_then_get_roundtrips_every_field(self, store):
        doc, chunks, _ = put(store, "d1", ["alpha beta", "gamma delta"], groups=("hr",), subject="s1")
        assert store.get_document("d1") == doc
        assert store.get_document("missing") is None
        assert store.get_chunks(["d1:1", "nope", "d1:0"]) == [chunks[1], chunks[0]]
        assert [d.doc_id for d in store.list_documents()] == ["d1"]
        assert [d.doc_id for d in store.list_documents(subject="s1")] == ["d1"]
        assert store.list_documents(subject="other") == []

    def test_replace_removes_old_chunks_in_every_mode(self, store):
        _, _, old_vecs = put(store, "d1", ["zebraword one", "giraffeword two", "okapiword three"], seed=1)
        doc, chunks, vecs = make_doc("d1", ["lionword only"], content_hash="h2", seed=2)
        store.replace_document(doc, chunks, vecs)
        assert store.get_document("d1").content_hash == "h2"
        assert store.stats() == {"documents": 1, "chunks": 1}
        assert store.get_chunks(["d1:0", "d1:1", "d1:2"]) == chunks
        assert store.search_bm25("zebraword giraffeword okapiword", 10) == []
        assert [h.text for h in store.search_bm25("lionword", 10)] == ["lionword only"]
        dense = store.search_dense(old_vecs[1], 10)
        assert [h.chunk_id for h in dense] == ["d1:0"] and dense[0].text == "lionword only"

    def test_replace_is_atomic_on_failure(self, store):
        put(store, "d1", ["keepme text"], content_hash="old")
        put(store, "d2", ["other text"])
        doc, _, vecs = make_doc("d1", ["new text", "more"], content_hash="new")
        # chunk id collides with d2's chunk -> the whole replace must roll back
        bad_chunks = [Chunk("d1:0", "d1", 0, "new text"), Chunk("d2:0", "d1", 1, "more")]
        with pytest.raises(StoreError):
            store.replace_document(doc, bad_chunks, vecs)
        assert store.get_document("d1").content_hash == "old"
        assert [c.text for c in store.get_chunks(["d1:0"])] == ["keepme text"]
        assert [h.chunk_id for h in store.search_bm25("keepme", 5)] == ["d1:0"]
        assert store.stats() == {"documents": 2, "chunks": 2}

    def test_replace_rejects_vector_count_mismatch(self, store):
        doc, chunks, vecs = make_doc("d1", ["a b", "c d"])
        with pytest.raises(StoreError, match="vectors"):
            store.replace_document(doc, chunks, vecs[:1])
        assert store.get_document("d1") is None
        assert store.stats() == {"documents": 0, "chunks": 0}

    def test_replace_rejects_chunk_of_other_document(self, store):
        doc, _, vecs = make_doc("d1", ["a b"])
        with pytest.raises(StoreError, match="doc_id"):
            store.replace_document(doc, [Chunk("x:0", "x", 0, "a b")], vecs)

    def test_document_without_chunks(self, store):
        put(store, "empty", [])
        assert store.stats() == {"documents": 1, "chunks": 0}
        assert store.search_dense(unit(0), 5) == []

    # ------------------------------------------------------------------ delete
    def test_delete_leaves_nothing_in_any_mode(self, store):
        _, _, vecs = put(store, "gone", ["canaryword secret"], seed=5)
        put(store, "kept", ["ordinary text"], seed=6)
        assert store.delete_documents(["gone", "never-existed"]) == (1, 1)
        assert store.get_document("gone") is None
        assert store.get_chunks(["gone:0"]) == []
        assert store.chunk_groups(["gone:0"]) == {}
        assert store.search_bm25("canaryword secret", 10) == []
        assert all(h.doc_id != "gone" for h in store.search_dense(vecs[0], 10))
        assert store.stats() == {"documents": 1, "chunks": 1}
        assert store.delete_documents([]) == (0, 0)

    # ------------------------------------------------------------------ groups
    def test_group_semantics(self, store):
        put(store, "pub", ["shared word public"], seed=1)
        put(store, "hr", ["shared word hr"], groups=("hr",), seed=2)
        put(store, "eng", ["shared word eng"], groups=("eng", "ops"), seed=3)
        q = unit(99)

        def seen(groups):  # type: ignore[no-untyped-def]
            bm = {h.doc_id for h in store.search_bm25("shared", 10, groups)}
            de = {h.doc_id for h in store.search_dense(q, 10, groups)}
            assert bm == de
            return bm

        assert seen(None) == {"pub", "hr", "eng"}
        assert seen(set()) == {"pub"}
        assert seen({"hr"}) == {"pub", "hr"}
        assert seen({"ops"}) == {"pub", "eng"}
        assert seen({"hr", "eng"}) == {"pub", "hr", "eng"}
        assert seen({"nobody"}) == {"pub"}
        assert store.chunk_groups(["pub:0", "hr:0", "eng:0"]) == {"pub:0": (), "hr:0": ("hr",), "eng:0": ("eng", "ops")}

    def test_acl_applies_before_top_k(self, store):
        # 20 secret chunks that match the query better than the one public chunk
        for i in range(20):
            put(store, f"s{i}", ["needle needle needle"], groups=("secret",), seed=10 + i)
        _, _, pub_vecs = put(store, "pub", ["needle in a long public haystack of other words"], seed=1)
        hits = store.search_bm25("needle", 1, groups=set())
        assert [h.doc_id for h in hits] == ["pub"]
        # dense: a query equal to a secret vector still yields the public chunk first for a public caller
        secret_vec = make_doc("s0", ["x"], seed=10)[2][0]
        assert [h.doc_id for h in store.search_dense(secret_vec, 1, groups=set())] == ["pub"]
        assert len(store.search_dense(pub_vecs[0], 5, groups={"secret"})) == 5

    def test_regrouping_a_document_takes_effect(self, store):
        put(store, "d", ["movable text"], groups=("a",))
        assert store.search_bm25("movable", 5, {"b"}) == []
        put(store, "d", ["movable text"], groups=("b",), content_hash="h2")
        assert [h.doc_id for h in store.search_bm25("movable", 5, {"b"})] == ["d"]
        assert store.search_bm25("movable", 5, {"a"}) == []
        assert store.search_dense(unit(0), 5, {"a"}) == []

    # ------------------------------------------------------------------ scores
    def test_scores_are_higher_is_better(self, store):
        put(store, "a", ["apple apple apple banana", "banana cherry", "durian"], seed=3)
        bm = store.search_bm25("apple banana", 10)
        assert bm[0].chunk_id == "a:0" and all(h.score > 0 for h in bm)
        assert [h.score for h in bm] == sorted((h.score for h in bm), reverse=True)
        vec = make_doc("a", ["x", "y", "z"], seed=3)[2][2]
        dense = store.search_dense(vec, 3)
        assert dense[0].chunk_id == "a:2" and dense[0].score == pytest.approx(1.0, abs=1e-5)
        assert [h.score for h in dense] == sorted((h.score for h in dense), reverse=True)
        assert all(h.source == "a.txt" for h in bm + dense)

    def test_bm25_query_syntax_is_never_interpreted(self, store):
        put(store, "a", ["plain words here"])
        for q in ['"', "AND", "plain AND NOT", "NEAR(plain words)", "plain*", "text:plain", "(", "^plain", "-", "' OR 1=1 --"]:
            hits = store.search_bm25(q, 5)  # must not raise
            assert all(h.doc_id == "a" for h in hits)
        assert [h.doc_id for h in store.search_bm25("NEAR(plain words)", 5)] == ["a"]
        assert store.search_bm25("", 5) == [] and store.search_bm25("!!!", 5) == []

    def test_search_sees_new_writes(self, store):
        put(store, "a", ["first"], seed=1)
        v2 = make_doc("b", ["x"], seed=2)[2][0]
        assert store.search_dense(v2, 1)[0].doc_id == "a"  # builds any cache
        put(store, "b", ["second"], seed=2)
        assert store.search_dense(v2, 1)[0].doc_id == "b"
        store.delete_documents(["b"])
        assert store.search_dense(v2, 1)[0].doc_id == "a"

    # ------------------------------------------------------------------ stats, meta, compact
    def test_stats_and_meta(self, store):
        assert store.stats() == {"documents": 0, "chunks": 0}
        put(store, "a", ["1", "2"])
        put(store, "b", ["3"])
        assert store.stats() == {"documents": 2, "chunks": 3}
        assert store.get_meta("embedder") is None
        store.set_meta("embedder", "m1")
        store.set_meta("embedder", "m2")
        assert store.get_meta("embedder") == "m2"

    def test_compact_keeps_live_data(self, store):
        put(store, "a", ["survivor text"])
        put(store, "b", ["victim text"])
        store.delete_documents(["b"])
        store.compact()
        assert [h.doc_id for h in store.search_bm25("survivor victim", 5)] == ["a"]
        assert store.stats() == {"documents": 1, "chunks": 1}


# ---------------------------------------------------------------------- writer processes (both backends)
def _writer_process(open_store, prefix: str, n_docs: int, out) -> None:  # type: ignore[no-untyped-def]
    """Child process: write n_docs documents of 3 chunks each through its own store (`open_store()`)."""
    store = open_store()
    try:
        for d in range(n_docs):
            doc, chunks, vecs = make_doc(f"{prefix}{d}", [f"{prefix} word {d} {i}" for i in range(3)], seed=d)
            store.replace_document(doc, chunks, vecs)
        out.put(("ok", prefix))
    except Exception as exc:  # pragma: no cover - reported to the parent
        out.put(("error", f"{prefix}: {exc!r}"))
    finally:
        store.close()


def run_writer_processes(open_store, prefixes: list[str], n_docs: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Start one spawned writer process per prefix at once, all on the same store; their (status, prefix) results.

    `open_store` must pickle (a class or `functools.partial` of one): each child opens its own connection."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_writer_process, args=(open_store, p, n_docs, out)) for p in prefixes]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results
