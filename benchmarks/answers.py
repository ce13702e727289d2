"""Answer quality of `rag` vs `base` on rag-mini-wikipedia, plus the measurements behind two defaults.

Three parts, each runnable alone (`--part`):
- `formats`: the prompt layouts of ragft/prompting.py on the same questions and contexts (keep the best).
- `calibrate`: the abstention relevance (lexical share of question content words in the best chunk, and the
  dense cosine for comparison) for questions whose answer is in the retrieved chunks vs the same questions with
  every answer-bearing passage removed (fact absent) vs off-topic questions (SciFact claims).
- `answers`: EM / token F1 / lenient accuracy / citation accuracy / abstention rate of rag and base, same run.
- `before-after` (issue 25): rag under several answer settings on the SAME questions in one run, interleaved per
  question (so a run cut short still compares like with like): `before` = the previous default (whole chunks,
  copy-constrained, no sentence fallback) and the candidates (`--configs`). Reports correct, abstention and
  degenerate answers (ragft.wellformed, the rule evaluation uses too), and abstention on the questions whose fact is
  in the corpus (FACT_BAR); `--slice dev` tunes, `--slice test` (disjoint) reports, `--slice holdout` (disjoint
  from both, never used to choose a rule) estimates how the rules carry to questions nobody looked at.
  Per-question rows go to `--log` as they are produced.
- `tables`: the table-cell rule (ragft/sources/cells.py) on the labelled questions of
  tests/fixtures/table_questions.json (no model): answered / right cell / wrong cell / left to the model.

Passages are ingested once into a workspace (default /tmp/ragft-bench-answers, reused), with the bundled
all-MiniLM-L6-v2 embedder; the generator is the bundled SmolLM2-135M-Instruct.

Run: .venv/bin/python benchmarks/answers.py --data ../shared/data --part all --n 50
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragft.evaluate.metrics import (  # noqa: E402
    answer_correct,
    citation_accuracy,
    exact_match,
    text_contains_answer,
    token_f1,
)


def load_data(data: Path) -> tuple[dict[str, str], list[dict]]:
    folder = data / "rag-mini-wikipedia"
    with open(folder / "passages.csv", newline="", encoding="utf-8") as fh:
        passages = {f"p{r['id']}": r["passage"] for r in csv.DictReader(fh)}
    qa = [json.loads(line) for line in open(folder / "qa.jsonl", encoding="utf-8")]
    return passages, qa


SLICE_START = {"test": 0, "holdout": 200, "dev": 400}
"""Where each slice of the shuffled factoid questions starts (`factoid_slice`)."""


def factoid_slice(pool: list[dict], name: str, n: int) -> list[dict]:
    """Slice `name` (test, holdout or dev) of the factoid questions of `pool` (answerable, shuffled): at most `n`;
    test and holdout stop where the next slice starts. Yes/no questions are scored elsewhere (benchmarks/yes_no.py)."""
    fact = [q for q in pool if q["answer"].strip().lower().strip(".!") not in ("yes", "no")]
    start = SLICE_START[name]
    size = n if name == "dev" else min(n, 200)
    return fact[start : start + size]


def answerable(qa: list[dict], passages: dict[str, str]) -> list[dict]:
    """Questions with a usable gold answer: yes/no, or a factoid whose normalised answer occurs in a passage."""
    from ragft.evaluate.metrics import normalize_answer

    # " tok tok " padded, normalised once: a substring test then equals a contiguous token-run test.
    texts = [f" {normalize_answer(t)} " for t in passages.values()]
    out, seen = [], set()
    for q in qa:
        key = q["question"].strip().lower()
        if key in seen or not q["answer"].strip():
            continue
        seen.add(key)
        contains = None if q["answer"].strip().lower() in ("yes", "no") else False
        if contains is False:
            needle = f" {normalize_answer(q['answer'])} "
            contains = needle.strip() != "" and any(needle in t for t in texts)
            if not contains:
                continue
        out.append(q)
    return out


def open_workspace(ws_dir: Path, passages: dict[str, str], mode: str, dtype: str = "auto"):  # type: ignore[no-untyped-def]
    from ragft.config import load_settings
    from ragft.evaluate.beir import BeirData, ingest_corpus
    from ragft.workspace import Workspace

    ws_dir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(ws_dir)
    settings.retrieval.mode = mode  # type: ignore[assignment]
    settings.generator.dtype = dtype  # type: ignore[assignment]
    embedder = None
    if mode == "bm25":  # no dense vectors needed: a hash embedder fills the vector column cheaply
        sys.path.insert(0, str(ROOT))
        from tests.fakes import HashEmbedder

        embedder = HashEmbedder()

    try:
        from ragft.models.registry import load_generator

        ws = Workspace(ws_dir, settings, embedder=embedder, generator=load_generator(settings.generator))
    except ImportError:  # the registry is not in this build yet: the bundled generator directly
        from ragft.models.bundled import TransformersGenerator

        ws = Workspace(ws_dir, settings, embedder=embedder, generator=TransformersGenerator("smollm2-135m"))
    t0 = time.perf_counter()
    n = ingest_corpus(ws.store, ws.embedder, BeirData({k: ("", v) for k, v in passages.items()}, {}, {}))
    print(f"ingested {n} passages in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return ws


def part_formats(ws, questions: list[dict], k: int, formats: list[str], decodings: list[str]) -> dict:  # type: ignore[no-untyped-def]
    """Prompt layout x decoding ("free", or copy-constrained "span"/"words") on the same questions and contexts.

    Same steps as answer.py (relevance-scored items, prompt, generate, clean, resolve citations) without the
    abstention checks, so every cell answers every question."""
    from ragft.answer import clean_answer, score_items
    from ragft.citations import resolve_citations, strip_markers
    from ragft.prompting import build_prompt, copy_context

    gen, s = ws.generator, ws.settings
    thr = s.answer.abstain_threshold
    results = {}
    contexts = {q["question"]: score_items(q["question"], ws.retriever.search(q["question"], k=k)) for q in questions}
    for fmt in formats:
        for dec in decodings:
            rows, t0 = [], time.perf_counter()
            for q in questions:
                p = build_prompt(q["question"], contexts[q["question"]], gen.count_tokens, gen.context_window,
                                 s.generator.max_new_tokens, s.answer.max_context_tokens, fmt)
                kw = {}
                if dec != "free":
                    gen.copy_mode = dec
                    kw["constrain_to"] = copy_context([it for it in p.items if it.score >= thr] or p.items)
                raw = gen.generate(p.messages, max_tokens=s.generator.max_new_tokens, temperature=0.0, **kw)
                text = clean_answer(raw)
                ans = strip_markers(text)
                res = resolve_citations(text, q["question"], p.items) if text else None
                cited = [(c.doc_id, c.text) for c in res.citations] if res else []
                rows.append({"em": exact_match(ans, q["answer"]), "f1": token_f1(ans, q["answer"]),
                             "correct": answer_correct(ans, q["answer"]),
                             "cit": citation_accuracy(cited, q["answer"]), "answer": ans, "gold": q["answer"]})
            cits = [r["cit"] for r in rows if r["cit"] is not None]
            cell = {"n": len(rows), "exact_match": round(statistics.mean(r["em"] for r in rows), 3),
                    "f1": round(statistics.mean(r["f1"] for r in rows), 3),
                    "lenient_accuracy": round(statistics.mean(r["correct"] for r in rows), 3),
                    "citation_accuracy": round(statistics.mean(cits), 3) if cits else None,
                    "citation_accuracy_n": len(cits),
                    "s_per_question": round((time.perf_counter() - t0) / len(questions), 2),
                    "answers": [(r["answer"], r["gold"]) for r in rows]}
            results[f"{fmt}/{dec}"] = cell
            print(fmt, dec, {k_: v for k_, v in cell.items() if k_ != "answers"}, file=sys.stderr, flush=True)
    return results


def part_calibrate(ws, questions: list[dict], data: Path, k: int) -> dict:  # type: ignore[no-untyped-def]
    import numpy as np

    from ragft.citations import lexical_relevance

    factoid = [q for q in questions if q["answer"].lower() not in ("yes", "no")]
    claims = [json.loads(line)["text"] for line in open(data / "scifact" / "queries.jsonl", encoding="utf-8")]
    offtopic = random.Random(0).sample(claims, min(len(factoid), len(claims)))

    def best(question: str, hits) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        if not hits:
            return 0.0, 0.0
        lex = max(lexical_relevance(question, h.text) for h in hits)
        if ws.settings.retrieval.mode == "bm25":  # the workspace has no real embedder: lexical only
            return lex, float("nan")
        vecs = ws.embedder.embed([question, *[h.text for h in hits]])
        return lex, float(np.max(vecs[1:] @ vecs[0]))

    present, absent, off = [], [], []
    for q in factoid:
        hits = ws.retriever.search(q["question"], k=k + 20)
        with_fact = [h for h in hits if text_contains_answer(h.text, q["answer"])]
        without = [h for h in hits if not text_contains_answer(h.text, q["answer"])][:k]
        if with_fact and any(h in hits[:k] for h in with_fact):
            present.append(best(q["question"], hits[:k]))
        absent.append(best(q["question"], without))
    for c in offtopic:
        off.append(best(c, ws.retriever.search(c, k=k)))

    def summary(rows: list[tuple[float, float]], i: int) -> dict:
        vals = sorted(r[i] for r in rows)
        return {"n": len(vals), "p10": round(float(np.percentile(vals, 10)), 3),
                "median": round(float(np.median(vals)), 3), "p90": round(float(np.percentile(vals, 90)), 3)}

    out: dict = {}
    for i, name in enumerate(("lexical", "dense")[: 1 if ws.settings.retrieval.mode == "bm25" else 2]):
        out[name] = {"present": summary(present, i), "absent": summary(absent, i), "offtopic": summary(off, i)}
        for thr in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5) if name == "lexical" else (0.2, 0.25, 0.3, 0.35, 0.4):
            out[name][f"thr={thr}"] = {
                "present_answered": round(sum(r[i] >= thr for r in present) / max(1, len(present)), 3),
                "absent_abstained": round(sum(r[i] < thr for r in absent) / max(1, len(absent)), 3),
                "offtopic_abstained": round(sum(r[i] < thr for r in off) / max(1, len(off)), 3),
            }
    print(json.dumps(out, indent=1), file=sys.stderr)
    return out


def part_answers(ws, questions: list[dict], k: int) -> dict:  # type: ignore[no-untyped-def]
    from ragft.evaluate.metrics import percentile

    out = {}
    for strategy in ("base", "rag"):
        rows = []
        for q in questions:
            a = ws.ask(q["question"], strategy=strategy, k=k)
            cited = [(c.doc_id, c.text) for c in a.citations]
            rows.append({
                "em": exact_match(a.answer, q["answer"]), "f1": token_f1(a.answer, q["answer"]),
                "correct": answer_correct(a.answer, q["answer"]), "abstained": a.abstained,
                "cit": citation_accuracy(cited, q["answer"]), "latency": a.latency_ms,
                "yes_no": q["answer"].lower() in ("yes", "no"),
            })
        cits = [r["cit"] for r in rows if r["cit"] is not None]
        fact = [r for r in rows if not r["yes_no"]]
        out[strategy] = {
            "questions": len(rows),
            "exact_match": round(statistics.mean(r["em"] for r in rows), 3),
            "f1": round(statistics.mean(r["f1"] for r in rows), 3),
            "lenient_accuracy": round(statistics.mean(r["correct"] for r in rows), 3),
            "factoid_lenient_accuracy": round(statistics.mean(r["correct"] for r in fact), 3) if fact else None,
            "abstention_rate": round(statistics.mean(r["abstained"] for r in rows), 3),
            "citation_accuracy": round(statistics.mean(cits), 3) if cits else None,
            "citation_accuracy_n": len(cits),
            "latency_ms_p50": round(percentile([r["latency"] for r in rows], 50) or 0, 1),
        }
        print(strategy, out[strategy], file=sys.stderr)
    return out


CONFIGS = {
    # name: answer settings (the rest stays at the workspace defaults)
    "before": {"context": "chunks", "extractive": True, "fallback": "abstain", "check_copies": False},
    "chunks-plain": {"context": "chunks", "extractive": False, "fallback": "abstain"},
    "sentences-copy": {"context": "sentences", "extractive": True, "fallback": "sentence", "check_copies": True},
    "sentences-plain": {"context": "sentences", "extractive": False, "fallback": "sentence"},
    "sentences-copy-nofallback": {"context": "sentences", "extractive": True, "fallback": "abstain"},
}


FACT_BAR = 0.5
"""A question's fact is in the corpus when a passage holds its gold answer string AND at least this share of the
question's content words (citations.lexical_relevance). The pool's filter (the gold string occurs in some
passage) counts "1916" in a passage on Uruguay as the answer to "When did Yuan Shikai die?"; abstaining there is
right, so abstention is also reported on the questions whose fact is in the corpus."""


def fact_relevance(questions: list[dict], passages: dict[str, str]) -> list[float]:
    """Per question: the best relevance to the question of a passage that holds its gold answer (0 if none)."""
    from ragft.citations import lexical_relevance
    from ragft.evaluate.metrics import normalize_answer

    texts = [(t, f" {normalize_answer(t)} ") for t in passages.values()]
    out = []
    for q in questions:
        needle = f" {normalize_answer(q['answer'])} "
        out.append(max((lexical_relevance(q["question"], t) for t, norm in texts if needle in norm), default=0.0))
    return out


def part_before_after(ws, questions: list[dict], k: int, configs: list[str], log: Path | None,  # type: ignore[no-untyped-def]
                      facts: list[float] | None = None) -> dict:
    from ragft.wellformed import degenerate_reason

    rows: dict[str, list[dict]] = {c: [] for c in configs}
    fh = open(log, "a", encoding="utf-8") if log else None
    saved = {key: getattr(ws.settings.answer, key) for key in ("context", "extractive", "fallback", "check_copies")}
    try:
        for i, q in enumerate(questions):
            for name in configs:
                for key, val in CONFIGS[name].items():
                    setattr(ws.settings.answer, key, val)
                t0 = time.perf_counter()
                a = ws.ask(q["question"], strategy="rag", k=k)
                row = {"i": i, "config": name, "question": q["question"], "gold": q["answer"], "answer": a.answer,
                       "abstained": a.abstained, "correct": answer_correct(a.answer, q["answer"]),
                       "degenerate": (not a.abstained) and degenerate_reason(a.answer, q["question"]) is not None,
                       "cit": citation_accuracy([(c.doc_id, c.text) for c in a.citations], q["answer"]),
                       "s": round(time.perf_counter() - t0, 2)}
                if facts is not None:
                    row["fact_relevance"] = round(facts[i], 3)
                rows[name].append(row)
                if fh:
                    fh.write(json.dumps(row) + "\n")
                    fh.flush()
    finally:
        for key, val in saved.items():
            setattr(ws.settings.answer, key, val)
        if fh:
            fh.close()
    return summarise(rows)


def summarise(rows: dict[str, list[dict]]) -> dict:
    """Per config: questions, correct (lenient), abstention, degenerate answers, citation accuracy, s/question."""
    out = {}
    for name, rs in rows.items():
        if not rs:
            continue
        cits = [r["cit"] for r in rs if r["cit"] is not None]
        out[name] = {"questions": len(rs), "correct": int(sum(r["correct"] for r in rs)),
                     "accuracy": round(statistics.mean(r["correct"] for r in rs), 3),
                     "abstention_rate": round(statistics.mean(r["abstained"] for r in rs), 3),
                     "degenerate": int(sum(r["degenerate"] for r in rs)),
                     "citation_accuracy": round(statistics.mean(cits), 3) if cits else None,
                     "s_per_question": round(statistics.mean(r["s"] for r in rs), 2)}
        present = [r for r in rs if r.get("fact_relevance", 0.0) >= FACT_BAR]
        if any("fact_relevance" in r for r in rs):
            out[name].update({"fact_in_corpus": len(present),
                              "abstention_rate_fact_in_corpus":
                                  round(statistics.mean(r["abstained"] for r in present), 3) if present else None})
        print(name, out[name], file=sys.stderr, flush=True)
    return out


def part_tables(fixture: Path) -> dict:
    """The table-cell rule on the labelled questions: real SQLite tables built from the fixture, real SqlSource."""
    import tempfile

    from ragft.sources.cells import cell_answer
    from ragft.sources.sql import SqlSource, SqlSourceConfig
    from tests.table_questions import build_table_db

    counts = {"questions": 0, "answered": 0, "right_cell": 0, "wrong_cell": 0, "left_to_model": 0,
              "expected_cell": 0, "expected_model": 0, "misses": []}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "tables.sqlite"
        questions = build_table_db(db, fixture)
        src = SqlSource(SqlSourceConfig(name="bench", url=f"sqlite:///{db}"))
        try:
            for item in questions:
                counts["questions"] += 1
                counts["expected_cell" if item["column"] else "expected_model"] += 1
                got = cell_answer(item["q"], src.query(item["q"]))
                if got is None:
                    counts["left_to_model"] += 1
                    if item["column"]:
                        counts["misses"].append(item["q"])
                    continue
                counts["answered"] += 1
                right = (got.row.table, got.row.key, got.column) == (item["table"], item["key"], item["column"])
                counts["right_cell" if right else "wrong_cell"] += 1
                if not right:
                    counts["misses"].append(f"{item['q']} -> {got.row.table}/{got.row.key}.{got.column}")
        finally:
            src.close()
    # A decision is right when the rule answers the labelled cell, or leaves a question labelled "model" alone.
    counts["right_decisions"] = counts["right_cell"] + (counts["left_to_model"] - (counts["expected_cell"]
                                                        - counts["right_cell"] - counts["wrong_cell"]))
    counts["accuracy"] = round(counts["right_decisions"] / max(1, counts["questions"]), 3)
    print(json.dumps(counts, indent=1), file=sys.stderr)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-bench-answers"))
    ap.add_argument("--part", choices=["formats", "calibrate", "answers", "before-after", "tables", "all"],
                    default="all")
    ap.add_argument("--configs", default="before,sentences-copy",
                    help=f"before-after: settings to compare ({', '.join(CONFIGS)})")
    ap.add_argument("--slice", choices=["dev", "test", "holdout"], default="test",
                    help="before-after: factoid questions of the shuffled pool, disjoint: test = 0.. (report), "
                         "holdout = 200.. (never used for tuning), dev = 400.. (tuning)")
    ap.add_argument("--log", type=Path, default=None, help="before-after: append per-question rows here (JSONL)")
    ap.add_argument("--n", type=int, default=50, help="questions for the answers part")
    ap.add_argument("--n-formats", type=int, default=30, help="questions for the formats part")
    ap.add_argument("-k", type=int, default=None, help="chunks retrieved (default: the workspace's retrieval.k, 5)")
    ap.add_argument("--formats", default="completion,sandwich,oneshot", help="formats part: layouts to compare")
    ap.add_argument("--decodings", default="free,span", help="formats part: free | span | words (copy-constrained)")
    ap.add_argument("--max-new-tokens", type=int, default=None,
                    help="answer length cap for every part (default: the workspace's generator.max_new_tokens, 64)")
    ap.add_argument("--extractive", choices=["on", "off"], default="on", help="answers part: answer.extractive")
    ap.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid", help="retrieval mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="auto", help="[generator] dtype (auto = the product default)")
    args = ap.parse_args()
    if args.part == "tables":
        from tests.table_questions import TABLE_QUESTIONS

        print(json.dumps({"tables": part_tables(TABLE_QUESTIONS)}, indent=1))
        return
    passages, qa = load_data(args.data)
    pool = answerable(qa, passages)
    rng = random.Random(args.seed)
    rng.shuffle(pool)
    ws = open_workspace(args.workspace / args.mode, passages, args.mode, args.dtype)
    args.k = args.k or ws.settings.retrieval.k
    args.max_new_tokens = args.max_new_tokens or ws.settings.generator.max_new_tokens
    ws.settings.generator.max_new_tokens = args.max_new_tokens
    ws.settings.answer.extractive = args.extractive == "on"
    ws.generator.warm_up() if hasattr(ws.generator, "warm_up") else None
    results: dict = {"k": args.k, "seed": args.seed, "pool": len(pool), "mode": args.mode,
                     "max_new_tokens": args.max_new_tokens, "extractive": args.extractive}
    if args.part in ("formats", "all"):
        results["formats"] = part_formats(ws, pool[100 : 100 + args.n_formats], args.k, args.formats.split(","),
                                          args.decodings.split(","))
    if args.part in ("calibrate", "all"):
        results["calibrate"] = part_calibrate(ws, pool[200:300], args.data, args.k)
    if args.part in ("answers", "all"):
        results["answers"] = part_answers(ws, pool[: args.n], args.k)
    if args.part == "before-after":
        qs = factoid_slice(pool, args.slice, args.n)
        results["before_after"] = part_before_after(ws, qs, args.k, args.configs.split(","), args.log,
                                                    fact_relevance(qs, passages))
        results["slice"] = args.slice
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
