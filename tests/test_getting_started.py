"""docs/getting-started.md, executed: every command of its bash blocks runs in order, as written, in a fresh
folder OUTSIDE the source tree that holds a copy of `examples/` (the doc says to run from the root of the clone,
the folder holding `examples/`), and each step's result is checked against what the text says.

Same machinery as tests/test_readme_tour.py: fast parts stand in for the models (the hash embedder, the tiny
generator folder from tests/tiny_model.py in `kb/ragft.toml`), so this checks commands, paths and files, not
answer quality; and `finetune --from-docs` trains on examples/demo/qa.jsonl instead (the tiny model's noise
never parses as a QA pair; tests/test_finetune_cli.py covers synthesis). Left out, with the reason: `make` and
`source` (the install itself; tests/test_fresh_install.py does the pip path for real), `accelerate launch`
(tests/test_distributed_train.py) and `serve` (blocks; tests/test_server*.py run it on loopback).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ragft.config import Settings, save_settings
from tests.fakes import HashEmbedder
from tests.test_docs import _FENCE, _logical_lines, ragft_invocations

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "getting-started.md"
SKIPPED = ("make", "source", "accelerate", "OMP_NUM_THREADS=1", "pip")


def _commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    lines: list[str] = []
    for lang, body in _FENCE.findall(text):
        if lang == "bash":
            lines += [re.sub(r"\s+#.*$", "", line) for line in _logical_lines(body)]
    return lines


def test_the_doc_says_where_to_run_from():
    text = DOC.read_text(encoding="utf-8")
    assert "Where to run from" in text and "examples/" in text
    assert "ragft models install smollm2-135m" in text  # the pip user's one extra step


def test_getting_started_runs_as_written_outside_the_repo(tmp_path, monkeypatch, tiny_model_dir):
    import ragft.cli as cli
    from ragft.workspace import Workspace

    home = tmp_path / "clone"  # stands for the root of a clone, anywhere on disk
    shutil.copytree(ROOT / "examples", home / "examples")
    assert ROOT not in home.parents
    kb = home / "kb"
    kb.mkdir()
    settings = Settings()
    settings.generator.model = str(tiny_model_dir)
    settings.generator.context_window = 512
    settings.train.batch_size = 4
    save_settings(kb, settings)
    monkeypatch.chdir(home)
    monkeypatch.delenv("RAGFT_WORKSPACE", raising=False)
    monkeypatch.setattr(cli, "open_workspace", lambda path: Workspace(path, embedder=HashEmbedder()))

    runner = CliRunner()
    ran: list[str] = []
    outputs: dict[str, list[str]] = {}
    for line in _commands():
        words = shlex.split(line)
        if words[0] in SKIPPED:
            continue
        if words[0] == "python":
            done = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True, timeout=60, cwd=home)
            assert done.returncode == 0, f"`{line}`: {done.stderr[-2000:]}"
            continue
        calls = ragft_invocations(line)
        assert calls, f"getting-started line that is neither ragft, python nor a skipped tool: {line!r}"
        for _, args in calls:
            if args[0] == "serve":
                continue
            if args[0] == "finetune" and "--from-docs" in args:
                args = [a for a in args if a != "--from-docs"] + ["--data", "examples/demo/qa.jsonl"]
            result = runner.invoke(cli.app, args, catch_exceptions=False)
            assert result.exit_code == 0, f"`ragft {' '.join(args)}` exited {result.exit_code}: {result.output[-2000:]}"
            key = " ".join(a for a in args[:2] if not a.startswith("-"))
            outputs.setdefault(key, []).append(result.stdout)
            ran.append(key)

    # Each step did what the text says.
    assert {"ingest examples/demo/corpus", "search How long do I have to return an item?", "documents", "ask How long do I have to return an item?",
            "sources add-sql", "sources list", "finetune", "adapters list", "compare", "advise", "users add",
            "models list", "models install"} <= set(ran), ran
    second = json.loads(outputs["ingest examples/demo/corpus"][1])  # "Running it again is a no-op"
    assert second["added"] == 0 and second["unchanged"] > 0 and not second["failed"]
    docs = outputs["documents"]
    assert "P001" in docs[0] and "cardiology" in docs[0]  # the ingest with --group/--subject
    assert "no results" not in outputs["search How long do I have to return an item?"][0]
    assert "shop" in outputs["sources list"][0] and str(home / "kb" / "inventory.sqlite") in outputs["sources list"][0]
    adapters = outputs["adapters list"][0]
    assert all(name in adapters for name in ("support-ft", "support-raft", "house-style"))
    assert (home / "out" / "report" / "index.html").is_file() and (home / "out" / "report" / "results.json").is_file()
    assert "API key" in outputs["users add"][0]
    assert not (home / "ragft-workspace").exists()  # every command named -w kb
    assert not (ROOT / "kb").exists()
