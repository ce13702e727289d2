"""Factoid answers under `rag` at today's defaults, fast: rag-mini-wikipedia's factoid slices through
`Workspace.ask_many` (batched, answers equal to one at a time: docs/benchmarks.md, "Answers that do not depend on
the batch"), scored with `compare`'s metric. For checking an answer rule on every slice in minutes; the one-at-a-time
`benchmarks/answers.py --part before-after` measures the same questions with the per-question timings.

Slices: the factoid questions (`answers.answerable`, gold answer not yes/no) shuffled with seed 0, taken by the
same `answers.factoid_slice` as `benchmarks/answers.py --part before-after`: test = 0-199, holdout = 200-399,
dev = 400 on (127 questions).
`--answer KEY=VALUE` runs with an `[answer]` setting other than its default (e.g. `sentence_tokens=128`).
Each answer goes to `--log` (JSONL); `--against OLD.jsonl` (a log of another checkout) lists the questions whose
answer changed and counts right/wrong/abstained among them.

The workspace must exist (benchmarks/answers.py ingests it). Run (from the checkout to measure):
    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/answer_slices.py \\
        --workspace /tmp/ragft-answers-bench/hybrid --data /work/shared/data --log /tmp/new.jsonl --against /tmp/old.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.answers import SLICE_START, answerable, factoid_slice, load_data  # noqa: E402
from benchmarks.batching import add_answer_option, open_ws  # noqa: E402

def main() -> None:
    from ragft.evaluate.metrics import answer_correct
    from ragft.wellformed import degenerate_reason

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-answers-bench/hybrid"))
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--slices", default="dev,test,holdout",
                    help=f"a comma-separated subset of {', '.join(SLICE_START)}")
    ap.add_argument("--n", type=int, default=200, help="questions per slice (test and holdout: at most 200)")
    ap.add_argument("--log", type=Path, required=True, help="write every answer here (JSONL)")
    ap.add_argument("--against", type=Path, default=None, help="a --log of another checkout to diff against")
    ap.add_argument("--out", type=Path, default=None)
    add_answer_option(ap)
    args = ap.parse_args()

    passages, qa = load_data(args.data)
    pool = answerable(qa, passages)
    random.Random(0).shuffle(pool)
    ws = open_ws(args.workspace, answer=args.answer)
    report: dict = {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "load_avg_start": os.getloadavg(), "answer_settings": args.answer}
    rows = []
    for name in args.slices.split(","):
        qs = factoid_slice(pool, name, args.n)
        t0 = time.perf_counter()
        answers = ws.ask_many([q["question"] for q in qs], "rag")
        for q, a in zip(qs, answers):
            given = not a.abstained
            rows.append({"slice": name, "question": q["question"], "gold": q["answer"], "answer": a.answer,
                         "abstained": a.abstained, "right": bool(given and answer_correct(a.answer, q["answer"])),
                         "degenerate": given and degenerate_reason(a.answer, q["question"]) is not None})
        mine = [r for r in rows if r["slice"] == name]
        report[name] = {"questions": len(mine), "right": sum(r["right"] for r in mine),
                        "abstained": sum(r["abstained"] for r in mine),
                        "wrong": sum(not r["right"] and not r["abstained"] for r in mine),
                        "degenerate": sum(r["degenerate"] for r in mine), "seconds": round(time.perf_counter() - t0, 1)}
        print(name, report[name], file=sys.stderr, flush=True)
    ws.close()
    args.log.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    if args.against:
        old = {(r["slice"], r["question"]): r for r in map(json.loads, args.against.read_text().splitlines())}
        changed = [(old[(r["slice"], r["question"])], r) for r in rows
                   if (r["slice"], r["question"]) in old and old[(r["slice"], r["question"])]["answer"] != r["answer"]]
        report["changed"] = [{"slice": n["slice"], "question": n["question"], "gold": n["gold"], "before": o["answer"],
                              "after": n["answer"], "right_before": o["right"], "right_after": n["right"]}
                             for o, n in changed]
        for name in args.slices.split(","):
            mine = [(o, n) for o, n in changed if n["slice"] == name]
            report[f"changed_{name}"] = {
                "answers": len(mine), "right_lost": sum(o["right"] and not n["right"] for o, n in mine),
                "right_gained": sum(n["right"] and not o["right"] for o, n in mine),
                "wrong_to_abstained": sum(not o["right"] and not o["abstained"] and n["abstained"] for o, n in mine)}
            print(f"changed {name}", report[f"changed_{name}"], file=sys.stderr, flush=True)
    report["load_avg_end"] = os.getloadavg()
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
