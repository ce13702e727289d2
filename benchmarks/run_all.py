"""`make bench`: every benchmark script in benchmarks/ with small defaults, one after another, then a summary.

    .venv/bin/python benchmarks/run_all.py                  # all of them (see --list), small settings
    .venv/bin/python benchmarks/run_all.py --only peers,ingest
    .venv/bin/python benchmarks/run_all.py --skip answers,compare --timeout 1200

Scripts are found by listing benchmarks/*.py (and benchmarks/peers/run.py), so a new script runs without an edit
here; the table below only gives known scripts smaller arguments than their own defaults, so `make bench` stays
within tens of minutes on 2 shared cores instead of hours. Each script runs in its own subprocess with the
project's interpreter, HF_HUB_OFFLINE=1, its stdout/stderr saved under --out (default /tmp/ragft-bench-all),
and the load average recorded before and after it (other jobs share the cores; see docs/benchmarks.md).
Nothing here edits docs/: each script's section in docs/benchmarks.md says how its numbers were produced.
Exit code 1 when any script failed or timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"

# name -> arguments for a short run (paths are filled in by `small_args`). Order = run order: quick ones first.
SMALL: dict[str, list[str]] = {
    "pii_eval": ["--repeat", "3"],
    "ingest": ["--wiki", "{data}/rag-mini-wikipedia/passages.csv", "--wiki-embed-limit", "50"],
    "peers": [],  # benchmarks/peers/run.py: its defaults are already sized for ~15 min
    "retrieval": ["--beir", "{data}/scifact", "--limit", "50", "--synthetic", "10000"],
    "store_backends": ["--chunks", "10000", "--queries", "50", "--incremental", "1000", "--limit", "50"],
    "models": ["--repeats", "1", "--skip-conversion"],
    "advise_throughput": ["--repeats", "1", "--decode-tokens", "16"],
    "server_load": ["--clients", "10", "--requests", "2"],
    "finetune": ["--n", "16"],
    "answers": ["--data", "{data}", "--part", "answers", "--n", "10"],
    "compare": ["--data", "{data}/rag-mini-wikipedia", "--n", "5", "--strategies", "base,rag",
                "--report", "{out}/compare-report"],
}


def discover() -> dict[str, Path]:
    """Benchmark scripts present now: benchmarks/*.py (not this file) and benchmarks/peers/run.py."""
    found = {p.stem: p for p in sorted(HERE.glob("*.py")) if p.name != Path(__file__).name and not p.name.startswith("_")}
    if (HERE / "peers" / "run.py").is_file():
        found["peers"] = HERE / "peers" / "run.py"
    order = [n for n in SMALL if n in found] + [n for n in found if n not in SMALL]
    return {n: found[n] for n in order}


def small_args(name: str, data: Path, out: Path) -> list[str]:
    return [a.format(data=data, out=out) for a in SMALL.get(name, [])]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_one(name: str, script: Path, args: list[str], out: Path, timeout: float) -> dict:
    cmd = [sys.executable, str(script), *args]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    row = {"name": name, "command": " ".join(cmd), "uptime_before": uptime()}
    print(f"== {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with open(out / f"{name}.out", "w", encoding="utf-8") as so, open(out / f"{name}.err", "w", encoding="utf-8") as se:
        try:
            row["exit"] = subprocess.run(cmd, stdout=so, stderr=se, cwd=ROOT, env=env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            row["exit"] = "timeout"
    row.update(seconds=round(time.perf_counter() - t0, 1), uptime_after=uptime(), stdout=str(out / f"{name}.out"))
    print(f"   -> exit {row['exit']} in {row['seconds']} s", file=sys.stderr, flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder (rag-mini-wikipedia/, scifact/)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/ragft-bench-all"), help="logs and outputs go here")
    ap.add_argument("--only", default="", help="comma list of script names (see --list)")
    ap.add_argument("--skip", default="", help="comma list of script names to leave out")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per script")
    ap.add_argument("--list", action="store_true", help="print the scripts and their arguments, run nothing")
    args = ap.parse_args()

    scripts = discover()
    only = {s for s in args.only.split(",") if s}
    skip = {s for s in args.skip.split(",") if s}
    unknown = (only | skip) - set(scripts)
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(sorted(unknown))}; known: {', '.join(scripts)}")
    chosen = {n: p for n, p in scripts.items() if (not only or n in only) and n not in skip}
    if args.list:
        for n, p in chosen.items():
            print(f"{n:18} {p.relative_to(ROOT)} {' '.join(small_args(n, args.data, args.out))}")
        return
    if not args.data.is_dir():
        raise SystemExit(f"--data {args.data} is not a folder; point it at the shared data (rag-mini-wikipedia/, scifact/)")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = [run_one(n, p, small_args(n, args.data, args.out), args.out, args.timeout) for n, p in chosen.items()]
    summary = {"total_s": round(time.perf_counter() - started, 1), "runs": rows}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"\n{'benchmark':18} {'exit':>7} {'seconds':>8}  output")
    for r in rows:
        print(f"{r['name']:18} {str(r['exit']):>7} {r['seconds']:>8}  {r['stdout']}")
    print(f"total {summary['total_s']} s; summary: {args.out / 'summary.json'}")
    if any(r["exit"] != 0 for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
