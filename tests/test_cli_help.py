"""`--help` of every command (issue 19, cold start): exits 0, lists each of the command's options and arguments
with their whole help text (words in square brackets, "[embedder] devices", are text, not markup), and imports none of the heavy packages (pydantic, numpy, torch, ...), so a help call stays a fraction of a second.

Correctness only, no wall-time assertion: the imports are read from `sys.modules` of a fresh interpreter that runs
every `--help` of the CLI in turn (a module imported by any one of them stays in `sys.modules`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# pydantic: typer >= 0.29 imports it when it builds a TypeAdapter for a parameter value (ragft.cli_errors.FastHelpGroup
# keeps help calls from doing so); the rest are what commands import inside their bodies.
HEAVY = ("pydantic", "numpy", "torch", "transformers", "sentence_transformers", "onnxruntime", "scipy", "bm25s")

_PROBE = """
import contextlib, io, json, sys
import typer
from ragft.cli import app

HEAVY = %r
paths = []

def walk(cmd, path):
    paths.append((path, cmd))
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        walk(sub, [*path, name])

walk(typer.main.get_command(app), [])
results = []
for path, cmd in paths:
    buf = io.StringIO()
    code = None
    with contextlib.redirect_stdout(buf):
        try:
            app([*path, "--help"], prog_name="ragft")
        except SystemExit as exc:
            code = exc.code
    text = buf.getvalue()
    shown = [p for p in cmd.params if not getattr(p, "hidden", False)]
    wanted = [p.opts[0] if p.param_type_name == "option" else (p.metavar or p.name.upper()) for p in shown]
    flat = "".join(text.split())  # wrapped lines joined: each help text must be there whole, "[store]" included
    lost = [p.name for p in shown if "".join((getattr(p, "help", None) or "").split()) not in flat]
    usage = ("Usage: ragft " + " ".join(path)).rstrip()
    if not getattr(cmd, "commands", None):  # a command: its arguments as docs/cli.md writes them (QUERY, [QUESTION])
        usage = " ".join([usage, "[OPTIONS]", *(
            p.metavar or ((p.name.upper() + ("..." if p.nargs == -1 else "")) if p.required else f"[{p.name.upper()}]")
            for p in cmd.params if p.param_type_name == "argument")]) + "\\n"
    results.append({"path": path, "exit": code, "missing": [w for w in wanted if w not in text], "lost": lost,
                    "usage": usage in text})
json.dump({"results": results, "heavy": sorted(m for m in HEAVY if m in sys.modules)}, sys.stdout)
"""


def test_every_help_exits_0_lists_its_options_and_imports_nothing_heavy():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", _PROBE % (HEAVY,)], capture_output=True, text=True, env=env,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    results = report["results"]
    assert len(results) > 30  # the root, the sub-apps and their commands
    assert {"ask", "search", "ingest"} <= {r["path"][0] for r in results if r["path"]}
    bad = [r for r in results if r["exit"] not in (0, None) or r["missing"] or r["lost"] or not r["usage"]]
    assert bad == []
    assert report["heavy"] == []


def test_unused_help_option_of_a_group_defaults_to_false():
    """The group's own `--help`, not given, arrives as False (a bool: typer builds no pydantic adapter for it);
    given, it still prints the help, also for a sub-app's group."""
    import typer
    from typer.testing import CliRunner

    from ragft.cli import app
    from ragft.cli_errors import FastHelpGroup

    root = typer.main.get_command(app)
    assert isinstance(root, FastHelpGroup)
    for group in [root, *(c for c in root.commands.values() if hasattr(c, "commands"))]:
        assert isinstance(group, FastHelpGroup), group.name
        ctx = group.make_context("ragft", ["--help"], resilient_parsing=True)
        assert group.get_help_option(ctx).default is False
    res = CliRunner().invoke(app, ["users", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "add" in res.stdout
