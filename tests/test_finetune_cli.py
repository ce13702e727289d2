"""`ragft finetune` on the newcomer path (issue #21 item 5): QA synthesis reports progress, Ctrl-C prints one line
naming what to run next (exit 130), and a synthesis that yields too few pairs says why in its own message.

The tiny random model (tests/tiny_model.py) stands in for the generator: real transformers/PEFT code paths, so
synthesis really calls the model and training really steps; its replies are noise, which is fine here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragft.config import Settings, save_settings
from ragft.errors import DataError
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / "examples" / "demo" / "qa.jsonl"


def _tiny_settings(tiny_model_dir: Path) -> Settings:
    settings = Settings()
    settings.generator.model = str(tiny_model_dir)
    settings.generator.context_window = 512
    settings.train.batch_size = 2
    settings.train.synth_questions = 3
    return settings


def _docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "returns.md").write_text("# Returns\n\nUnused items can be returned within 60 days of delivery.\n", encoding="utf-8")
    (folder / "cards.md").write_text("# Gift cards\n\nGift cards are valid for three years from purchase.\n", encoding="utf-8")
    return folder


def test_synthesis_reports_progress_and_says_why_it_found_too_few(tmp_path, tiny_generator, tiny_model_dir):
    from ragft.workspace import Workspace

    ws = Workspace(tmp_path / "ws", settings=_tiny_settings(tiny_model_dir), embedder=HashEmbedder(),
                   generator=tiny_generator)
    ws.ingest([_docs(tmp_path)])
    calls: list[tuple[int, int]] = []
    try:
        ws.finetune("synth-ft", from_docs=True, synth_progress=lambda done, total: calls.append((done, total)),
                    overrides={"max_length": 64})
    except DataError as exc:  # the tiny model's noise rarely parses as a QA pair
        message = str(exc)
        assert "listed above" not in message  # nothing was listed: the message itself says why
        assert "rejected:" in message
    finally:
        ws.close()
    assert calls, "synthesis ran without calling its progress callback"
    assert {total for _, total in calls} == {3}
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


@pytest.fixture
def tiny_cli_ws(tmp_path, tiny_model_dir, monkeypatch):
    import ragft.cli as cli
    from ragft.workspace import Workspace

    ws = tmp_path / "ws"
    ws.mkdir()
    save_settings(ws, _tiny_settings(tiny_model_dir))
    monkeypatch.setattr(cli, "open_workspace", lambda path: Workspace(path, embedder=HashEmbedder()))
    return ws


def _interrupt(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise KeyboardInterrupt


def test_ctrl_c_during_training_names_resume_and_resume_works(tiny_cli_ws, monkeypatch):
    from ragft import cli_views
    from ragft.cli import app

    args = ["finetune", "--name", "qa-ft", "--data", str(QA), "--epochs", "1", "--max-length", "64", "-w", str(tiny_cli_ws)]
    with monkeypatch.context() as m:
        m.setattr(cli_views.TrainBar, "update", _interrupt)  # Ctrl-C at the first training step
        res = CliRunner().invoke(app, args)
    assert res.exit_code == 130
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]  # (model loading may log above it)
    assert len(errors) == 1 and errors[0].startswith("error: interrupted")
    assert f"ragft finetune --name qa-ft --resume -w {tiny_cli_ws}" in " ".join(res.stderr.split())
    # The hint is true: --resume continues the run and registers the adapter.
    done = CliRunner().invoke(app, ["finetune", "--name", "qa-ft", "--resume", "-w", str(tiny_cli_ws), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["adapter"] == "qa-ft"


def test_ctrl_c_during_synthesis_says_start_again(tiny_cli_ws, tmp_path, monkeypatch):
    from ragft import cli_views
    from ragft.cli import app

    ingest = CliRunner().invoke(app, ["ingest", str(_docs(tmp_path)), "-w", str(tiny_cli_ws)])
    assert ingest.exit_code == 0, ingest.output
    monkeypatch.setattr(cli_views.TrainBar, "synth", _interrupt)
    res = CliRunner().invoke(app, ["finetune", "--name", "docs-ft", "--from-docs", "-w", str(tiny_cli_ws)])
    assert res.exit_code == 130
    assert "before training started" in res.stderr and "--resume" in res.stderr
