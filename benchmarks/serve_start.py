"""The first answers of a fresh `ragft serve`: seconds until /healthz answers, then (after --idle seconds, a server
started a while before its first user) the first and the second chat completion, on the demo workspace.

    .venv/bin/python benchmarks/serve_start.py --repeats 3
    .venv/bin/python benchmarks/serve_start.py --repeats 3 --code /tmp/before   # another checkout's code

Each repeat starts `python -m ragft.cli serve` in a new process (PYTHONPATH = --code) on a free loopback port and
stops it after the two requests (model `rag`, not streamed, the question below). The workspace (--workspace) gets
the demo corpus ingested first when it has no index. Prints one JSON document with every repeat, the medians and
the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._proc import free_port, offline_env  # noqa: E402

QUESTION = "How long do I have to return an item?"


def _ask(url: str) -> float:
    t0 = time.perf_counter()
    r = httpx.post(url + "/v1/chat/completions", timeout=300,
                   json={"model": "rag", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 64})
    r.raise_for_status()
    return time.perf_counter() - t0


def one(code: Path, ws: Path, idle: float) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ragft.cli", "serve", "-w", str(ws), "--port", str(port), "--json"],
                            cwd=code, env=offline_env(code), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"ragft serve exited: {proc.stderr.read()[-800:] if proc.stderr else ''}")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("ragft serve did not answer /healthz in 120 s")
            time.sleep(0.05)
        healthy = time.perf_counter() - t0
        time.sleep(idle)
        return {"healthz_s": round(healthy, 2), "first_answer_s": round(_ask(url), 2), "second_answer_s": round(_ask(url), 2)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--idle", type=float, default=15.0, help="seconds between /healthz answering and the first request")
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-bench-serve-start"))
    ap.add_argument("--code", type=Path, default=ROOT, help="the ragft checkout whose code runs the server")
    args = ap.parse_args()
    code = args.code.resolve()
    if not (args.workspace / "ragft.db").is_file():
        subprocess.run([sys.executable, "-m", "ragft.cli", "ingest", str(ROOT / "examples" / "demo" / "corpus"), "-w",
                        str(args.workspace), "--json"], cwd=code, env=offline_env(code), check=True, capture_output=True)
    report: dict = {"command": " ".join(sys.argv), "code": str(code), "idle_s": args.idle,
                    "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "load_avg_start": os.getloadavg()[0]}
    runs = []
    for i in range(args.repeats):
        runs.append(one(code, args.workspace, args.idle))
        print(f"repeat {i + 1}: {runs[-1]}", file=sys.stderr, flush=True)
    report["runs"] = runs
    report["median"] = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
    report["load_avg_end"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
