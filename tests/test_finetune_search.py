"""`ragft finetune --search` (ragft/finetune/search.py) on the tiny random Llama: real Optuna study in SQLite, real
LoRA training through transformers/peft, real pruning. Learning rates 1e-2 and 1e-6 are "clearly different": on
the widget rows 1e-2 lowers the validation loss within a step, 1e-6 leaves it where the random model starts.
For `--objective f1` the locker rows share one answer, so 1e-2 also answers held-out questions right and 1e-6
does not: held-out F1 ranks the two trials by a wide margin (test_f1_search_ranks_trials_...).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragft.config import Settings, save_settings
from ragft.errors import ConfigError
from ragft.finetune.registry import AdapterRegistry
from ragft.finetune.search import Dimension, latin_hypercube, parse_space

pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[1]
GOOD, BAD = 1e-2, 1e-6
SPACE = f"lr={GOOD:g}|{BAD:g}"  # choices are tried in the order given: the good rate first, then the bad one


def _workspace(tmp_path: Path, model_dir: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    s = Settings()
    s.generator.model = str(model_dir)
    s.train.batch_size = 4
    s.train.epochs = 2
    s.train.val_fraction = 0.25
    s.train.early_stopping_patience = 0
    save_settings(ws, s)
    return ws


def _qa_file(path: Path, n: int = 12) -> Path:
    rows = [{"question": f"What colour is widget {i}?", "answer": f"Widget {i} is {['red', 'blue', 'green'][i % 3]}."}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the space (no model)
@pytest.mark.parametrize("text, named", [
    ("lr=abc:1e-3", "lr"),
    ("lr=1e-3:1e-4:log", "lr"),
    ("lora_r=4|8.5", "lora_r"),
    ("epochs=1:3:lin", "epochs"),
    ("warmup=1:3", "warmup"),
    ("lora_dropout=0:1", "lora_dropout"),
    ("lr=1e-4:1e-3,lr=1e-5:1e-4", "lr"),
    ("epochs=", "epochs"),
])
def test_bad_space_names_the_parameter(text, named):
    with pytest.raises(ConfigError) as exc:
        parse_space(text)
    assert str(exc.value).startswith(f"--space {named}") or f"{named!r}" in str(exc.value)


def test_space_parses_ranges_and_choices():
    dims = parse_space("lr=1e-4:1e-3:log, lora_r=4|8|16, epochs=1:3")
    assert dims[0] == Dimension("lr", "learning_rate", float, low=1e-4, high=1e-3, log=True)
    assert dims[1].choices == (4, 8, 16) and dims[1].key == "lora_r"
    assert dims[2].low == 1 and dims[2].high == 3 and not dims[2].log


def test_latin_hypercube_covers_each_range_once_per_stratum():
    dims = parse_space("lr=1e-4:1e-2:log,lora_r=4|8,epochs=1:4")
    points = latin_hypercube(dims, 4, seed=0)
    lrs = sorted(p["lr"] for p in points)
    # one point in each quarter of the log range: 10^-4 .. 10^-3.5 .. 10^-3 .. 10^-2.5 .. 10^-2
    for i, lr in enumerate(lrs):
        assert 10 ** (-4 + 0.5 * i) < lr < 10 ** (-4 + 0.5 * (i + 1))
    assert [p["lora_r"] for p in points] == [4, 8, 4, 8]
    assert sorted(p["epochs"] for p in points) == [1, 2, 3, 4]  # whole bounds: whole epochs
    assert all(isinstance(p["epochs"], float) for p in latin_hypercube(parse_space("epochs=0.5:2"), 3, seed=0))


def test_cli_bad_space_is_one_clear_error(tmp_path, tiny_model_dir):
    from ragft.cli import app

    ws = _workspace(tmp_path, tiny_model_dir)
    res = CliRunner().invoke(app, ["finetune", "--name", "s", "--data", str(_qa_file(tmp_path / "qa.jsonl")),
                                   "--search", "--space", "lr=1e-3:fast", "-w", str(ws)])
    assert res.exit_code == 2
    errors = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: --space lr:"), res.stderr
    assert not (ws / "adapters").exists() and not (ws / "search.sqlite").exists()  # nothing written
    res = CliRunner().invoke(app, ["finetune", "--name", "s", "--data", str(tmp_path / "qa.jsonl"), "--trials", "3",
                                   "-w", str(ws), "--json"])
    assert res.exit_code == 2 and "--search" in json.loads(res.stdout)["error"]["message"]


# --------------------------------------------------------------------------- a real search (tiny model)
def test_search_picks_the_better_rate_prunes_the_bad_one_and_registers_the_table(tmp_path, tiny_model_dir):
    from ragft.cli import app

    ws = _workspace(tmp_path, tiny_model_dir)
    res = CliRunner().invoke(app, ["finetune", "--name", "best", "--data", str(_qa_file(tmp_path / "qa.jsonl")),
                                   "--search", "--trials", "4", "--space", SPACE, "-w", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    trials = out["trials"]
    assert len(trials) == 4 and {t["state"] for t in trials} <= {"complete", "pruned"}
    assert out["best"]["params"] == {"lr": GOOD} and out["best"]["adapter"] == "best"
    by_lr = {lr: [t for t in trials if t["params"]["lr"] == lr] for lr in (GOOD, BAD)}
    assert by_lr[GOOD] and by_lr[BAD]  # both rates were tried
    assert out["best"]["objective"] == min(t["objective"] for t in trials if t["state"] == "complete")
    # Pruning: the bad rate ran after a finished good trial; its loss at the first evaluation is worse than the
    # good trial's at the same step, so the median pruner stopped it there.
    full = max(t["steps"] for t in by_lr[GOOD])
    bad = by_lr[BAD][0]
    assert bad["state"] == "pruned" and bad["steps"] < full and len(bad["val_loss"]) < len(by_lr[GOOD][0]["val_loss"])
    # One line per finished trial on stderr, with params, objective, pruned or not, time; ETA until the last.
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("trial ")]
    assert len(lines) == 4 and "lr=1e-06" in lines[1] and "pruned at step" in lines[1] and "ETA" in lines[0]
    # The registered adapter: the best trial's hyperparameters, the whole trial table in its lineage.
    info = AdapterRegistry(ws).get("best")
    assert info.hyperparameters["learning_rate"] == GOOD
    assert [t["number"] for t in info.lineage["search"]["trials"]] == [t["number"] for t in trials]
    assert info.lineage["search"]["best_trial"] == out["best"]["trial"] and info.lineage["search"]["space"] == SPACE
    # Only the best adapter is kept: no trial folders, no run state, no study left behind.
    adapters = ws / "adapters"
    assert sorted(p.name for p in adapters.iterdir() if p.is_dir() and any(p.iterdir())) == ["best"]
    assert (adapters / "best" / "adapter_model.safetensors").is_file()
    assert not (adapters / ".runs" / "best").exists()
    with sqlite3.connect(ws / "search.sqlite") as db:
        assert db.execute("select count(*) from studies").fetchone()[0] == 0


def _finished(db_path: Path) -> int:
    if not db_path.is_file():
        return 0
    try:
        with sqlite3.connect(db_path, timeout=1) as db:
            return db.execute("select count(*) from trials where state in ('COMPLETE', 'PRUNED')").fetchone()[0]
    except sqlite3.Error:  # tables not created yet
        return 0


def test_killed_search_resumes_without_repeating_finished_trials(tmp_path, tiny_model_dir):
    from ragft.cli import app

    ws = _workspace(tmp_path, tiny_model_dir)
    data = _qa_file(tmp_path / "qa.jsonl")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragft.cli", "finetune", "--name", "r", "--data", str(data), "--search", "--trials", "4",
         "--space", SPACE, "-w", str(ws), "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT),
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and _finished(ws / "search.sqlite") < 1:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not AdapterRegistry(ws).exists("r")
    with sqlite3.connect(ws / "search.sqlite") as db:
        before = db.execute("select t.number, t.state, v.value from trials t left join trial_values v "
                            "on v.trial_id = t.trial_id where t.state in ('COMPLETE', 'PRUNED') order by t.number").fetchall()
    assert 1 <= len(before) < 4

    res = CliRunner().invoke(app, ["finetune", "--name", "r", "--search", "--resume", "-w", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["resumed_trials"] == len(before)
    finished = [t for t in out["trials"] if t["state"] in ("complete", "pruned")]
    assert len(finished) == 4  # the recorded trial count, not 4 more
    # The trials finished before the kill are the same rows, not rerun: only 4 - k trials ran after the resume.
    kept = {t["number"]: t for t in finished}
    for number, state, value in before:
        assert kept[number]["state"] == state.lower()
        if value is not None:
            assert kept[number]["objective"] == pytest.approx(value, abs=1e-5)
    assert len([ln for ln in res.stderr.splitlines() if ln.startswith("trial ")]) == 4 - len(before)
    assert AdapterRegistry(ws).get("r").lineage["search"]["trials"] == out["trials"]
    again = CliRunner().invoke(app, ["finetune", "--name", "r", "--search", "--resume", "-w", str(ws)])
    assert again.exit_code == 2 and "no interrupted search" in again.stderr


def test_missing_optuna_says_which_extra_to_install(tmp_path, monkeypatch):
    from ragft.finetune.search import _optuna

    monkeypatch.setitem(sys.modules, "optuna", None)  # what an environment without the extra looks like
    with pytest.raises(ConfigError, match=r"pip install 'ragft\[search\]'"):
        _optuna()


# --------------------------------------------------------------------------- --objective f1 (held-out answers)
def _heldout_file(path: Path) -> Path:
    """Held-out widgets 12-14: not in the training rows (widgets 0-11), answers in the same form."""
    rows = [{"question": f"What colour is widget {i}?", "answer": f"Widget {i} is {['red', 'blue', 'green'][i % 3]}."}
            for i in range(12, 15)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _short_answers(ws: Path) -> None:
    from ragft.config import load_settings

    s = load_settings(ws)
    s.generator.max_new_tokens = 4  # gibberish from the random model: a few tokens score as well as 64
    save_settings(ws, s)


CODE_WORD = "Blue marble."  # every locker's answer: one phrase the tiny model can learn whatever the question


def _locker_file(path: Path, lockers: range) -> Path:
    """Rows whose answer is the same phrase for every question. A held-out locker's question is not in training
    (the f1 search leaves out exactly the --qa questions), yet its answer is the one phrase every training row
    teaches: an adapter that learnt it answers held-out questions right, one that learnt nothing answers with the
    random model's gibberish (token F1 0). So F1 separates the two rates by a wide margin, with no knife edge."""
    rows = [{"question": f"What is the code word for locker {i}?", "answer": CODE_WORD} for i in lockers]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_f1_search_ranks_trials_by_heldout_f1_and_registers_the_best(tmp_path, tiny_model_dir):
    """The bad rate first, then the good one (so the median pruner, which needs one finished trial, has nothing
    to stop in the bad trial, and the good trial's lower loss keeps it running): both trials finish and are scored
    on 4 held-out lockers. lr 1e-2 for 12 steps teaches the code word (the answers start "Blue marble."), lr 1e-6
    leaves the random model's gibberish (F1 0). The search must register the later, higher-F1 trial: a ranking
    that minimised F1, or fell back to the earlier trial on a tie, would pick the bad one. Scoring the registered
    adapter again through the same function gives exactly the recorded F1."""
    from ragft.cli import app
    from ragft.config import load_settings
    from ragft.finetune.objective import load_heldout, score_adapter
    from ragft.workspace import Workspace

    ws = _workspace(tmp_path, tiny_model_dir)
    _short_answers(ws)  # 4 new tokens: "Blue marble." and one more, or 4 tokens of gibberish
    s = load_settings(ws)
    s.train.epochs = 4  # 9 train rows, batch 4: 12 steps, enough at 1e-2 for the code word to come first
    save_settings(ws, s)
    data = _locker_file(tmp_path / "qa.jsonl", range(12))
    held = _locker_file(tmp_path / "held.jsonl", range(12, 16))
    res = CliRunner().invoke(app, ["finetune", "--name", "f1best", "--data", str(data), "--search", "--trials", "2",
                                   "--space", f"lr={BAD:g}|{GOOD:g}", "--objective", "f1", "--qa", str(held),
                                   "-w", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["objective"] == "f1" and out["best"]["metric"] == "f1"
    bad, good = out["trials"]
    assert bad["params"] == {"lr": BAD} and good["params"] == {"lr": GOOD}
    assert bad["state"] == good["state"] == "complete" and bad["metric"] == good["metric"] == "f1"
    # Held-out F1 really ranks the trials: the good rate answers with the code word, the bad one does not.
    assert bad["objective"] < 0.1 and good["objective"] > 0.4, (bad["objective"], good["objective"])
    assert good["val_loss"][-1] < bad["val_loss"][-1]
    for t in (bad, good):
        assert t["ci"] is not None and t["ci"][0] <= t["objective"] <= t["ci"][1]
    assert out["best"]["trial"] == good["number"] == 1 and out["best"]["objective"] == good["objective"]
    assert out["best"]["params"] == {"lr": GOOD} and out["best"]["ci"] == good["ci"]
    # One progress line per trial, each with its F1 (and its last validation loss).
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("trial ")]
    assert len(lines) == 2 and all(" f1 " in ln and "val_loss" in ln for ln in lines)
    assert f"f1 {bad['objective']:.3f}" in lines[0] and f"f1 {good['objective']:.3f}" in lines[1]
    # The registered adapter: the good trial's rate; its lineage carries the objective, the F1 values and the table.
    info = AdapterRegistry(ws).get("f1best")
    assert info.hyperparameters["learning_rate"] == GOOD
    search = info.lineage["search"]
    assert search["objective"] == "f1" and search["qa"] == str(held.resolve()) and search["best_trial"] == 1
    assert search["objective_value"] == good["objective"] and search["objective_ci"] == good["ci"]
    assert search["trials"] == out["trials"]
    assert [(t["metric"], t["objective"]) for t in search["trials"]] == [("f1", bad["objective"]), ("f1", good["objective"])]
    assert [a.name for a in AdapterRegistry(ws).list()] == ["f1best"]  # no scoring record left behind
    # The held-out questions never entered training (the f1 search excludes its --qa file).
    assert str(held.resolve()) == info.hyperparameters["source"]["exclude_qa"]
    # The registered adapter, scored again by the same function: the recorded best F1 exactly (greedy decoding).
    w = Workspace(ws)
    try:
        again = score_adapter(w, load_heldout(held), "ft", "f1best", seed=info.hyperparameters["seed"])
    finally:
        w.close()
    assert again.f1 == good["objective"] and again.ci == good["ci"] and again.failed == 0


@pytest.mark.slow  # two model loads and a resumed search: 244 s at load 5-8 on the shared 2 cores
def test_f1_search_prunes_on_loss_and_resume_keeps_its_objective(tmp_path, tiny_model_dir):
    """The good rate first: in a maximising f1 study the bad rate is still pruned by its higher validation loss.
    A search stopped after its first trial refuses a resume with another objective or another --qa file."""
    from ragft.cli import app
    from ragft.finetune.search import run_search  # noqa: F401 - the library path the CLI takes
    from ragft.workspace import Workspace

    ws = _workspace(tmp_path, tiny_model_dir)
    _short_answers(ws)
    held = _heldout_file(tmp_path / "held.jsonl")
    data = _qa_file(tmp_path / "qa.jsonl")

    def stop(*_a):  # what Ctrl-C after the first finished trial leaves behind
        raise KeyboardInterrupt

    w = Workspace(ws)
    try:
        with pytest.raises(KeyboardInterrupt):
            w.finetune_search("r", data=str(data), trials=2, space=SPACE, objective="f1", qa=str(held),
                              trial_progress=stop)
    finally:
        w.close()
    assert not AdapterRegistry(ws).exists("r") and AdapterRegistry(ws).list() == []
    other = _heldout_file(tmp_path / "other.jsonl")
    for extra, says in ((["--objective", "loss"], "--objective val_loss differs from the interrupted search's (f1)"),
                        (["--qa", str(other)], "differs from the interrupted search's")):
        res = CliRunner().invoke(app, ["finetune", "--name", "r", "--search", "--resume", *extra, "-w", str(ws)])
        assert res.exit_code == 2, res.output
        errors = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(errors) == 1 and says in errors[0], res.stderr
    res = CliRunner().invoke(app, ["finetune", "--name", "r", "--search", "--resume", "-w", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["objective"] == "f1" and out["resumed_trials"] == 1
    first, second = out["trials"]
    assert first["params"] == {"lr": GOOD} and first["state"] == "complete" and first["metric"] == "f1"
    assert second["params"] == {"lr": BAD} and second["state"] == "pruned" and second["objective"] is None
    assert second["steps"] < first["steps"] and second["val_loss"]
    assert out["best"]["trial"] == first["number"] and AdapterRegistry(ws).get("r").lineage["search"]["objective"] == "f1"
