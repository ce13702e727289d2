"""Multi-process LoRA training throughput: 1 process vs `accelerate launch --num_processes 2` (gloo DDP on CPU),
same model, data and settings, through the real `ragft.finetune.train` entry point.

    .venv/bin/python benchmarks/distributed_train.py [--n 64] [--epochs 1] [--batch-size 8]
        [--qa ../shared/data/rag-mini-wikipedia/qa.jsonl] [--out docs/benchmarks.md]

Runs (each a fresh workspace, same QA rows, val_fraction 0 so every row trains, no checkpoints):
  1proc        1 process, per-device batch B, OMP_NUM_THREADS = cores (2 here): intra-op threads share the cores.
  1proc-1t     1 process, batch B, 1 thread: the control that shows what the second thread buys.
  2proc-sameg  2 processes, per-device batch B/2 (same global batch B, same optimiser steps as 1proc),
               OMP_NUM_THREADS=1 each: the cores split across processes, gradients all-reduced over gloo.
  2proc-samed  2 processes, per-device batch B (global 2B, half the optimiser steps).
Measured: training wall time (rank 0's `trainer.train()`, model load excluded), global tokens/s (the Trainer
gathers every rank's non-padding token count; / that wall time), final logged train loss (mean over ranks),
peak RSS of each process (ru_maxrss, written by each rank), and the launch-to-exit wall time.
Model: bundled SmolLM2-135M-Instruct (`smollm2-135m`, float cache in ~/.cache/ragft). Data: the first N
non-yes/no questions of the CMU QA set (rag-mini-wikipedia), closed-book prompt -> short answer.
`--out FILE` rewrites only the `## Multi-process training` section of FILE (appends it when missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._proc import free_port, offline_env  # noqa: E402

DEFAULT_QA = ROOT.parent / "shared" / "data" / "rag-mini-wikipedia" / "qa.jsonl"
SECTION = "## Multi-process training"
MODEL = "smollm2-135m"


def qa_rows(qa: Path, n: int) -> list[dict[str, str]]:
    """The first `n` rows with a short, non-yes/no answer (the same filter as benchmarks/finetune.py)."""
    out = []
    for line in qa.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        ans = str(r.get("answer") or "").strip()
        if ans and ans.lower().rstrip(".") not in {"yes", "no"} and len(ans.split()) <= 12:
            out.append({"question": r["question"], "answer": ans})
        if len(out) >= n:
            break
    return out


def make_workspace(root: Path, epochs: float) -> Path:
    from ragft.config import Settings, save_settings

    ws = root / "ws"
    ws.mkdir(parents=True)
    s = Settings()
    s.generator.model = MODEL
    s.train.epochs = epochs
    s.train.val_fraction = 0.0  # every row trains; no eval pass inside the timed loop
    s.train.save_steps = 100_000  # no checkpoints: measure training, not disk
    s.train.early_stopping_patience = 0
    save_settings(ws, s)
    return ws


# --------------------------------------------------------------------------- worker (every rank runs this)
def worker(argv: list[str], rss_dir: Path) -> int:
    """Run the real training entry point, then record this process's peak RSS (one file per rank)."""
    from ragft.finetune import train

    rc = train.main(train.make_parser().parse_args(argv))
    rank = int(os.environ.get("RANK", "0"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    (rss_dir / f"rank{rank}.json").write_text(json.dumps({"rank": rank, "peak_rss_mb": round(peak_mb, 1)}))
    return rc


# --------------------------------------------------------------------------- one configuration
def run_config(label: str, procs: int, batch: int, threads: int, qa_file: Path, epochs: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"ragft-ddp-{label}-") as tmp:
        root = Path(tmp)
        ws = make_workspace(root, epochs)
        rss_dir = root / "rss"
        rss_dir.mkdir()
        train_argv = ["-w", str(ws), "--name", label, "--data", str(qa_file), "--batch-size", str(batch), "--json"]
        me = [str(Path(__file__).resolve()), "--worker", str(rss_dir), "--"]
        if procs == 1:
            cmd = [sys.executable, *me, *train_argv]
        else:
            cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(procs),
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()), *me, *train_argv]
        env = {k: v for k, v in offline_env(ROOT).items()
               if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}}
        env.update(PYTHONWARNINGS="ignore", OMP_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES="")
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
        launch_s = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{label} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        report = json.loads([ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")][-1])
        from ragft.finetune.registry import AdapterRegistry

        metrics = AdapterRegistry(ws).get(label).metrics
        rss = sorted((json.loads(p.read_text()) for p in rss_dir.glob("rank*.json")), key=lambda r: r["rank"])
    seconds = float(metrics["seconds"])
    return {"label": label, "processes": report["world_size"], "per_device_batch": batch, "global_batch": batch * procs,
            "threads_per_process": threads, "steps": report["steps"], "train_seconds": seconds,
            "s_per_step": round(seconds / max(1, report["steps"]), 2), "tokens_per_s": report["tokens_per_s"],
            "final_loss": report["train_loss"][-1] if report["train_loss"] else None,
            "peak_rss_mb": [r["peak_rss_mb"] for r in rss], "launch_to_exit_s": round(launch_s, 1),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


# --------------------------------------------------------------------------- report
def render(results: list[dict], args: argparse.Namespace, n_rows: int) -> str:
    base = results[0]
    cmd = rerun_command(args)
    loads = ", ".join(f"{r['load_before']}->{r['load_after']}" for r in results)
    lines = [
        SECTION, "",
        f"Machine: {os.cpu_count()} CPU cores, no GPU, gloo backend. Date: {dt.date.today().isoformat()}. "
        f"1-min load average before->after each run: {loads}.",
        f"Rerun: `{cmd}` (the script sets OMP_NUM_THREADS per run)."
        + (f" This is a validation-size run ({args.n} rows, a few steps per run): rerun with the default --n 64 on "
           "an idle machine before quoting a ratio." if args.n < 64 else ""),
        f"Model SmolLM2-135M-Instruct (float cache), {n_rows} closed-book QA rows from rag-mini-wikipedia, "
        f"{args.epochs:g} epoch, LoRA r=8/alpha=16 on q/k/v/o, lr 2e-4, fp32, through `ragft.finetune.train` "
        "(2 processes: `accelerate launch --multi_gpu --num_processes 2`). "
        "tokens/s = all processes' non-padding tokens / rank 0's `trainer.train()` wall time (load excluded); "
        "launch = command start to exit (imports, model load, process-group setup included). "
        "Loss = last logged step, mean over ranks.",
        "",
        "| run | procs x threads | batch per proc (global) | steps | train s | s/step | tokens/s | vs 1 proc "
        "| final loss | peak RSS MB per proc | launch s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['label']} | {r['processes']} x {r['threads_per_process']} | {r['per_device_batch']} ({r['global_batch']}) "
            f"| {r['steps']} | {r['train_seconds']:.1f} | {r['s_per_step']:.2f} | {r['tokens_per_s']:.1f} "
            f"| {r['tokens_per_s'] / base['tokens_per_s']:.2f}x | {r['final_loss'] if r['final_loss'] is not None else 'n/a'} "
            f"| {' / '.join(f'{m:.0f}' for m in r['peak_rss_mb'])} | {r['launch_to_exit_s']:.0f} |")
    lines += ["", reading(results), ""]
    return "\n".join(lines)


def reading(results: list[dict]) -> str:
    """A reading computed from the numbers: the ratios, the token check, and the explanation that fits them."""
    by = {r["label"]: r for r in results}
    base = by["1proc"]
    ratio = {k: r["tokens_per_s"] / base["tokens_per_s"] for k, r in by.items()}
    tokens = {k: round(r["tokens_per_s"] * r["train_seconds"]) for k, r in by.items()}
    parts = ["Reading: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items() if k != "1proc")
             + " the global tokens/s of 1proc; global tokens per run (tokens/s x train s) "
             + ", ".join(f"{k} ~{v}" for k, v in tokens.items()) + " (same rows, so they should match)."]
    parts.append("All runs share the same 2 cores, so DDP adds no compute: what changes is how the cores are used. "
                 "Likely cause of a difference (the 1proc-1t control tests it): one process runs each op with 2 intra-op threads that meet at a barrier per op; at this size "
                 "(135M model, batches of ~8x70 tokens) those ops are small, and when another job takes a core the "
                 "whole op waits for the slower thread. Two single-threaded processes each run whole steps and meet "
                 "once per step for a gloo all-reduce of the LoRA gradients (~0.92 M fp32 values, 3.7 MB).")
    if "1proc-1t" in by:
        parts.append(f"The 1proc-1t control (1 process, 1 thread) ran at {ratio['1proc-1t']:.2f}x, i.e. the second "
                     f"intra-op thread bought {1 / ratio['1proc-1t']:.2f}x in one process.")
    best = max((v for k, v in ratio.items() if k.startswith("2proc")), default=1.0)
    if best > 1.1:
        parts.append("Here 2 processes were faster: the threads of one process used the 2 cores worse than two "
                     "independent processes did. The gap is expected (not measured here) to shrink on an idle machine and "
                     "with larger batches, where intra-op threading is efficient.")
    elif best < 0.9:
        parts.append("Here 2 processes were slower: the all-reduce and the duplicated model outweighed the gain.")
    else:
        parts.append("Here both layouts came out within 10%, as expected for the same cores.")
    parts.append("Memory: each process holds its own model copy (peak RSS column). Adding processes pays off with "
                 "more cores or with GPUs (one process per device); the command is the same.")
    return " ".join(parts)


def rerun_command(args: argparse.Namespace) -> str:
    return (f".venv/bin/python benchmarks/distributed_train.py --n {args.n} --epochs {args.epochs:g} "
            f"--batch-size {args.batch_size} --out docs/benchmarks.md")


def write_section(path: Path, section: str) -> None:
    """Replace the `## Multi-process training` section of `path` (up to the next `## `), or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start = text.find(SECTION + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        end = len(text) if nxt < 0 else nxt + 1
        text = text[:start] + section.rstrip("\n") + "\n" + ("\n" if nxt >= 0 else "") + text[end:]
    path.write_text(text, encoding="utf-8")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":  # launched per rank: --worker RSS_DIR -- TRAIN ARGS...
        rest = sys.argv[3:]
        raise SystemExit(worker(rest[1:] if rest[:1] == ["--"] else rest, Path(sys.argv[2])))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qa", type=Path, default=DEFAULT_QA)
    p.add_argument("--n", type=int, default=64, help="QA rows (64 x 1 epoch: ~4 min for all 4 runs on an idle 2-core box).")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=8, help="Global batch of the 1-process run (even).")
    p.add_argument("--runs", default="1proc,1proc-1t,2proc-sameg,2proc-samed", help="Subset of the runs, comma-separated.")
    p.add_argument("--out", type=Path, default=None, help="Rewrite this file's `## Multi-process training` section.")
    args = p.parse_args()
    if not args.qa.is_file():
        raise SystemExit(f"QA file {args.qa} not found; pass --qa PATH")
    if args.batch_size < 2 or args.batch_size % 2:
        raise SystemExit(f"--batch-size must be an even number >= 2 (it is split over 2 processes), got {args.batch_size}")
    cores = os.cpu_count() or 2
    configs = {"1proc": (1, args.batch_size, cores), "1proc-1t": (1, args.batch_size, 1), "2proc-sameg": (2, args.batch_size // 2, max(1, cores // 2)),
               "2proc-samed": (2, args.batch_size, max(1, cores // 2))}
    wanted = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in wanted if r not in configs]
    if unknown or "1proc" not in wanted:
        raise SystemExit(f"--runs must include 1proc and use only {', '.join(configs)}; got {args.runs}")
    rows = qa_rows(args.qa, args.n)
    results = []
    with tempfile.TemporaryDirectory(prefix="ragft-ddp-data-") as tmp:
        qa_file = Path(tmp) / "qa.jsonl"
        qa_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        for label in wanted:
            procs, batch, threads = configs[label]
            results.append(run_config(label, procs, batch, threads, qa_file, args.epochs))
            print(label, json.dumps(results[-1]), file=sys.stderr, flush=True)
    section = render(results, args, len(rows))
    print(section)
    print(json.dumps(results))
    if args.out:
        write_section(args.out, section)
        print(f"wrote {SECTION!r} to {args.out}", file=sys.stderr)
    print(f"rerun (idle machine): {rerun_command(args)}", file=sys.stderr)


if __name__ == "__main__":
    main()
