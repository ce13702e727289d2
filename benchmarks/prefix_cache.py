"""One answer's generation with and without the reused KV cache of the fixed prompt prefix (issue 19).

Run from the project root (the workspace is benchmarks/answers.py's, ingested on first use):

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/prefix_cache.py --data ../shared/data --n 40

Builds the real rag prompts (sentence context, copy constraint: what `ragft ask` sends) of --n answerable
rag-mini-wikipedia questions with the bundled SmolLM2-135M-Instruct, then answers them in blocks of --block
questions, each block twice in alternating order: one after another with the previous generation's cache reused
(`TransformersGenerator._reusable_cache`, the default: the system prompt is not prefilled again; a block's first
question starts afresh) and with a full prefill each time. Then each question once more right after itself (a
repeated question: by design it reuses no more than the fixed prefix). Prints median seconds per answer,
speed-ups, identical answers and the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    import answers as bench

    from ragft import answer as A
    from ragft.models.base import BatchItem, Decoding

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-answers-bench"))
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--prompt-format", default=None, help="answer.prompt_format (default: the workspace's)")
    args = ap.parse_args()
    passages, qa = bench.load_data(args.data)
    pool = bench.answerable(qa, passages)
    random.Random(0).shuffle(pool)
    ws = bench.open_workspace(args.workspace / "hybrid", passages, "hybrid")
    if args.prompt_format:
        ws.settings.answer.prompt_format = args.prompt_format
    ctx = ws.answer_context(None)
    gen = ctx.generator
    gen.warm_up()
    preps = [p for p in (A.prepare(ctx, q["question"], "rag") for q in pool[: args.n]) if p.answer is None]
    decoding = Decoding.of(max_tokens=ctx.max_new_tokens)
    reuse = gen._reusable_cache

    def fresh(adapter, ids):  # type: ignore[no-untyped-def]
        gen._last = None
        return reuse(adapter, ids)

    def answer(prep) -> tuple[str, float]:  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        text = gen.generate_batch([BatchItem(prep.messages, prep.constrain_to)], decoding)[0]
        return text, time.perf_counter() - t0

    load = [os.getloadavg()[0]]
    times: dict[str, list[float]] = {"reused": [], "full prefill": [], "repeated question": []}
    texts: dict[str, list[str]] = {"reused": [], "full prefill": []}
    answer(preps[0])  # warm-up
    for b in range(0, len(preps), args.block):
        block = preps[b : b + args.block]
        for mode in (("reused", "full prefill") if (b // args.block) % 2 == 0 else ("full prefill", "reused")):
            gen._last = None
            gen._reusable_cache = reuse if mode == "reused" else fresh
            for prep in block:
                text, seconds = answer(prep)
                texts[mode].append(text)
                times[mode].append(seconds)
    gen._reusable_cache = reuse
    for prep in preps:
        gen._last = None
        answer(prep)
        times["repeated question"].append(answer(prep)[1])
    load.append(os.getloadavg()[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    same = sum(a == b for a, b in zip(texts["reused"], texts["full prefill"]))
    print(json.dumps({"answers": len(preps), "median_s": {k: round(v, 3) for k, v in med.items()},
                      "speedup_reused": round(med["full prefill"] / med["reused"], 2),
                      "speedup_repeated": round(med["full prefill"] / med["repeated question"], 2),
                      "identical_answers": same,
                      "mean_prompt_tokens": round(statistics.mean(len(gen.prompt_ids(p.messages)) for p in preps)),
                      "fixed_prefix_tokens": gen._fixed_prefix(preps[0].messages, gen.prompt_ids(preps[0].messages)),
                      "prompt_format": ws.settings.answer.prompt_format,
                      "load1_before_after": load}, indent=1))


if __name__ == "__main__":
    main()
