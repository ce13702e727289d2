"""Cold start: wall time of fresh `ragft` processes (--help of every command, search, ask) vs `python -c "import torch"`.

Run from the project root:

    .venv/bin/python benchmarks/coldstart.py --repeats 3

Each figure is the median of --repeats fresh interpreters (`python -m ragft.cli ...`, so the console-script
shim is not counted; warm OS file cache: one unmeasured run first). `search` and `ask` run on a small workspace,
the demo corpus ingested once into --workspace (51 chunks) with the configured embedder, so its ONNX export is
done before timing; `ask` once with a question the sources cannot answer (it abstains before generating) and
once with one the bundled generator answers. Also lists which heavy packages each process imported (torch, transformers,
sentence_transformers, onnxruntime, scipy, bm25s, numpy, pydantic) from `python -X importtime`, and the largest
cumulative imports of `search` (--top). The load average is printed with every figure: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._proc import offline_env  # noqa: E402

CODE = ROOT  # the ragft checkout whose code is timed (--code: e.g. an older commit unpacked elsewhere)
HEAVY = ("torch", "transformers", "sentence_transformers", "onnxruntime", "scipy", "bm25s", "numpy", "pydantic")


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], repeats: int) -> tuple[float, float]:
    """Median (wall s, CPU s) of `argv` in fresh processes (one unmeasured warm-up run first).

    CPU seconds (user + sys of the child) barely move with other jobs on the machine; wall time does.
    """
    times, cpus = [], []
    for i in range(repeats + 1):
        t0, c0 = time.perf_counter(), _child_cpu()
        proc = subprocess.run(argv, env=offline_env(CODE), cwd=CODE, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr[-500:]}")
        if i:
            times.append(time.perf_counter() - t0)
            cpus.append(_child_cpu() - c0)
    return statistics.median(times), statistics.median(cpus)


def imports(argv: list[str]) -> tuple[list[str], list[tuple[float, str]]]:
    """(heavy top-level packages imported, [(cumulative s, module)] of top-level imports) from -X importtime."""
    proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=offline_env(CODE), cwd=CODE, capture_output=True, text=True,
                          timeout=600)
    cumulative: list[tuple[float, str]] = []
    seen = set()
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = line.split("|")
        if not cum.strip().isdigit():
            continue
        seen.add(name.strip().split(".")[0])
        if not name.startswith("  "):  # top-level import (not nested under another)
            cumulative.append((int(cum) / 1e6, name.strip()))
    return [h for h in HEAVY if h in seen], sorted(cumulative, reverse=True)


def commands() -> list[list[str]]:
    """Every command path of the CLI (`[]` = the root), read from the click tree."""
    sys.path.insert(0, str(CODE))
    import typer

    from ragft.cli import app

    out: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:  # type: ignore[no-untyped-def]
        out.append(path)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-coldstart-ws"))
    ap.add_argument("--top", type=int, default=8, help="largest top-level imports of search to list")
    ap.add_argument("--no-help", action="store_true", help="skip the per-command --help timings")
    ap.add_argument("--code", type=Path, default=ROOT, help="ragft checkout to time (default: this one); "
                    "before/after: `git archive COMMIT | tar -x -C DIR` and pass DIR")
    args = ap.parse_args()
    global CODE
    CODE = args.code.resolve()
    py = sys.executable
    cli = [py, "-m", "ragft.cli"]
    if not (args.workspace / "ragft.db").exists():
        subprocess.run([*cli, "ingest", str(ROOT / "examples" / "demo" / "corpus"), "-w", str(args.workspace), "--json"],
                       env=offline_env(CODE), cwd=CODE, check=True, capture_output=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {load()}")
    print("| process | median wall s | median CPU s | heavy packages imported | load |")
    print("|---|---|---|---|---|")
    rows: list[tuple[str, list[str]]] = [("python -c 'import torch'", [py, "-c", "import torch"])]
    if not args.no_help:
        rows += [(f"ragft {' '.join(path + ['--help'])}", [*cli, *path, "--help"]) for path in commands()]
    search = [*cli, "search", "How long do I have to return an item?", "-k", "3", "-w", str(args.workspace), "--json"]
    rows.append(("ragft search (demo workspace, hybrid)", search))
    # `ask` twice: a question the sources cannot answer (abstains before any generation: no generator load, no
    # torch) and one the bundled generator answers (imports torch + transformers and loads the weights).
    for label, question in (("ragft ask, abstains before generating", "Who won the 1998 football World Cup?"),
                            ("ragft ask, generated answer", "How long do I have to return an item?")):
        rows.append((label, [*cli, "ask", question, "-w", str(args.workspace), "--json"]))
    worst_help = (0.0, 0.0, "")  # (wall s, CPU s, label) of the slowest --help by wall time
    for label, argv in rows:
        secs, cpu = run(argv, args.repeats)
        heavy, _ = imports(argv)
        if "--help" in argv:
            worst_help = max(worst_help, (secs, cpu, label))
        print(f"| `{label}` | {secs:.2f} | {cpu:.2f} | {', '.join(heavy) or '-'} | {load()} |")
    if not args.no_help:
        print(f"\nslowest --help: `{worst_help[2]}` {worst_help[0]:.2f} s wall, {worst_help[1]:.2f} CPU s; {load()}")
    _, top = imports(search)
    print(f"\nlargest top-level imports of search (-X importtime, cumulative): "
          + ", ".join(f"{name} {secs:.2f} s" for secs, name in top[: args.top]))


if __name__ == "__main__":
    main()
