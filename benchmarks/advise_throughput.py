"""Throughput numbers behind the `ragft advise` cost model: prompt processing (prefill) and decoding speed of the
bundled generator, at the short prompt of `base`/`ft`, the `rag`/`hybrid` prompt of the bundled generator's
sentence-level context (`[answer] context = "sentences"`, 160 tokens of sources) and of whole chunks (5 x 200).

Run from the project root (loads SmolLM2-135M-Instruct from the float cache in the dtype `ragft ask` uses on this
machine, `--dtype auto`; ~20 s on 2 cores):

    .venv/bin/python benchmarks/advise_throughput.py [--repeats 3] [--dtype auto|float32|bfloat16]

Prints one JSON document: prefill tokens/s per prompt length and greedy decode tokens/s, each from wall time and
from process CPU time / 2 threads (the estimate for an idle machine when other jobs share the cores), plus the
load average. The constants in ragft/costs.py (CPU_PREFILL_TOKENS_PER_S, CPU_DECODE_TOKENS_PER_S) cite this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--dtype", default="auto", help="auto = what `ragft ask` uses here (weights.resolve_placement)")
    args = parser.parse_args()

    import torch

    from ragft.models.weights import load_causal_lm, resolve_placement

    torch.set_num_threads(2)
    placement = resolve_placement("cpu", args.dtype)
    model, tok = load_causal_lm("smollm2-135m", placement)
    model.eval()
    filler = "The warehouse in Lyon stores spare parts for the 2024 catalogue and ships them within two days. "
    result: dict[str, object] = {"model": "SmolLM2-135M-Instruct (float cache)", "dtype": placement.dtype,
                                 "threads": 2, "prefill": {}}
    with torch.inference_mode():
        for target in (70, 230, 1070):  # base/ft; rag/hybrid with 160 tokens of sentences, or 5 chunks x 200
            ids = tok(filler * (target // 15 + 2), return_tensors="pt").input_ids[:, :target]
            model(ids)  # warm-up
            times, cpu = [], []
            for _ in range(args.repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                model(ids)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            s, c = statistics.median(times), statistics.median(cpu)
            # Under shared load wall time overstates the cost; CPU seconds / threads estimates an idle machine.
            result["prefill"][str(target)] = {  # type: ignore[index]
                "wall_s": round(s, 4), "tokens_per_s_wall": round(target / s, 1),
                "cpu_s": round(c, 4), "tokens_per_s_cpu_time": round(target / (c / 2), 1),
            }
        ids = tok(filler * 5, return_tensors="pt").input_ids[:, :70]
        times, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            out = model.generate(ids, max_new_tokens=args.decode_tokens, min_new_tokens=args.decode_tokens, do_sample=False)
            elapsed, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            new = out.shape[1] - ids.shape[1]
            times.append(elapsed / new)
            cpu.append(cpu_s / new)
        result["decode_tokens_per_s_wall"] = round(1 / statistics.median(times), 1)
        result["decode_tokens_per_s_cpu_time"] = round(2 / statistics.median(cpu), 1)
    # Other processes share the 2 cores and slow prefill and decode alike, so their *ratio* is stable under load.
    # Anchored on the decode rate measured on the idle machine (DESIGN.md: ~10 tok/s), it gives the prefill rate
    # the cost model uses: tokens / (ratio x seconds per decoded token).
    per_token_s = 1 / result["decode_tokens_per_s_wall"]  # type: ignore[operator]
    for target, row in result["prefill"].items():  # type: ignore[union-attr]
        ratio = row["wall_s"] / per_token_s
        row["prefill_over_decode_token"] = round(ratio, 2)
        row["tokens_per_s_at_idle_decode_10"] = round(int(target) / (ratio * 0.1), 1)
    # Record the load so a contended run can be recognised.
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
