"""Many questions from the command line: one cold `ragft ask` process per question vs one `ragft ask --questions
FILE` process, on the same workspace and questions; wall time of each side and whether every answer is the same.

Run from the project root (idle machine):

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ask_many.py \\
        --workspace /tmp/ragft-answers-bench/hybrid --data /work/shared/data --n 32 --out /tmp/ask_many.json

`--data` takes `--n` answerable rag-mini-wikipedia questions (benchmarks/answers.py, seed 0, as
benchmarks/batching.py does); without it, `--questions FILE` is read as `ragft ask --questions` reads it (default
examples/demo/qa.jsonl). A `--workspace` without an index gets the demo corpus ingested first (the default,
/tmp/ragft-bench-ask-many, so `make bench` runs it on the demo data). Each side runs `python -m ragft.cli` in fresh processes with the
workspace's own ragft.toml; the loop side runs the questions one after another, as a shell loop would. The JSON
report carries the command, the date, the load average at the start and the end, and the questions whose
answers differ (one at a time vs `--batch-size`, which may flip a float-level tie: docs/benchmarks.md,
"### Batched generation").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._proc import offline_env  # noqa: E402


def _cli(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "ragft.cli", *args, "--json"], env=offline_env(ROOT), cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"ragft {' '.join(args[:3])} ... failed ({proc.returncode}): {proc.stderr[-800:]}")
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-bench-ask-many"))
    ap.add_argument("--data", type=Path, help="shared data folder: take --n answerable rag-mini-wikipedia questions")
    ap.add_argument("--questions", type=Path, default=ROOT / "examples" / "demo" / "qa.jsonl",
                    help="a questions file, when there is no --data")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.data is not None:
        from benchmarks.batching import questions as sample

        texts = [q["question"] for q in sample(args.data, args.n, 0)]
    else:
        from ragft.question_file import parse_questions

        texts = [q.question for q in parse_questions(args.questions.read_text(encoding="utf-8"))[0]][: args.n]
    ws = str(args.workspace)
    if not (args.workspace / "ragft.db").is_file():
        _cli(["ingest", str(ROOT / "examples" / "demo" / "corpus"), "-w", ws])
    report: dict = {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                    "load_avg_start": os.getloadavg()[0], "cpus": os.cpu_count(), "questions": len(texts)}
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
        fh.write("\n".join(texts) + "\n")
        qfile = fh.name

    t0 = time.perf_counter()
    many = _cli(["ask", "--questions", qfile, "--batch-size", str(args.batch_size), "-w", ws])
    file_s = time.perf_counter() - t0
    print(f"one `ask --questions` process: {file_s:.1f} s for {len(texts)} questions", file=sys.stderr, flush=True)

    loop: list[dict] = []
    t0 = time.perf_counter()
    for i, q in enumerate(texts):
        loop.append(_cli(["ask", q, "-w", ws]))
        print(f"cold ask {i + 1}/{len(texts)}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    loop_s = time.perf_counter() - t0

    if many["questions"] != len(texts) or many["failed"]:
        raise SystemExit(f"`ask --questions` read {many['questions']} questions of {len(texts)}: {many['failed'][:3]}")
    by_line = {a["line"]: a for a in many["answers"]}
    differ = [{"question": q, "one_process": by_line.get(i + 1, {}).get("answer"), "cold_ask": one["answer"]}
              for i, (q, one) in enumerate(zip(texts, loop)) if by_line.get(i + 1, {}).get("answer") != one["answer"]]
    report.update({
        "cold_ask_loop": {"seconds": round(loop_s, 1), "answers_per_s": round(len(texts) / loop_s, 3),
                          "abstained": sum(a["abstained"] for a in loop)},
        "ask_questions_file": {"seconds": round(file_s, 1), "answers_per_s": round(len(texts) / file_s, 3),
                               "batch_size": args.batch_size, "failed": many["failed"],
                               "abstained": sum(a["abstained"] for a in many["answers"])},
        "speedup": round(loop_s / file_s, 2),
        "identical_pct": round(100 * (1 - len(differ) / max(1, len(texts))), 1),
        "differences": differ,
        "load_avg_end": os.getloadavg()[0],
    })
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
