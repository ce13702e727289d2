"""Yes/no questions under `rag` (the rules of `ragft/yes_no.py`): answered, right and abstained on two disjoint
slices of rag-mini-wikipedia's yes/no questions, and how often an entity-swapped unanswerable one gets an answer.

The questions: `benchmarks.answers.answerable` (gold answer found in the passages), shuffled with seed 0, those
whose gold answer is one word, "yes" or "no". Slices: `dev` = the first 200 (the rule was written against the
first 40 of them), `held-out` = 600-799 (187 exist); donors 200-599 give `--unanswerable` entity-swapped questions
(`ragft.evaluate.qa.make_unanswerable`, names checked absent from the passages). Every question goes through
`Workspace.ask_many` (rag, today's [generator] and [answer] defaults, as benchmarks/batching.py sets them); right
= `ragft.evaluate.metrics.answer_correct`, the metric `compare` scores with.

The workspace must exist (benchmarks/answers.py ingests it). Run (idle machine):
    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/yes_no.py \\
        --workspace /tmp/ragft-answers-bench/hybrid --data /work/shared/data --out /tmp/yes_no.json
For the "before" figures, run the same command from a checkout of the commit before the rule (f8a0930).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.answers import answerable, load_data  # noqa: E402
from benchmarks.batching import add_answer_option, open_ws  # noqa: E402


def main() -> None:
    from ragft.evaluate.metrics import YES_NO, answer_correct, answer_tokens
    from ragft.evaluate.qa import QAItem, make_unanswerable

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-answers-bench/hybrid"))
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    ap.add_argument("--unanswerable", type=int, default=100)
    ap.add_argument("--out", type=Path, default=None)
    add_answer_option(ap)
    args = ap.parse_args()

    passages, qa = load_data(args.data)
    pool = answerable(qa, passages)
    random.Random(0).shuffle(pool)
    yes_no = [q for q in pool if len(t := answer_tokens(q["answer"])) == 1 and t[0] in YES_NO]
    corpus = " ".join(passages.values()).lower()
    donors = [QAItem(f"d{i}", q["question"], q["answer"]) for i, q in enumerate(yes_no[200:600])]
    fakes = make_unanswerable(donors, args.unanswerable, random.Random(1), absent=lambda n: n.lower() not in corpus)
    ws = open_ws(args.workspace, answer=args.answer)
    report: dict = {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "load_avg_start": __import__("os").getloadavg(), "yes_no_questions": len(yes_no)}
    for name, qs in (("dev", yes_no[:200]), ("held_out", yes_no[600:800]),
                     ("unanswerable", [{"question": f.question, "answer": None} for f in fakes])):
        t0 = time.perf_counter()
        answers = ws.ask_many([q["question"] for q in qs], "rag")
        given = [(q, a) for q, a in zip(qs, answers) if not a.abstained]
        right = [(q, a) for q, a in given if q["answer"] is not None and answer_correct(a.answer, q["answer"])]
        report[name] = {
            "questions": len(qs), "gold_yes": sum(1 for q in qs if q["answer"] and answer_tokens(q["answer"])[0] == "yes"),
            "abstained": len(qs) - len(given), "answered": len(given),
            "answered_yes": sum(1 for _, a in given if a.answer.startswith("Yes: ")),
            "answered_no": sum(1 for _, a in given if a.answer.startswith("No: ")),
            "right": len(right),
            "right_yes": sum(1 for _, a in right if a.answer.startswith("Yes: ")),
            "right_no": sum(1 for _, a in right if a.answer.startswith("No: ")),
            "seconds": round(time.perf_counter() - t0, 1),
            "wrong": [{"question": q["question"], "gold": q["answer"], "answer": a.answer}
                      for q, a in given if (q, a) not in right]}
        print(name, {k: v for k, v in report[name].items() if k != "wrong"}, file=sys.stderr, flush=True)
    ws.close()
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
