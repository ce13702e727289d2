"""Where ragft's time goes in the peer benchmark's workloads: pyinstrument profiles of ingest and search.

    .venv/bin/pip install pyinstrument==5.1.3
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/peers/profile_ragft.py [--passages 48] [--size 10000] [--out DIR]

Same setup as worker_ragft.py (the same RagftSystem class): ingest of the first --passages passages as .txt files,
then dense and hybrid `Workspace.search` on a synthetic --size-chunk store. Writes `ingest.txt`, `dense.txt`,
`hybrid.txt` (pyinstrument call trees, 1 ms sampling) under --out and prints each tree's top frames; the causes
found are written up in docs/benchmarks.md (## Peers).
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
    system.build(list(synthetic_chunks(passages, args.size)))
    system.search_vector(query_vectors(1)[0])  # load the dense matrix outside the profile
    profiled("dense", args.out, lambda: [system.search(q) for q in questions])
    profiled("hybrid", args.out, lambda: [system.search_hybrid(q) for q in questions])
    system.drop()


if __name__ == "__main__":
    main()
