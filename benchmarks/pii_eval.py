"""PII detection quality and speed on the labelled fixture (tests/fixtures/pii_labelled.jsonl).

Run:  .venv/bin/python benchmarks/pii_eval.py [--repeat 20]
Prints one JSON document: per-type precision/recall, micro-averaged overall, analyzer build time, throughput.
Results are copied into docs/benchmarks.md (## PII) and docs/security.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ragft.governance.pii import PiiScanner, evaluate

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pii_labelled.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="Passes over the fixture for the throughput figure.")
    parser.add_argument("--threshold", type=float, default=0.35)
    args = parser.parse_args()
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    scanner = PiiScanner(threshold=args.threshold)
    t0 = time.perf_counter()
    scanner.scan("warm up a@example.com")
    build_s = time.perf_counter() - t0
    result = evaluate(scanner, rows)
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        for row in rows:
            scanner.scan(row["text"])
    elapsed = time.perf_counter() - t0
    print(json.dumps({
        "texts": result.texts,
        "labelled_spans": sum(len(r["entities"]) for r in rows),
        "threshold": args.threshold,
        "overall": result.overall,
        "per_type": result.per_type,
        "not_scanned": result.not_scanned,
        "analyzer_build_s": round(build_s, 2),
        "texts_per_s": round(args.repeat * len(rows) / elapsed, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
