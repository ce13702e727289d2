"""The README's CLI tour, executed: every `ragft` line of its first bash block runs in order, from the repository
root, in one fresh workspace ($RAGFT_WORKSPACE), exactly as written (test_docs.py only parses such lines).

Fast parts stand in for the models (the hash embedder, the tiny generator folder from tests/tiny_model.py via
`[generator] model`), so this checks the commands, paths and files the tour names, not answer quality (the
real models have their own tests). One substitution: `finetune --from-docs` trains on examples/demo/qa.jsonl
instead, because synthesising questions needs a generator that writes sentences (the tiny one writes noise;
`compare --train` in benchmarks/compare.py synthesises with the real one). Left out, with the reason: `serve` blocks (tests/test_server*.py run it on
loopback), `accelerate launch` (tests/test_distributed_train.py), and `eval retrieval` when ../shared/data is
absent.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragft.config import Settings, save_settings
from tests.fakes import HashEmbedder
from tests.test_docs import _FENCE, _logical_lines, ragft_invocations

ROOT = Path(__file__).resolve().parents[1]


def tour_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [body for lang, body in _FENCE.findall(text) if lang == "bash" and "ragft ingest" in body]
    assert blocks, "README.md has no bash block with `ragft ingest` (the CLI tour)"
    return blocks[0]


def test_readme_tour_runs_top_to_bottom(tmp_path, monkeypatch, tiny_model_dir):
    import ragft.cli as cli
    from ragft.workspace import Workspace

    ws = tmp_path / "ws"
    settings = Settings()
    settings.generator.model = str(tiny_model_dir)
    settings.generator.context_window = 512
    settings.train.batch_size = 4
    ws.mkdir()
    save_settings(ws, settings)
    out_dir = ROOT / "out"
    made_out = not out_dir.exists()
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("RAGFT_WORKSPACE", str(ws))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Paths the tour writes under out/ are redirected into tmp_path, so the test leaves the checkout clean.
    redirect = {"out/": f"{tmp_path}/out/"}
    monkeypatch.setattr(cli, "open_workspace", lambda path: Workspace(path, embedder=HashEmbedder()))

    runner = CliRunner()
    ran: list[str] = []
    for line in _logical_lines(tour_block()):
        line = re.sub(r"\s+#.*$", "", line)  # trailing comment
        for old, new in redirect.items():
            line = line.replace(old, new)
        words = shlex.split(line)
        if words[0] == "python":
            done = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"`{line}`: {done.stderr[-2000:]}"
            continue
        if words[0] == "accelerate":
            continue  # tests/test_distributed_train.py runs it with 2 processes
        calls = ragft_invocations(line)
        assert calls, f"README tour line that is neither ragft, python nor accelerate: {line!r}"
        for _, args in calls:
            if args[0] == "serve":
                continue
            if args[:2] == ["eval", "retrieval"] and not (ROOT.parent / "shared" / "data" / "scifact").is_dir():
                continue
            if args[0] == "finetune" and "--from-docs" in args:
                args = [a for a in args if a != "--from-docs"] + ["--data", "examples/demo/qa.jsonl"]
            if args[:2] == ["eval", "retrieval"]:
                args = [*args, "--limit", "5"]  # the whole SciFact run is a benchmark, not a test
            result = runner.invoke(cli.app, args, catch_exceptions=False)
            assert result.exit_code == 0, f"`ragft {' '.join(args)}` exited {result.exit_code}: {result.output[-2000:]} {result.stderr[-2000:] if result.stderr_bytes else ''}"
            ran.append(args[0] if args[0] not in ("users", "adapters", "audit", "sources", "eval") else " ".join(args[:2]))
    assert made_out or out_dir.exists()  # (out/ is only ever created by the redirect above, never in the checkout)
    if made_out:
        assert not out_dir.exists(), "the tour wrote into the checkout's out/ folder"
    # Every command the tour shows ran (a missing one means the block changed shape: update this list).
    assert {"ingest", "search", "documents", "ask", "sources add-sql", "finetune", "adapters list", "compare",
            "advise", "users add", "forget", "audit verify"} <= set(ran), ran
