"""The device path end to end: train LoRA adapters a few steps, then compare base/rag/ft/hybrid on 20 questions,
with the generator and training placed by `[generator] device` / `dtype`.

Runs unchanged on a GPU machine (auto = the first CUDA GPU in bfloat16 where supported) and on a laptop CPU.
Self-contained: it writes a small corpus of made-up facts (so no model knew them before) and two phrasings of a
question per fact, one to train on and one held out for the comparison.

    python scripts/device_e2e.py --model /models/Llama-3.2-1B-Instruct --device auto --dtype auto --out e2e/
    python scripts/device_e2e.py --model smollm2-135m --device cpu --out e2e/       # the bundled model on CPU
    python scripts/device_e2e.py --tiny --out e2e-cpu/   # tiny random model (tests/tiny_model.py): a smoke run

Prints one JSON document (also written to OUT/results.json): the resolved placement, the training steps and losses
of both adapters, and exact match / F1 / p50 latency per strategy. With --tiny the answers are gibberish by design:
that run checks the mechanics, not quality.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

N_FACTS = 20
_NAMES = ["Quorvane", "Belmarsh", "Tiskaro", "Velindor", "Ombrell", "Karsewin", "Drumoya", "Felquist", "Zantrel",
          "Hoverdal", "Plimsworth", "Gastrevo", "Ulvenmark", "Serrowind", "Nakatoro", "Brisquell", "Mordavia",
          "Yellowtarn", "Crestholm", "Wendaphor"]
_COLOURS = ["red", "blue", "green", "orange", "purple", "yellow", "silver", "black", "white", "grey"]


def make_data(folder: Path, seed: int = 0) -> tuple[Path, Path, Path]:
    """Write docs/ (one made-up fact per file), train.jsonl and heldout.jsonl (another phrasing, same answers)."""
    rng = random.Random(seed)
    docs = folder / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    train, heldout = [], []
    for i, name in enumerate(_NAMES[:N_FACTS]):
        months, colour = rng.randint(2, 60), rng.choice(_COLOURS)
        (docs / f"{name.lower()}.txt").write_text(
            f"The {name} kettle is sold only in {colour}. The warranty of the {name} kettle lasts {months} months.\n",
            encoding="utf-8")
        answer = f"{months} months"
        train.append({"question": f"How long is the warranty on the {name} kettle?", "answer": answer})
        heldout.append({"question": f"For how many months is the {name} kettle under warranty?", "answer": answer})
    for path, rows in ((folder / "train.jsonl", train), (folder / "heldout.jsonl", heldout)):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return docs, folder / "train.jsonl", folder / "heldout.jsonl"


def run(model: str, device: str, dtype: str, out: Path, epochs: float, max_new_tokens: int) -> dict:
    from ragft.config import Settings, save_settings
    from ragft.models.weights import resolve_placement
    from ragft.workspace import Workspace

    placement = resolve_placement(device, dtype)  # fail fast on a GPU torch cannot see
    docs, train_qa, heldout_qa = make_data(out / "data")
    settings = Settings()
    settings.generator.model, settings.generator.device, settings.generator.dtype = model, device, dtype
    settings.generator.max_new_tokens = max_new_tokens
    (out / "ws").mkdir(parents=True)
    save_settings(out / "ws", settings)
    t0 = time.perf_counter()
    with Workspace(out / "ws") as ws:
        ws.ingest([str(docs)])
        trained = {}
        for name, raft in (("e2e-ft", False), ("e2e-raft", True)):
            rep = ws.finetune(name, data=train_qa, raft=raft, epochs=epochs)
            trained[name] = {"steps": rep.steps, "train_loss": [round(x, 4) for x in rep.train_loss]}
        result = ws.compare(qa=heldout_qa, strategies=["base", "rag", "ft", "hybrid"], adapter="e2e-ft",
                            hybrid_adapter="e2e-raft")
        generator = ws.generator
    data = result.to_dict()
    return {
        "model": model,
        "placement": {"device": placement.device, "dtype": placement.dtype,
                      "generator_device": str(getattr(getattr(generator, "model", None), "device", "remote"))},
        "questions": N_FACTS,
        "adapters": trained,
        "strategies": {s: {k: m.get(k) for k in ("exact_match", "f1", "latency_ms_p50")}
                       for s, m in data["strategies"].items()},
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m", help="generator: bundled name, local HF folder or .gguf")
    p.add_argument("--tiny", action="store_true", help="use the tiny random test model (CPU smoke run)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    p.add_argument("--epochs", type=float, default=1.0, help="training epochs of each adapter (20 rows each)")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--out", type=Path, required=True, help="new folder for the workspace, data and results.json")
    args = p.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        p.error(f"{args.out} is not empty; pass a new folder")
    model = args.model
    if args.tiny:
        from tests.tiny_model import make_tiny_model_dir

        model = str(make_tiny_model_dir(args.out / "tiny-model"))
    report = run(model, args.device, args.dtype, args.out, args.epochs, args.max_new_tokens)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
