"""Retrieval: fusion on hand cases, modes, the reranker extension point, ACL-before-top-k in every mode."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragft.config import RetrievalSettings, Settings
from ragft.errors import ConfigError, EmbedderMismatchError
from ragft.retrieval import MODES, convex_fuse, rrf_fuse
from ragft.store.sqlite import SqliteStore
from ragft.types import Chunk, Document, Hit
from ragft.workspace import Workspace
from tests.fakes import HashEmbedder


def h(cid: str, score: float = 0.0) -> Hit:
    return Hit(doc_id=cid.split(":")[0], chunk_id=cid, source="s", score=score, text=cid)


# ---------------------------------------------------------------------------- fusion, hand-computed
def test_rrf_hand_case():
    a = [h("x"), h("y"), h("z")]
    b = [h("y"), h("w")]
    fused = rrf_fuse([a, b], rrf_k=60)
    # x: 1/61 ; y: 1/62 + 1/61 ; z: 1/63 ; w: 1/62
    expected = {"y": 1 / 62 + 1 / 61, "x": 1 / 61, "w": 1 / 62, "z": 1 / 63}
    assert [f.chunk_id for f in fused] == ["y", "x", "w", "z"]
    for f in fused:
        assert f.score == pytest.approx(expected[f.chunk_id])


def test_rrf_weights_and_constant():
    a = [h("x"), h("y")]
    b = [h("y"), h("x")]
    # equal weights: tie, broken by first appearance (x first in list a)
    assert [f.chunk_id for f in rrf_fuse([a, b], rrf_k=1)] == ["x", "y"]
    fused = rrf_fuse([a, b], weights=[1.0, 2.0], rrf_k=1)
    # x: 1/2 + 2/3 = 1.1667 ; y: 1/3 + 2/2 = 1.3333
    assert [f.chunk_id for f in fused] == ["y", "x"]
    assert fused[0].score == pytest.approx(1 / 3 + 1.0)
    assert rrf_fuse([[], []]) == []
    # weight 0 keeps the list's items but contributes nothing
    assert [f.score for f in rrf_fuse([[h("q")], [h("r")]], weights=[0.0, 1.0], rrf_k=0)] == [1.0, 0.0]


def test_convex_hand_case():
    bm25 = [h("x", 10.0), h("y", 6.0), h("z", 2.0)]  # normalised: x 1, y 0.5, z 0
    dense = [h("y", 0.9), h("w", 0.5)]  # normalised: y 1, w 0
    fused = convex_fuse([bm25, dense], weights=[0.4, 0.6])
    expected = {"x": 0.4, "y": 0.4 * 0.5 + 0.6, "z": 0.0, "w": 0.0}
    assert [f.chunk_id for f in fused] == ["y", "x", "z", "w"]
    for f in fused:
        assert f.score == pytest.approx(expected[f.chunk_id])
    # a constant list normalises to 1 for each hit
    assert [f.score for f in convex_fuse([[h("a", 3.0), h("b", 3.0)]])] == [1.0, 1.0]


def test_fusion_keeps_hit_fields():
    fused = rrf_fuse([[Hit("d", "d:0", "src.txt", 3.0, "the text")]])
    assert fused[0].source == "src.txt" and fused[0].text == "the text" and fused[0].doc_id == "d"


# ---------------------------------------------------------------------------- workspace-level retrieval
CORPUS = {
    "pets": "Cats and dogs are popular pets that live with people",
    "space": "The rocket launched a satellite into orbit around the planet",
    "cook": "Bake the bread in a hot oven until the crust is golden",
    "sea": "Whales and dolphins swim in the deep ocean water",
}


def fill(ws: Workspace, corpus: dict[str, str], groups: dict[str, tuple[str, ...]] | None = None) -> None:
    groups = groups or {}
    for doc_id, text in corpus.items():
        doc = Document(doc_id=doc_id, source=f"{doc_id}.txt", title=doc_id, content_hash=doc_id, groups=groups.get(doc_id, ()))
        chunks = [Chunk(chunk_id=f"{doc_id}:0", doc_id=doc_id, ordinal=0, text=text)]
        ws.store.replace_document(doc, chunks, ws.embedder.embed([text]))


@pytest.fixture
def ws(fast_ws):
    fill(fast_ws, CORPUS)
    return fast_ws


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_finds_the_obvious_document(ws, mode):
    hits = ws.search("whales dolphins ocean", k=2, mode=mode)
    assert hits[0].doc_id == "sea"
    # bm25 returns only chunks sharing a term; dense/hybrid rank everything visible
    assert len(hits) == (1 if mode == "bm25" else 2)


def test_unknown_mode_lists_allowed_values(ws):
    with pytest.raises(ConfigError, match="bm25, dense, hybrid"):
        ws.search("x", mode="sparse")


def test_convex_fusion_setting_is_used(ws):
    ws.settings.retrieval.fusion = "convex"
    hits = ws.search("bread oven", k=4, mode="hybrid")
    assert hits[0].doc_id == "cook"
    assert hits[0].score <= ws.settings.retrieval.bm25_weight + ws.settings.retrieval.dense_weight + 1e-9


def test_k_from_settings(ws):
    ws.settings.retrieval.k = 3
    assert len(ws.search("the", mode="dense")) == 3


def test_embedder_mismatch_is_refused(ws):
    ws.store.set_meta("embedder", "some-other-model")
    with pytest.raises(EmbedderMismatchError, match="some-other-model"):
        ws.search("cats", mode="dense")
    assert ws.search("cats", mode="bm25")  # bm25 needs no embedder


class ReverseAlphabetReranker:
    """A tiny reranker defined by the test: orders hits by reverse doc_id, scores them 1/(rank)."""

    name = "reverse-alphabet"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def rerank(self, query, hits):  # type: ignore[no-untyped-def]
        self.calls.append((query, [x.chunk_id for x in hits]))
        ordered = sorted(hits, key=lambda x: x.doc_id, reverse=True)
        return [Hit(x.doc_id, x.chunk_id, x.source, 1.0 / (i + 1), x.text) for i, x in enumerate(ordered)]


def test_reranker_extension_point(ws):
    rr = ReverseAlphabetReranker()
    hits = ws.retriever.search("the", k=2, mode="hybrid", reranker=rr)
    # the reranker saw the whole candidate pool (all 4 docs), not just the top k
    assert len(rr.calls) == 1 and len(rr.calls[0][1]) == 4
    assert [x.doc_id for x in hits] == ["space", "sea"]
    ws.retriever.search("the", k=2, mode="hybrid", reranker=rr, rerank=False)
    assert len(rr.calls) == 1  # rerank=False wins over a passed reranker


def test_rerank_without_configured_reranker_is_a_config_error(ws):
    with pytest.raises(ConfigError, match="retrieval.reranker"):
        ws.retriever.search("cats", rerank=True)


def test_configured_reranker_folder_must_exist(ws, tmp_path):
    ws.settings.retrieval.reranker = str(tmp_path / "no-such-model")
    with pytest.raises(ConfigError, match="not a folder"):
        ws.retriever.search("cats", rerank=True)


def test_acl_groups_pass_through_every_mode(fast_ws):
    fill(fast_ws, CORPUS, groups={"sea": ("marine",), "space": ("nasa",)})
    for mode in MODES:
        assert {x.doc_id for x in fast_ws.search("whales ocean rocket", k=4, mode=mode, groups=[])} <= {"pets", "cook"}
        seen = {x.doc_id for x in fast_ws.search("whales ocean", k=4, mode=mode, groups=["marine"])}
        assert "sea" in seen and "space" not in seen


# ---------------------------------------------------------------------------- property: ACL before top-k
VOCAB = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
GROUPS = ["g1", "g2", "g3"]

doc_strategy = st.tuples(
    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=5),  # the chunk's words
    st.lists(st.sampled_from(GROUPS), max_size=2, unique=True),  # its document's groups
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(doc_strategy, min_size=1, max_size=12),
    caller=st.one_of(st.none(), st.sets(st.sampled_from(GROUPS + ["other"]), max_size=2)),
    word=st.sampled_from(VOCAB),
    k=st.integers(min_value=1, max_value=8),
)
def test_group_filter_never_leaks_and_fills_k(docs, caller, word, k):
    embedder = HashEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "ragft.db")
        ws = Workspace(Path(tmp) / "ws", settings=Settings(), store=store, embedder=embedder)
        allowed: dict[str, bool] = {}
        has_word: dict[str, bool] = {}
        for i, (words, groups) in enumerate(docs):
            doc_id = f"d{i}"
            text = " ".join(words)
            doc = Document(doc_id=doc_id, source=doc_id, title=doc_id, content_hash="h", groups=tuple(groups))
            store.replace_document(doc, [Chunk(f"{doc_id}:0", doc_id, 0, text)], embedder.embed([text]))
            allowed[f"{doc_id}:0"] = caller is None or not groups or bool(set(groups) & caller)
            has_word[f"{doc_id}:0"] = word in words
        visible = sum(allowed.values())
        visible_matching = sum(1 for c in allowed if allowed[c] and has_word[c])
        for mode in MODES:
            hits = ws.retriever.search(word, k=k, mode=mode, groups=caller)
            assert all(allowed[x.chunk_id] for x in hits), (mode, hits)
            assert len({x.chunk_id for x in hits}) == len(hits)
            # dense and hybrid rank every visible chunk; bm25 only those containing the word
            expected = min(k, visible_matching if mode == "bm25" else visible)
            assert len(hits) == expected, (mode, len(hits), expected)
        ws.close()


def test_retrieval_settings_defaults_are_valid():
    s = RetrievalSettings()
    assert s.mode in MODES and s.candidates >= s.k


# ---------------------------------------------------------------------------- real model, real data
@pytest.mark.real_model
def test_real_embedder_hybrid_on_scifact_subset(tmp_path, real_embedder, shared_data):
    """SciFact: the judged documents of the first 40 queries among 300 distractors, real MiniLM vectors."""
    from ragft.evaluate.beir import BeirData, evaluate_beir, load_beir

    full = load_beir(shared_data / "scifact")
    qids = [q for q in full.queries if q in full.qrels][:40]
    keep = {d for q in qids for d in full.qrels[q]}
    keep |= set(list(full.corpus)[:300])
    sub = BeirData(
        corpus={d: full.corpus[d] for d in full.corpus if d in keep},
        queries={q: full.queries[q] for q in qids},
        qrels={q: full.qrels[q] for q in qids},
    )
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    import json as _json

    (folder / "corpus.jsonl").write_text("".join(_json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, (t, x) in sub.corpus.items()))
    (folder / "queries.jsonl").write_text("".join(_json.dumps({"_id": q, "text": t}) + "\n" for q, t in sub.queries.items()))
    (folder / "qrels" / "test.tsv").write_text("".join(f"{q}\t{d}\t{r}\n" for q, rels in sub.qrels.items() for d, r in rels.items()))
    ws = Workspace(tmp_path / "ws", embedder=real_embedder)
    results = {mode: evaluate_beir(ws.retriever, folder, mode=mode) for mode in MODES}
    ws.close()
    for mode, r in results.items():
        assert r.queries == 40
        # a floor far below published SciFact figures (0.64-0.69 on the full corpus): catches broken wiring
        assert r.metrics["ndcg@10"] > 0.5, (mode, r.metrics)
    assert results["hybrid"].metrics["recall@100"] >= max(results["bm25"].metrics["recall@100"], results["dense"].metrics["recall@100"]) - 0.05
