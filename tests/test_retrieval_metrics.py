"""Retrieval metrics: hand-computed cases, and a cross-check against pytrec_eval (trec_eval) when installed."""

from __future__ import annotations

import math
import random

import pytest

from ragft.evaluate.retrieval_metrics import evaluate_run, mrr_at_k, ndcg_at_k, percentile, recall_at_k


def test_ndcg_hand_case_binary():
    rels = {"a": 1, "b": 1}
    # relevant at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5 ; IDCG = 1 + 1/log2(3)
    assert ndcg_at_k(["a", "x", "b"], rels, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["a", "b"], rels, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], rels, 10) == 0.0
    # cut-off: b at rank 3 is outside @2 -> DCG 1 ; IDCG@2 = 1 + 1/log2(3)
    assert ndcg_at_k(["a", "x", "b"], rels, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_ndcg_graded_uses_linear_gain_like_trec_eval():
    rels = {"a": 2, "b": 1, "c": 0}
    # ranking b, a: DCG = 1 + 2/log2(3) ; IDCG = 2 + 1/log2(3)
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(["b", "a", "c"], rels, 10) == pytest.approx(expected)


def test_ideal_dcg_counts_relevant_documents_never_retrieved():
    rels = {"a": 1, "b": 1, "c": 1}
    assert ndcg_at_k(["a"], rels, 10) == pytest.approx(1 / (1 + 1 / math.log2(3) + 1 / math.log2(4)))


def test_recall_and_mrr_hand_cases():
    rels = {"a": 1, "b": 1, "c": 0}
    assert recall_at_k(["x", "a", "c"], rels, 100) == 0.5
    assert recall_at_k(["x", "a", "b"], rels, 2) == 0.5
    assert recall_at_k(["a", "b"], rels, 2) == 1.0
    assert mrr_at_k(["x", "c", "b"], rels, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "c", "b"], rels, 2) == 0.0
    assert mrr_at_k([], rels, 10) == 0.0


def test_duplicate_doc_ids_count_once_at_best_rank():
    rels = {"a": 1, "b": 1}
    # two chunks of document x then a then b: after dedupe a is rank 2, b rank 3
    assert mrr_at_k(["x", "x", "a", "b"], rels, 10) == 0.5
    assert ndcg_at_k(["x", "x", "a", "b"], rels, 3) == ndcg_at_k(["x", "a", "b"], rels, 3)


def test_evaluate_run_means_and_skips_queries_without_relevant_docs():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}
    run = {"q1": ["a"], "q2": ["x", "b"]}
    out = evaluate_run(run, qrels)
    assert out["queries"] == 2
    assert out["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    assert out["recall@100"] == 1.0
    assert out["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    # a query with qrels but no run scores 0
    assert evaluate_run({}, {"q1": {"a": 1}})["ndcg@10"] == 0.0
    assert evaluate_run({}, {})["queries"] == 0


def test_percentile_matches_numpy_linear():
    np = pytest.importorskip("numpy")
    xs = [5.0, 1.0, 3.0, 10.0, 7.5]
    for p in (0, 50, 95, 100):
        assert percentile(xs, p) == pytest.approx(float(np.percentile(xs, p)))
    assert percentile([], 50) == 0.0


def test_cross_check_against_pytrec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(40)]
    qrels = {f"q{j}": {d: rng.choice([1, 1, 2]) for d in rng.sample(docs, rng.randint(1, 6))} for j in range(25)}
    run_lists = {q: rng.sample(docs, rng.randint(0, 30)) for q in qrels}
    # trec_eval ranks by score: give strictly decreasing scores in list order
    run_scores = {q: {d: float(100 - i) for i, d in enumerate(ranked)} for q, ranked in run_lists.items()}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "recip_rank"})
    ref = evaluator.evaluate(run_scores)
    for q, ranked in run_lists.items():
        assert ndcg_at_k(ranked, qrels[q], 10) == pytest.approx(ref[q]["ndcg_cut_10"], abs=1e-9), q
        assert recall_at_k(ranked, qrels[q], 100) == pytest.approx(ref[q]["recall_100"], abs=1e-9), q
        # trec_eval's recip_rank has no cut-off; our MRR@100 equals it on runs of <= 30 docs
        assert mrr_at_k(ranked, qrels[q], 100) == pytest.approx(ref[q]["recip_rank"], abs=1e-9), q


# ---------------------------------------------------------------------------- BEIR reading and evaluation
import json  # noqa: E402

from ragft.errors import DataError  # noqa: E402
from ragft.evaluate.beir import evaluate_beir, load_beir  # noqa: E402


@pytest.fixture
def beir_dir(tmp_path):
    d = tmp_path / "beir"
    (d / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Cats", "text": "Cats are small domestic felines that purr."},
        {"_id": "d2", "title": "Rockets", "text": "Rockets launch satellites into orbit."},
        {"_id": "d3", "title": "Bread", "text": "Bread is baked in a hot oven."},
    ]
    (d / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus) + "\n")
    queries = [
        {"_id": "q1", "text": "which animals purr"},
        {"_id": "q2", "text": "how do satellites reach orbit"},
        {"_id": "q3", "text": "a query without judgements"},
        {"_id": "q4", "text": "hot oven"},
    ]
    (d / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in queries) + "\n")
    # q4's only judged document is not relevant (score 0): BEIR leaves such queries out
    (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq2\td3\t1\nq4\td3\t0\n")
    return d


def test_load_beir(beir_dir):
    data = load_beir(beir_dir)
    assert list(data.corpus) == ["d1", "d2", "d3"]
    assert data.corpus["d2"] == ("Rockets", "Rockets launch satellites into orbit.")
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1, "d3": 1}, "q4": {"d3": 0}}


def test_load_beir_errors_name_file_and_line(beir_dir, tmp_path):
    with (beir_dir / "corpus.jsonl").open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(DataError, match=r"corpus.jsonl:4"):
        load_beir(beir_dir)
    with pytest.raises(DataError, match="not a folder"):
        load_beir(tmp_path / "missing")
    (beir_dir / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n')
    (beir_dir / "qrels" / "test.tsv").write_text("q1\td1\tyes\n")
    with pytest.raises(DataError, match=r"test.tsv:1: score 'yes'"):
        load_beir(beir_dir)


def test_evaluate_beir_hand_checked(fast_ws, beir_dir):
    result = evaluate_beir(fast_ws.retriever, beir_dir, mode="bm25")
    # q1: d1 first -> 1.0 everywhere. q2 (d2, d3 relevant): only d2 shares a term -> rank 1;
    # nDCG = 1 / (1 + 1/log2 3), recall 0.5, MRR 1.
    assert result.queries == 2
    assert result.metrics["mrr@10"] == pytest.approx(1.0)
    assert result.metrics["recall@100"] == pytest.approx(0.75)
    assert result.metrics["ndcg@10"] == pytest.approx((1 + 1 / (1 + 1 / math.log2(3))) / 2)
    assert result.documents_ingested == 3
    assert fast_ws.store.get_document("d2").title == "Rockets"
    # second run: nothing re-embedded, same numbers
    again = evaluate_beir(fast_ws.retriever, beir_dir, mode="bm25", limit=1)
    assert again.documents_ingested == 0 and again.queries == 1
    d = result.to_dict()
    assert {"ndcg@10", "recall@100", "mrr@10", "queries", "mode", "latency_ms_p50", "latency_ms_p95"} <= set(d)


def test_evaluate_beir_takes_a_retriever_and_builds_the_reranker_once(fast_ws, beir_dir):
    """evaluate_beir gets its collaborators from a Retriever (no workspace): the corpus goes into the
    retriever's store, every query runs through Retriever.search with one reranker, built once."""
    from ragft.config import RetrievalSettings
    from ragft.retrieval import Retriever

    built, seen = [], []

    class Reverse:
        name = "reverse"

        def rerank(self, query, hits):  # type: ignore[no-untyped-def]
            seen.append(query)
            return list(reversed(hits))

    def factory():  # type: ignore[no-untyped-def]
        built.append(1)
        return Reverse()

    retriever = Retriever(fast_ws.store, RetrievalSettings(mode="bm25"), embedder=lambda: fast_ws.embedder,
                          reranker=factory)
    result = evaluate_beir(retriever, beir_dir, rerank=True)
    assert result.mode == "bm25" and result.rerank and result.queries == 2  # the mode from the retriever's settings
    assert built == [1]  # one reranker for the whole run, not one per query
    # an untimed warm-up query first, then every query with qrels (q4's are all 0: run, then left out of the scores)
    assert seen == ["which animals purr", "which animals purr", "how do satellites reach orbit", "hot oven"]
    assert fast_ws.store.get_document("d1").title == "Cats"


def test_eval_retrieval_cli_json(beir_dir, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import ragft.cli as cli
    from ragft.workspace import Workspace
    from tests.fakes import HashEmbedder

    monkeypatch.setattr(cli, "open_workspace", lambda path: Workspace(path, embedder=HashEmbedder()))
    runner = CliRunner()
    res = runner.invoke(cli.app, ["eval", "retrieval", "--beir", str(beir_dir), "--mode", "hybrid", "--json", "-k", "5"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["queries"] == 2 and out["mode"] == "hybrid"
    assert 0 < out["ndcg@10"] <= 1 and "ndcg@5" in out
    res = runner.invoke(cli.app, ["eval", "retrieval", "--beir", str(beir_dir), "--mode", "sparse", "--json"])
    assert res.exit_code == 2 and "allowed: bm25, dense, hybrid" in json.loads(res.stdout)["error"]["message"]
    res = runner.invoke(cli.app, ["eval", "retrieval", "--beir", str(tmp_path / "none")])
    assert res.exit_code == 2
    ws_dir = tmp_path / "kept"
    res = runner.invoke(cli.app, ["eval", "retrieval", "--beir", str(beir_dir), "-w", str(ws_dir), "--mode", "bm25"])
    assert res.exit_code == 0 and "nDCG@10" in res.stdout
    assert (ws_dir / "ragft.db").exists()
