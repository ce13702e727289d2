"""Real `ragft compare` run on rag-mini-wikipedia (CMU Question-Answer dataset, Wikipedia text, CC BY-SA).

What it does, end to end, with the bundled models (SmolLM2-135M-Instruct generator, all-MiniLM-L6-v2 embedder):
1. ingests all 3,200 passages into a fresh workspace (one chunk per passage, straight through the store as
   `ragft eval retrieval` does; doc_id `p<id>`),
2. picks N evaluation questions (seeded) among those whose short answer (not yes/no, at most 5 words) occurs in
   some passage, so RAG can answer them, and writes them to `qa-eval.jsonl`,
3. optionally (--train) trains the ft adapter on *other* questions of the same set (never the evaluation ones)
   and a RAFT adapter from the same rows, so ft/hybrid have something real to show,
4. adds `--unanswerable` (default 0.2) questions the passages cannot answer: evaluation questions whose
   named entity is swapped for an invented one (`ragft.evaluate.qa.make_unanswerable`, "answer": null),
5. runs `Workspace.compare` with --report and prints the table, the decision (paired tests, questions needed)
   and which differences are significant; `--json-out FILE` also writes the decision and intervals.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/compare.py --n 200 --strategies base,rag,ft,hybrid --train \\
        --workspace /tmp/ragft-bench-compare --report docs/compare-report --json-out docs/compare-report/summary.json
    # only ingest and write the QA file (then run `ragft compare --qa WS/qa-eval.jsonl ...` yourself):
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/compare.py --n 40 --prepare-only --workspace /tmp/ragft-bench-compare
    # then screenshot: chromium --headless --no-sandbox --disable-gpu --disable-background-networking \\
    #   --window-size=1300,1800 --screenshot=docs/img/compare-report.png docs/compare-report/index.html
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragft.evaluate.metrics import YES_NO, answer_tokens, normalize_answer  # noqa: E402


def load_passages(folder: Path) -> dict[str, str]:
    with (folder / "passages.csv").open(encoding="utf-8", newline="") as fh:
        return {f"p{row['id']}": " ".join(row["passage"].split()) for row in csv.DictReader(fh) if row["passage"].strip()}


def answerable(folder: Path, passages: dict[str, str], max_words: int = 5) -> list[dict]:
    """QA rows with a short non-yes/no answer that occurs (normalised, as a word run) in some passage."""
    norm_passages = [f" {normalize_answer(t)} " for t in passages.values()]
    rows, seen = [], set()
    for line in (folder / "qa.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        toks = answer_tokens(row["answer"])
        key = normalize_answer(row["question"])
        if not toks or len(toks) > max_words or (len(toks) == 1 and toks[0] in YES_NO) or key in seen:
            continue
        needle = f" {' '.join(toks)} "
        if any(needle in p for p in norm_passages):
            seen.add(key)
            rows.append({"id": row["id"], "question": row["question"], "answer": row["answer"]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "rag-mini-wikipedia")
    ap.add_argument("--n", type=int, default=40, help="evaluation questions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategies", default="base,rag,ft,hybrid")
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-bench-compare"))
    ap.add_argument("--report", type=Path, default=ROOT / "docs" / "compare-report")
    ap.add_argument("--train", action="store_true", help="train ft and RAFT adapters on other questions first")
    ap.add_argument("--train-rows", type=int, default=64, help="training questions for --train")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--unanswerable", type=float, default=0.2, help="share of the N questions made unanswerable")
    ap.add_argument("--repeats", type=int, default=1, help="answers per question (only with generator.temperature > 0)")
    ap.add_argument("--prepare-only", action="store_true", help="ingest and write qa-eval.jsonl, then stop")
    ap.add_argument("--json-out", type=Path, default=None, help="write decision, significance and intervals here")
    args = ap.parse_args()

    from ragft.evaluate.beir import BeirData, ingest_corpus
    from ragft.workspace import Workspace

    passages = load_passages(args.data)
    ws = Workspace(args.workspace)
    t0 = time.perf_counter()
    n_new = ingest_corpus(ws.store, ws.embedder, BeirData(corpus={k: ("", v) for k, v in passages.items()}, queries={}, qrels={}))
    print(f"ingested {n_new} new of {len(passages)} passages in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    rows = answerable(args.data, passages)
    rng = random.Random(args.seed)
    rng.shuffle(rows)
    n_unans = round(args.unanswerable * args.n)
    evaluation, training = rows[: args.n - n_unans], rows[args.n : args.n + args.train_rows]
    from ragft.evaluate.qa import QAItem, make_unanswerable

    donors = [QAItem(str(r["id"]), r["question"], r["answer"]) for r in rows[args.n - n_unans : args.n] + evaluation]
    absent = lambda name: not any(p.lower() in f" {t.lower()} " for t in passages.values() for p in name.split())  # noqa: E731
    fakes = make_unanswerable(donors, n_unans, random.Random(args.seed), absent)
    evaluation = evaluation + [{"id": f.id, "question": f.question, "answer": None} for f in fakes]
    random.Random(args.seed + 1).shuffle(evaluation)
    qa_file = args.workspace / "qa-eval.jsonl"
    qa_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in evaluation), encoding="utf-8")
    print(f"{len(rows)} answerable questions; evaluating on {len(evaluation)}, {len(fakes)} of them unanswerable "
          f"({qa_file})", file=sys.stderr)
    if args.prepare_only:
        ws.close()
        return

    if args.train:
        train_file = args.workspace / "qa-train.jsonl"
        train_file.write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]}) + "\n" for r in training), encoding="utf-8")
        for name, raft in (("wiki-ft", False), ("wiki-raft", True)):
            t1 = time.perf_counter()
            try:
                rep = ws.finetune(name=name, data=train_file, raft=raft, epochs=args.epochs, exclude_qa=qa_file)
            except Exception as exc:  # noqa: BLE001 - compare then skips the strategy with its own message
                print(f"training {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            print(f"trained {name}: {rep.steps} steps in {time.perf_counter() - t1:.0f} s", file=sys.stderr)

    def progress(strategy: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            print(f"  {strategy}: {done}/{total}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    result = ws.compare(qa=qa_file, strategies=args.strategies.split(","), report=args.report, seed=args.seed,
                        progress=progress, repeats=args.repeats)
    seconds = time.perf_counter() - t0
    print(f"compare took {seconds:.0f} s", file=sys.stderr)
    from rich.console import Console

    from ragft.evaluate.report import print_summary

    print_summary(result, Console(width=160), Console(stderr=True))
    data = result.to_dict()
    for t in (data["significance"] or {}).get("tests", []):
        verdict = "significant" if t["significant"] else "not significant"
        print(f"{data['significance']['best']} vs {t['other']}: correctness diff {t['diff']:+.3f}, only-best "
              f"{t['best_only']}, only-other {t['other_only']}, McNemar p = {t['p_value']}, F1 permutation p = "
              f"{t['p_f1']} -> {verdict} (n_needed {t['n_needed']})")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        summary = {"decision": data["decision"], "significance": data["significance"], "seconds": round(seconds),
                   "strategies": {s: {k: v[k] for k in ("f1", "answer_correctness", "faithfulness", "citation_accuracy",
                                                      "abstention_rate", "abstention_precision", "abstention_recall",
                                                      "cost_per_1k", "ci")} for s, v in data["strategies"].items()},
                   "meta": data["meta"]}
        args.json_out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    ws.close()


if __name__ == "__main__":
    main()
