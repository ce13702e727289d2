"""Where ragft's time goes in the peer benchmark's workloads: pyinstrument profiles of ingest and search.

    .venv/bin/pip install pyinstrument==5.1.3
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/peers/profile_ragft.py [--passages 48] [--size 10000] [--out DIR]

Same setup as worker_ragft.py (the same RagftSystem class): ingest of the first --passages passages as .txt files,
then dense and hybrid `Workspace.search` on a synthetic --size-chunk store. Writes `ingest.txt`, `dense.txt`,
`hybrid.txt` (pyinstrument call trees, 1 ms sampling) under --out and prints each tree's top frames. Then the
padding check behind the ingest result: the raw embedder's CPU time on the same chunk texts at batch 64/32/16/8
with the padded-token count of each, and, over all passages, the padding of ragft's embed calls (one call per
64-text slice, file order) vs one call per 256-text flush (sentence-transformers sorts by length within a call).
The causes found are written up in docs/benchmarks.md (## Peers).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from common import offline_env, query_vectors, read_passages, read_questions, synthetic_chunks, write_passage_files  # noqa: E402
from worker_ragft import RagftSystem  # noqa: E402


def profiled(name: str, out: Path, fn) -> None:  # type: ignore[no-untyped-def]
    from pyinstrument import Profiler

    prof = Profiler(interval=0.001)
    prof.start()
    fn()
    prof.stop()
    text = prof.output_text(unicode=False, color=False, show_all=False)
    (out / f"{name}.txt").write_text(text, encoding="utf-8")
    print(f"===== {name} ({out / (name + '.txt')})\n" + "\n".join(text.splitlines()[:45]))


def _padded(lengths: list[int], batch: int, sort: bool) -> int:
    """Tokens the model computes when `lengths` are batched `batch` at a time, each padded to its batch's longest."""
    seq = sorted(lengths, reverse=True) if sort else lengths
    return sum(max(seq[i : i + batch]) * len(seq[i : i + batch]) for i in range(0, len(seq), batch))


def padding(folder: Path, passages: list[str]) -> None:
    import time

    from worker_raw import RawEmbedder

    raw = RawEmbedder()
    raw.load()
    raw.prepare(folder)
    tok, cap = raw.model.tokenizer, raw.model.max_seq_length
    lens = [min(len(ids), cap) for ids in tok(raw._texts)["input_ids"]]
    print(f"===== padding: {len(lens)} chunk texts, {sum(lens)} real tokens (max {max(lens)})")
    for batch in (64, 32, 16, 8):
        cpu = []
        for _ in range(3):
            c = time.process_time()
            raw.model.encode(raw._texts, batch_size=batch, normalize_embeddings=True)
            cpu.append(time.process_time() - c)
        print(f"  batch {batch:2}: padded/real tokens {_padded(lens, batch, True) / sum(lens):.2f}x, "
              f"encode CPU s (median of 3) {sorted(cpu)[1]:.2f}")
    lens = [min(len(ids), cap) for ids in tok([f"p{i:05d}\n{t}" for i, t in enumerate(passages)])["input_ids"]]
    slices = sum(_padded(lens[i : i + 256], 64, False) for i in range(0, len(lens), 256))
    flush = sum(_padded(lens[i : i + 256], 64, True) for i in range(0, len(lens), 256))
    print(f"  all {len(lens)} passages, batch 64: per-slice calls (ragft ingest) {slices / sum(lens):.2f}x real tokens, "
          f"one call per 256-text flush {flush / sum(lens):.2f}x, whole corpus sorted {_padded(lens, 64, True) / sum(lens):.2f}x")


def main() -> None:
    offline_env()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parents[2] / "shared" / "data" / "rag-mini-wikipedia")
    ap.add_argument("--passages", type=int, default=48)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ragft-peers-profile")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    passages = read_passages(args.data / "passages.csv")
    questions = read_questions(args.data / "qa.jsonl", args.queries)
    system = RagftSystem()
    system.load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_passage_files(passages[: args.passages], Path(tmp) / "corpus")
        profiled("ingest", args.out, lambda: system.ingest(folder))
        padding(folder, passages)
    system.build(list(synthetic_chunks(passages, args.size)))
    system.search_vector(query_vectors(1)[0])  # load the dense matrix outside the profile
    profiled("dense", args.out, lambda: [system.search(q) for q in questions])
    profiled("hybrid", args.out, lambda: [system.search_hybrid(q) for q in questions])
    system.drop()


if __name__ == "__main__":
    main()
