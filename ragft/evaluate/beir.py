"""BEIR-format retrieval evaluation: `ragft eval retrieval --beir DIR`.

Reads the standard layout (`corpus.jsonl` with `_id`/`title`/`text`, `queries.jsonl` with `_id`/`text`,
`qrels/test.tsv` with `query-id corpus-id score` and a header line), ingests the corpus straight through the
store (title + text as one chunk per document, doc_id = the BEIR `_id`, vectors from the embedder in batches),
runs every query that has qrels through the same `Retriever.search` path `ragft search` uses, and reports
nDCG@10, Recall@100, MRR@10 and the per-query latency (embedding + search, no model load). It takes its
collaborators (a `Retriever`: store, settings, embedder and reranker) rather than a workspace; the CLI goes
through `Workspace.eval_retrieval`. Documents already in the store with the same content hash are not re-embedded, so a second run on the
same `-w` folder only runs the queries.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragft.errors import DataError
from ragft.evaluate.retrieval_metrics import evaluate_run, percentile
from ragft.ingest import FLUSH_TEXTS, flush_size
from ragft.types import Chunk, Document, Hit

if TYPE_CHECKING:
    import numpy as np

    from ragft.models.base import Embedder
    from ragft.retrieval import Retriever
    from ragft.store.base import Store

Progress = Callable[[str, int, int], None]  # (phase, done, total)
RECALL_DEPTH = 100


@dataclass(frozen=True)
class BeirData:
    """A BEIR split: corpus `{doc_id: (title, text)}` in file order, queries and graded qrels."""

    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


@dataclass
class RetrievalEval:
    """Result of `Workspace.eval_retrieval`; `to_dict()` is the JSON of `ragft eval retrieval`."""

    metrics: dict[str, float]
    queries: int
    mode: str
    rerank: bool
    latency_ms_p50: float
    latency_ms_p95: float
    documents_ingested: int = 0
    ingest_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: round(v, 4) for k, v in self.metrics.items()},
            "queries": self.queries,
            "mode": self.mode,
            "rerank": self.rerank,
            "latency_ms_p50": round(self.latency_ms_p50, 2),
            "latency_ms_p95": round(self.latency_ms_p95, 2),
            "documents_ingested": self.documents_ingested,
            "ingest_seconds": round(self.ingest_seconds, 1),
            **self.extra,
        }


# ---------------------------------------------------------------------------- reading
def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DataError(f"{path}: missing; a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/test.tsv")
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or "_id" not in row:
                raise DataError(f"{path}:{n}: expected an object with an \"_id\" field")
            yield n, row


def load_beir(folder: Path, split: str = "test") -> BeirData:
    """Read a BEIR folder; malformed lines raise DataError naming file and line."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; pass --beir DIR with corpus.jsonl, queries.jsonl, qrels/{split}.tsv")
    corpus = {
        str(row["_id"]): (str(row.get("title") or ""), str(row.get("text") or ""))
        for _, row in _jsonl(folder / "corpus.jsonl")
    }
    queries = {str(row["_id"]): str(row.get("text") or "") for _, row in _jsonl(folder / "queries.jsonl")}
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise DataError(f"{qrels_path}: missing; BEIR qrels are TSV lines 'query-id<TAB>corpus-id<TAB>score'")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if not line.strip() or (n == 1 and parts[0] == "query-id"):
                continue
            if len(parts) != 3:
                raise DataError(f"{qrels_path}:{n}: expected 3 tab-separated fields, got {len(parts)}")
            try:
                score = int(parts[2])
            except ValueError as exc:
                raise DataError(f"{qrels_path}:{n}: score {parts[2]!r} is not an integer") from exc
            qrels.setdefault(parts[0], {})[parts[1]] = score
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise DataError(f"{qrels_path}: {len(missing)} query ids have no text in queries.jsonl (first: {missing[0]})")
    return BeirData(corpus=corpus, queries=queries, qrels=qrels)


def doc_text(title: str, text: str) -> str:
    """One chunk per BEIR document: title and text, as BEIR's own dense baselines embed them."""
    return f"{title}\n{text}".strip() if title else text.strip()


# ---------------------------------------------------------------------------- ingesting
def ingest_corpus(
    store: "Store",
    embedder: "Embedder",
    data: BeirData,
    batch_size: int = FLUSH_TEXTS,
    progress: Progress | None = None,
    vectors: "np.ndarray | None" = None,
) -> int:
    """Write the corpus into the store, one transaction per document; returns documents (re)written.

    `vectors` (one row per corpus document, file order) skips embedding: the benchmark passes a cached
    matrix. Documents whose content hash is already stored are skipped.
    """
    ids = list(data.corpus)
    texts = [doc_text(*data.corpus[d]) for d in ids]
    hashes = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    todo = []
    for i, doc_id in enumerate(ids):
        existing = store.get_document(doc_id)
        if existing is None or existing.content_hash != hashes[i]:
            todo.append(i)
    stored = store.get_meta("embedder")
    if stored is None and todo:
        store.set_meta("embedder", embedder.name)
    total = len(todo)
    if progress:
        progress("ingest", 0, total)
    for start in range(0, total, batch_size):
        batch = todo[start : start + batch_size]
        vecs = vectors[batch] if vectors is not None else embedder.embed([texts[i] for i in batch])
        for row, i in enumerate(batch):
            doc_id = ids[i]
            title = data.corpus[doc_id][0]
            doc = Document(doc_id=doc_id, source=f"beir:{doc_id}", title=title, content_hash=hashes[i])
            chunk = Chunk(chunk_id=f"{doc_id}:0", doc_id=doc_id, ordinal=0, text=texts[i], n_tokens=len(texts[i].split()))
            store.replace_document(doc, [chunk], vecs[row : row + 1])
        if progress:
            progress("ingest", min(start + batch_size, total), total)
    return total


# ---------------------------------------------------------------------------- running queries
def run_queries(
    search: Callable[[str], Sequence[Hit]],
    data: BeirData,
    limit: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, list[str]], list[float]]:
    """Run each query with qrels (file order, first `limit`); returns the run and per-query latency in ms."""
    qids = [q for q in data.queries if q in data.qrels]
    if limit is not None:
        qids = qids[:limit]
    run: dict[str, list[str]] = {}
    latencies: list[float] = []
    for n, qid in enumerate(qids, start=1):
        t0 = time.perf_counter()
        hits = search(data.queries[qid])
        latencies.append((time.perf_counter() - t0) * 1000.0)
        run[qid] = [h.doc_id for h in hits]
        if progress:
            progress("queries", n, len(qids))
    return run, latencies


def score_run(run: dict[str, list[str]], data: BeirData, k: int = 10) -> dict[str, float]:
    """nDCG@10, Recall@100, MRR@10 over the queries in `run` (plus @k variants when k != 10)."""
    qrels = {q: data.qrels[q] for q in run}
    metrics = evaluate_run(run, qrels, ndcg_k=10, recall_k=RECALL_DEPTH, mrr_k=10)
    if k != 10:
        extra = evaluate_run(run, qrels, ndcg_k=k, recall_k=k, mrr_k=k)
        metrics.update({m: v for m, v in extra.items() if m != "queries"})
    return metrics


def evaluate_beir(
    retriever: "Retriever",
    folder: Path,
    mode: str | None = None,
    rerank: bool = False,
    k: int = 10,
    limit: int | None = None,
    progress: Progress | None = None,
    embed_batch_size: int = 32,
) -> RetrievalEval:
    """Ingest `folder`'s corpus into the retriever's store and evaluate its test queries (module docstring).

    Everything comes from `retriever`: its store (ingest target), its embedder factory (vectors), its
    `[retrieval]` settings (the default `mode`) and its reranker; `embed_batch_size` is the embedder's batch
    (`[embedder] batch_size`), which sets how many texts go to one embed call (`ingest.flush_size`).
    """
    from ragft.retrieval import check_mode, load_reranker

    if k < 1:
        raise DataError(f"-k must be at least 1, got {k}")
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    mode = check_mode(mode or retriever.settings.mode)
    data = load_beir(folder)
    t0 = time.perf_counter()
    # Texts per embed call (and transaction batch), not the model's batch: the embedder length-sorts each call.
    ingested = ingest_corpus(retriever.store, retriever.embedder(), data, flush_size(embed_batch_size), progress)
    ingest_s = time.perf_counter() - t0
    depth = max(RECALL_DEPTH, k)
    reranker = None
    if rerank:  # resolved once: a reranker built per query would reload its model every time
        reranker = retriever.reranker() if retriever.reranker is not None else load_reranker(retriever.settings)

    def search(query: str) -> list[Hit]:
        return retriever.search(query, k=depth, mode=mode, rerank=rerank, reranker=reranker)

    first = next((data.queries[q] for q in data.queries if q in data.qrels), None)
    if first is not None:
        search(first)  # untimed: model loads and first-call overhead stay out of the latency figures
    run, latencies = run_queries(search, data, limit, progress)
    metrics = score_run(run, data, k)
    return RetrievalEval(
        metrics={m: v for m, v in metrics.items() if m != "queries"},
        queries=int(metrics["queries"]),
        mode=mode,
        rerank=rerank,
        latency_ms_p50=percentile(latencies, 50),
        latency_ms_p95=percentile(latencies, 95),
        documents_ingested=ingested,
        ingest_seconds=ingest_s,
    )
