"""QA synthesis benchmark: yield (usable pairs per chunk attempted), time per pair, and a sample for hand-checking,
for the span-first pipeline (`spans`, the default) and the original free-form one (`generator`).

Corpora (chunks come from the same loaders and chunker `ragft ingest` uses; the embedder plays no part in
synthesis, so a hash embedder stands in for it here):
- `demo`    examples/demo/corpus (51 chunks, 11 files in 8 formats)
- `wiki`    rag-mini-wikipedia passages (one chunk per passage; a seeded sample of --docs passages)
- `scifact` SciFact abstracts (title + abstract, chunked; a seeded sample of --docs abstracts)
- `mixed`   the generated mixed-format folder of tests/mixed_corpus.py (txt, md, html+table, docx+table, pdf,
            csv, json; ~107 chunks)

    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python benchmarks/synth.py --corpus demo,wiki,scifact,mixed \\
        --method spans --count 64 --pairs-out /tmp/synth-spans.jsonl
    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python benchmarks/synth.py --corpus demo,wiki,scifact \\
        --method generator --count 64 --max-attempts 12 --pairs-out /tmp/synth-generator.jsonl

`--compare` instead runs `compare --train-missing` with all four strategies end to end on a corpus folder
(demo or mixed) with the bundled models (SmolLM2-135M generator, all-MiniLM-L6-v2 embedder): ingest, held-out
set, ft and RAFT adapters trained from synthesised pairs (--epochs), every strategy answered; it prints the
wall time of each phase and the strategy scores:

    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python benchmarks/synth.py --compare --corpus demo,mixed \
        --questions 10 --epochs 1

Every synthesis run prints one JSON line: corpus, method, chunks, pairs, attempts, yield, seconds, seconds per pair,
generator calls, rejections and the load average (1 min) before and after. The bundled SmolLM2-135M generator
is loaded once (not timed) when the method or --rewrite-calls needs it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragft.finetune.synth import synthesise_pairs  # noqa: E402
from ragft.types import Chunk  # noqa: E402

DATA = next((p for p in (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data") if p.is_dir()),
            ROOT.parent / "shared" / "data")


def _ingested(folder: Path) -> list[Chunk]:
    """Chunks of `folder` as `ragft ingest` makes them (real loaders, chunker and SQLite store)."""
    from ragft.workspace import Workspace
    from tests.fakes import HashEmbedder

    tmp = Path(tempfile.mkdtemp(prefix="ragft-synth-"))
    try:
        ws = Workspace(tmp / "ws", embedder=HashEmbedder())
        ws.ingest([folder])
        chunks = list(ws.store.iter_chunks())
        ws.close()
        return chunks
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _chunked(docs: list[tuple[str, str, str]]) -> list[Chunk]:
    """(doc_id, title, text) -> chunks with the default chunker (200 tokens, 40 overlap)."""
    from ragft.documents.chunking import chunk_blocks
    from ragft.documents.loaders import Block

    out: list[Chunk] = []
    for doc_id, title, text in docs:
        blocks = [Block(p, (title,) if title else ()) for p in text.split("\n\n") if p.strip()]
        for i, tc in enumerate(chunk_blocks(blocks)):
            out.append(Chunk(f"{doc_id}:{i}", doc_id, i, tc.text, tc.heading, tc.n_tokens))
    return out


def load_corpus(name: str, docs: int, seed: int, data: Path = DATA) -> list[Chunk]:
    rng = random.Random(seed)
    if name == "demo":
        return _ingested(ROOT / "examples" / "demo" / "corpus")
    if name == "mixed":
        from tests.mixed_corpus import write_mixed_corpus

        tmp = Path(tempfile.mkdtemp(prefix="ragft-mixed-"))
        try:
            return _ingested(write_mixed_corpus(tmp / "corpus", seed=0))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if name == "wiki":
        with (data / "rag-mini-wikipedia" / "passages.csv").open(encoding="utf-8", newline="") as fh:
            rows = [(f"p{r['id']}", "", " ".join(r["passage"].split())) for r in csv.DictReader(fh) if r["passage"].strip()]
        rows = rng.sample(rows, min(docs, len(rows)))
        return [Chunk(f"{d}:0", d, 0, t, "", len(t.split())) for d, _, t in rows]  # one chunk per passage, as benchmarks/compare.py
    if name == "scifact":
        with (data / "scifact" / "corpus.jsonl").open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        rows = rng.sample(rows, min(docs, len(rows)))
        return _chunked([(f"s{r['_id']}", r.get("title", ""), r.get("text", "")) for r in rows])
    raise SystemExit(f"unknown corpus {name!r}; choose demo, wiki, scifact, mixed")


def corpus_folder(name: str, tmp: Path) -> Path:
    if name == "demo":
        return ROOT / "examples" / "demo" / "corpus"
    if name == "mixed":
        from tests.mixed_corpus import write_mixed_corpus

        return write_mixed_corpus(tmp / "mixed-corpus", seed=0)
    raise SystemExit(f"--compare runs on a folder corpus: demo or mixed, not {name!r}")


def run_compare_benchmark(name: str, questions: int, epochs: float, seed: int, synth_questions: int = 64) -> dict:
    """`compare --strategies base,rag,ft,hybrid --train-missing` on a fresh workspace, phases timed.

    Every synthesis run inside it (the held-out set, then the training pairs of each adapter) is recorded:
    pairs asked and made, chunks attempted, seconds."""
    import ragft.finetune.synth as synth_module
    from ragft.config import Settings
    from ragft.finetune.registry import AdapterRegistry
    from ragft.workspace import Workspace

    syntheses: list[dict] = []
    original = synth_module.synthesise_pairs

    def recorded(generator, chunks, count, **kwargs):  # type: ignore[no-untyped-def]
        report = original(generator, chunks, count, **kwargs)
        syntheses.append({"asked": count, "pairs": len(report.pairs), "attempts": report.attempts,
                          "from_tables": report.from_tables, "seconds": report.seconds})
        return report

    tmp = Path(tempfile.mkdtemp(prefix="ragft-synth-compare-"))
    synth_module.synthesise_pairs = recorded  # callers import it at call time (pipeline.py, evaluate/qa.py)
    try:
        settings = Settings()
        settings.train.epochs = epochs
        settings.train.synth_questions = synth_questions
        settings.compare.heldout_questions = questions
        ws = Workspace(tmp / "ws", settings=settings)
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        ingest = ws.ingest([corpus_folder(name, tmp)])
        t1 = time.perf_counter()
        result = ws.compare(strategies=("base", "rag", "ft", "hybrid"), train_missing=True, seed=seed)
        t2 = time.perf_counter()
        adapters = {a.name: {"kind": a.kind, "examples": a.metrics.get("examples"), "steps": a.metrics.get("steps"),
                             "seconds": a.metrics.get("seconds")} for a in AdapterRegistry(ws.path).list()}
        row = {
            "corpus": name, "chunks": ingest.chunks, "questions": result.meta["questions"], "qa": result.meta["qa"],
            "skipped": result.skipped, "ingest_s": round(t1 - t0, 1), "compare_s": round(t2 - t1, 1),
            "syntheses": syntheses, "adapters": adapters,
            "strategies": {s: {"f1": round(v.f1, 3) if v.f1 is not None else None, "exact_match": v.exact_match,
                               "abstention_rate": v.abstention_rate, "latency_ms_p50": v.latency_ms_p50}
                           for s, v in result.strategies.items()},
            "recommendation": result.recommendation,
            "load1_before": round(load_before, 2), "load1_after": round(os.getloadavg()[0], 2),
        }
        ws.close()
        return row
    finally:
        synth_module.synthesise_pairs = original
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="demo,wiki,scifact,mixed")
    ap.add_argument("--method", default="spans", choices=["spans", "generator"])
    ap.add_argument("--count", type=int, default=64, help="pairs asked for (the finetune default)")
    ap.add_argument("--max-attempts", type=int, default=None, help="cap on chunks attempted")
    ap.add_argument("--rewrite-calls", type=int, default=0, help="generator rewrites for the spans method")
    ap.add_argument("--docs", type=int, default=400, help="sampled passages/abstracts for wiki and scifact")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder (rag-mini-wikipedia/, scifact/)")
    ap.add_argument("--pairs-out", type=Path, default=None, help="append every pair as JSONL (for hand-checking)")
    ap.add_argument("--compare", action="store_true", help="run compare --train-missing end to end (demo, mixed)")
    ap.add_argument("--questions", type=int, default=10, help="--compare: held-out questions")
    ap.add_argument("--epochs", type=float, default=1.0, help="--compare: training epochs of each adapter")
    ap.add_argument("--synth-questions", type=int, default=64, help="--compare: training pairs synthesised per adapter")
    args = ap.parse_args(argv)
    if args.compare:
        for name in [c.strip() for c in args.corpus.split(",") if c.strip()]:
            print(json.dumps(run_compare_benchmark(name, args.questions, args.epochs, args.seed, args.synth_questions), default=str), flush=True)
        return 0

    generator = None
    if args.method == "generator" or args.rewrite_calls > 0:
        from ragft.config import GeneratorSettings
        from ragft.models.registry import load_generator

        generator = load_generator(GeneratorSettings())
        generator.generate([{"role": "user", "content": "Hi"}], max_tokens=2)  # load outside the timed part
    for name in [c.strip() for c in args.corpus.split(",") if c.strip()]:
        chunks = load_corpus(name, args.docs, args.seed, args.data)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        rep = synthesise_pairs(generator, chunks, args.count, seed=args.seed, method=args.method,
                               max_attempts=args.max_attempts, rewrite_calls=args.rewrite_calls)
        seconds = time.perf_counter() - started
        row = {
            "corpus": name, "method": args.method, "chunks": len(chunks), "pairs": len(rep.pairs),
            "attempts": rep.attempts, "yield": round(len(rep.pairs) / rep.attempts, 3) if rep.attempts else 0.0,
            "seconds": round(seconds, 2), "s_per_pair": round(seconds / len(rep.pairs), 3) if rep.pairs else None,
            "generator_calls": rep.generator_calls, "rewritten": rep.rewritten, "from_tables": rep.from_tables,
            "rejected": dict(rep.rejected.most_common()),
            "load1_before": round(load_before, 2), "load1_after": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(row), flush=True)
        if args.pairs_out:
            with args.pairs_out.open("a", encoding="utf-8") as fh:
                for p in rep.pairs:
                    fh.write(json.dumps({"corpus": name, "method": args.method, "question": p.question, "answer": p.answer,
                                         "chunk_id": p.oracle.chunk_id, "passage": p.oracle.text}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
