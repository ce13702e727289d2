"""A repeated question's retrieval: first time vs again (the query embedding comes from `QueryCache`).

Run from the project root:

    .venv/bin/python benchmarks/query_cache.py --data ../shared/data --n 50

Ingests the demo corpus (examples/demo/corpus) into --workspace once, warms the bundled embedder, then times
`Workspace.search` (hybrid, k=5) on --n rag-mini-wikipedia questions, each asked twice in a row: "first" embeds
the question, "again" finds its vector in the cache. Prints the median and p90 of each (ms), the cache's hits and
misses, and the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-bench-query-cache"))
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    from ragft.workspace import Workspace

    ws = Workspace(args.workspace)
    if not ws.store.stats().get("chunks"):
        ws.ingest([ROOT / "examples" / "demo" / "corpus"])
    qa = [json.loads(line) for line in open(args.data / "rag-mini-wikipedia" / "qa.jsonl", encoding="utf-8")]
    questions = list(dict.fromkeys(q["question"] for q in qa))[: args.n]
    ws.search("warm up the embedder", mode="hybrid")
    first, again = [], []
    for q in questions:
        for bucket in (first, again):
            t0 = time.perf_counter()
            ws.search(q, k=5, mode="hybrid")
            bucket.append((time.perf_counter() - t0) * 1000)
    cache = ws.retriever.embedder()

    def stats(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.1f} ms, p90 {statistics.quantiles(xs, n=10)[-1]:.1f} ms"

    print(f"{len(questions)} questions, hybrid k=5 on {ws.store.stats().get('chunks')} chunks; "
          f"first: {stats(first)}; again: {stats(again)}; cache hits {cache.hits}, misses {cache.misses}; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ws.close()


if __name__ == "__main__":
    main()
