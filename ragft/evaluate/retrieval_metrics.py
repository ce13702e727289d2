"""Retrieval metrics with trec_eval / pytrec_eval conventions (what BEIR reports).

- nDCG@k: gain = graded relevance (linear, as trec_eval's `ndcg_cut`), discount 1/log2(rank + 1); the ideal
  ranking sorts *all* judged relevant documents by relevance.
- Recall@k: relevant documents in the top k / all relevant documents.
- MRR@k: 1 / rank of the first relevant document within the top k, else 0.
Relevance <= 0 counts as not relevant. Queries without any relevant document are left out of the mean
(BEIR evaluates only queries that have qrels). A run is a ranked list of document ids per query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Sequence[str]]


def _dedupe(ranked: Sequence[str]) -> list[str]:
    """Keep the first occurrence of each id (several chunks of one document count once, at its best rank)."""
    return list(dict.fromkeys(ranked))


def ndcg_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    ranked = _dedupe(ranked)[:k]
    dcg = sum(max(rels.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(_dedupe(ranked)[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    for i, d in enumerate(_dedupe(ranked)[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def evaluate_run(run: Run, qrels: Qrels, ndcg_k: int = 10, recall_k: int = 100, mrr_k: int = 10) -> dict[str, float]:
    """Mean metrics over the queries of `qrels` that have a relevant document (missing run = empty list)."""
    queries = [q for q, rels in qrels.items() if any(r > 0 for r in rels.values())]
    if not queries:
        return {f"ndcg@{ndcg_k}": 0.0, f"recall@{recall_k}": 0.0, f"mrr@{mrr_k}": 0.0, "queries": 0}
    n = len(queries)
    return {
        f"ndcg@{ndcg_k}": sum(ndcg_at_k(run.get(q, ()), qrels[q], ndcg_k) for q in queries) / n,
        f"recall@{recall_k}": sum(recall_at_k(run.get(q, ()), qrels[q], recall_k) for q in queries) / n,
        f"mrr@{mrr_k}": sum(mrr_at_k(run.get(q, ()), qrels[q], mrr_k) for q in queries) / n,
        "queries": n,
    }


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default method), without importing numpy."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
