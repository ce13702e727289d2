"""What the CLI prints for the newcomer (issue #21 items 6-7): the compare table fits a ~100-column terminal by
default (`--wide` shows every metric), flags carry no `<bool>` label in `--help`, and a model load shows as its
own progress line."""

from __future__ import annotations

from rich.console import Console
from typer.testing import CliRunner

from ragft import cli_views
from ragft.cli import app
from ragft.evaluate.compare import Comparison, StrategySummary


def _comparison() -> Comparison:
    row = dict(exact_match=0.25, f1=0.4567, faithfulness=0.8, citation_accuracy=0.75, abstention_rate=0.1,
               latency_ms_p50=2345.0, latency_ms_p95=4567.0, cost_per_1k=0.0123, answer_correctness=0.3,
               recall_at_k=0.9, training_cost_usd=0.0456)
    return Comparison(
        strategies={"base": StrategySummary(**row), "rag": StrategySummary(**row),
                    "ft": StrategySummary(**row, adapter="support-ft"), "hybrid": StrategySummary(**row, adapter="support-raft")},
        recommendation="rag", questions=[], meta={"questions": 40, "qa": "examples/demo/qa.jsonl", "recommendation_rule": "best F1"},
    )


def _render(monkeypatch, wide: bool) -> str:
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the test
    monkeypatch.setattr(cli_views, "out", console)
    monkeypatch.setattr(cli_views, "err", console)
    cli_views.show_compare(_comparison(), wide=wide)
    return console.export_text()


def test_compare_table_is_compact_by_default_and_wide_on_request(monkeypatch):
    compact = _render(monkeypatch, wide=False)
    table_lines = [ln for ln in compact.splitlines() if "│" in ln or "┃" in ln]
    assert table_lines and max(len(ln.rstrip()) for ln in table_lines) <= 100
    assert "recommendation: rag" in compact and "--wide" in compact
    header = next(ln for ln in compact.splitlines() if "strategy" in ln)
    assert "F1" in header and "recall@k" not in header and "EM" not in header
    wide = _render(monkeypatch, wide=True)
    assert "recall@k" in wide and "train $" in wide and "recommendation: rag" in wide
    assert max(len(ln.rstrip()) for ln in wide.splitlines()) > 100  # what the compact default avoids


def test_flags_have_no_bool_label_in_help():
    for args in (["advise", "--help"], ["compare", "--help"], ["documents", "--help"]):
        res = CliRunner().invoke(app, args, env={"COLUMNS": "120"})
        assert res.exit_code == 0
        assert "<bool>" not in res.stdout, args


def test_model_loading_shows_as_its_own_line(tmp_path, hash_embedder, monkeypatch):
    from ragft.workspace import Workspace

    seen: list[str] = []
    bars = cli_views.Bars("ingesting")
    original = bars.loading

    def loading(label):  # type: ignore[no-untyped-def]
        seen.append(label)
        return original(label)

    ws = Workspace(tmp_path / "ws")
    ws.loading = loading
    monkeypatch.setattr("ragft.models.embedder.load_embedder", lambda settings: hash_embedder)
    doc = tmp_path / "a.txt"
    doc.write_text("Opening hours are nine to five.", encoding="utf-8")
    with bars:
        ws.ingest([doc], progress=bars.update)
    assert seen == [f"loading embedder {ws.settings.embedder.model}"]


def test_progress_off_a_terminal_is_a_timed_line_per_task(capsys):
    """stderr that is no terminal (a log, CI) got nothing: `compare --limit 6` sat silent for 60 s and a RAFT
    training under --json for 14 minutes. Off a terminal progress is a plain line every `every` seconds of work
    and one at the end; work shorter than that says nothing."""
    now = [0.0]
    lines = cli_views._Lines(every=10.0, clock=lambda: now[0])
    quick = lines.add_task("ingesting", total=3)
    lines.update(quick, completed=3)  # done within a second: nothing
    slow = lines.add_task("comparing", total=40)
    for done in range(1, 41):
        now[0] += 1.0
        lines.update(slow, completed=done)
    train = lines.add_task("training a1", total=4, info="")
    now[0] += 12.0
    lines.update(train, completed=1, info="loss 1.500 · 50 tok/s")
    lines.stop()  # interrupted: the task that had spoken says where it ended
    said = capsys.readouterr().err.splitlines()
    assert said == [
        "comparing: 10/40 · 10 s · about 30 s left",
        "comparing: 20/40 · 20 s · about 20 s left",
        "comparing: 30/40 · 30 s · about 10 s left",
        "comparing: 40/40 · 40 s",
        "training a1: 1/4 · loss 1.500 · 50 tok/s · 12 s · about 36 s left",
        "training a1: 1/4 · loss 1.500 · 50 tok/s · 12 s",
    ]


def test_json_output_keeps_progress_on_stderr(tmp_path, monkeypatch):
    """The CLI contract: under --json exactly one JSON document on stdout, progress on stderr (it was switched off)."""
    import json

    from typer.testing import CliRunner

    from ragft.cli import app
    from tests.fakes import HashEmbedder

    monkeypatch.setattr(cli_views, "LINE_EVERY", 0.0)  # every update says a line: no wait in a test
    doc = tmp_path / "a.txt"
    doc.write_text("Opening hours are nine to five.", encoding="utf-8")
    monkeypatch.setattr("ragft.models.embedder.load_embedder", lambda settings: HashEmbedder())
    res = CliRunner().invoke(app, ["ingest", str(doc), "-w", str(tmp_path / "ws"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["added"] == 1
    assert "ingesting: 1/1" in res.stderr
