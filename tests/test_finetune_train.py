"""Real LoRA training (peft + transformers Trainer) on a tiny random Llama with the SmolLM2 tokenizer, and one
short run on the real SmolLM2. Asserts mechanics: loss goes down on a fixed batch, the saved PEFT adapter
reloads to identical outputs, a SIGKILLed run resumes to the same step count, lineage and CLI JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragft.config import Settings, save_settings
from ragft.finetune.data import QAPair, qa_to_example
from ragft.finetune.registry import AdapterRegistry
from ragft.finetune.train import IGNORE_INDEX, TrainArgs, steps_per_run, tokenize_example

ROOT = Path(__file__).resolve().parents[1]


def _settings(model_dir, **train) -> Settings:
    s = Settings()
    s.generator.model = str(model_dir)
    s.train.batch_size = 4
    s.train.epochs = 2
    s.train.save_steps = 100
    s.train.val_fraction = 0.2
    for k, v in train.items():
        setattr(s.train, k, v)
    return s


def _qa_file(path: Path, n: int) -> Path:
    rows = [{"question": f"What colour is widget {i}?", "answer": f"Widget {i} is {['red', 'blue', 'green'][i % 3]}."}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _batch_loss(model, tokenizer, examples) -> float:
    import torch

    from ragft.finetune.train import _Collator

    rows = [tokenize_example(tokenizer, ex, 256) for ex in examples]
    batch = _Collator(tokenizer.pad_token_id)(rows)
    model.eval()
    with torch.no_grad():
        return float(model(**batch).loss)


def test_tokenisation_matches_the_generator_prompt_and_masks_the_prompt(tiny_generator):
    tok = tiny_generator.tokenizer
    ex = qa_to_example(QAPair("What colour is widget 1?", "Blue."))
    row = tokenize_example(tok, ex, 256)
    prompt_ids = tiny_generator.prompt_ids(list(ex.prompt))
    assert row["input_ids"][: len(prompt_ids)] == prompt_ids  # exactly the answer-time prompt
    assert row["labels"][: len(prompt_ids)] == [IGNORE_INDEX] * len(prompt_ids)
    target = tok.decode(row["input_ids"][len(prompt_ids):])
    assert target.startswith("Blue.") and tok.eos_token in target  # answer + end of turn, nothing else
    assert tokenize_example(tok, ex, 8) is None  # too long: reported by the caller, never silently cut


def test_training_lowers_loss_saves_peft_adapter_and_reloads_identically(tmp_path, tiny_model_dir, hash_embedder):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ragft.models.weights import load_causal_lm
    from ragft.workspace import Workspace

    captured = {}

    def load(spec):
        captured["model"], captured["tok"] = load_causal_lm(spec)
        return captured["model"], captured["tok"]

    data = _qa_file(tmp_path / "qa.jsonl", 10)
    ws = Workspace(tmp_path / "ws", settings=_settings(tiny_model_dir, learning_rate=1e-2, epochs=3), embedder=hash_embedder)
    fixed = [qa_to_example(QAPair(f"What colour is widget {i}?", f"Widget {i} is {['red', 'blue', 'green'][i % 3]}."))
             for i in range(4)]
    base_model, tok = load_causal_lm(str(tiny_model_dir))
    before = _batch_loss(base_model, tok, fixed)

    from ragft.finetune.pipeline import run_finetune

    seen = []
    report = run_finetune(ws.finetune_parts(), "widgets", data=str(data), load_model=load, progress=lambda *a: seen.append(a))
    assert report.steps == steps_per_run(8, TrainArgs(batch_size=4, epochs=3)) == 6
    assert len(report.train_loss) == 6 and len(report.val_loss) == 3 and report.tokens_per_s > 0
    assert [s[0] for s in seen] == list(range(1, 7)) and seen[-1][1] == 6
    after = _batch_loss(captured["model"], tok, fixed)
    assert after < before - 0.5, (before, after)

    adapter = Path(report.path)
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "adapter_config.json").is_file()
    assert not (tmp_path / "ws" / "adapters" / ".runs" / "widgets").exists()  # run data removed after success
    # Plain transformers + peft load the adapter and give identical logits to the trained model.
    fresh = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    reloaded = PeftModel.from_pretrained(fresh, str(adapter)).eval()
    ids = torch.tensor([tokenize_example(tok, fixed[0], 256)["input_ids"]])
    trained = captured["model"].eval()
    with torch.no_grad():
        assert torch.allclose(trained(ids).logits, reloaded(ids).logits, atol=1e-5)
        with reloaded.disable_adapter():
            assert not torch.allclose(reloaded(ids).logits, trained(ids).logits, atol=1e-3)  # the adapter matters

    info = AdapterRegistry(ws.path).get("widgets")
    assert info.kind == "ft" and info.base_model == str(tiny_model_dir)
    assert info.hyperparameters["lora_r"] == 8 and info.hyperparameters["learning_rate"] == 1e-2
    assert info.metrics["final_train_loss"] == report.train_loss[-1]
    assert info.lineage["dataset_sha256"] == report.lineage["dataset_sha256"] and len(info.lineage["dataset_sha256"]) == 64


def test_lineage_records_documents_containing_the_answers(tmp_path, tiny_model_dir, hash_embedder):
    from ragft.workspace import Workspace

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The Zorblax engine was invented by Mira Quell in 1931.", encoding="utf-8")
    (docs / "b.txt").write_text("Lake Vintra is the deepest lake of the Ostland plateau.", encoding="utf-8")
    ws = Workspace(tmp_path / "ws", settings=_settings(tiny_model_dir, epochs=1), embedder=hash_embedder)
    ws.ingest([docs])
    ids = {d.source.split("/")[-1]: d.doc_id for d in ws.store.list_documents()}
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"question": "Who invented the Zorblax engine?", "answer": "Mira Quell"}) + "\n"
                    + json.dumps({"question": "Is Lake Vintra deep?", "answer": "yes"}) + "\n", encoding="utf-8")
    report = ws.finetune("lin", data=data)
    assert report.lineage["documents"] == [ids["a.txt"]] and report.lineage["documents_method"] == "answer-match"
    assert AdapterRegistry(ws.path).mark_tainted([ids["a.txt"]]) == ["lin"]
    # Retrain: same settings, erased/tainting documents excluded, taint cleared.
    ws.delete(ids["a.txt"])
    again = ws.finetune("lin", retrain=True)
    info = AdapterRegistry(ws.path).get("lin")
    assert not info.tainted and info.lineage["documents"] == [] and again.examples + again.val_examples == 1


def test_bad_rows_fail_before_any_model_load(tmp_path, hash_embedder):
    from ragft.errors import DataError
    from ragft.workspace import Workspace

    data = tmp_path / "bad.jsonl"
    data.write_text('{"question": "ok?", "answer": "a"}\n{"question": 3}\n', encoding="utf-8")
    ws = Workspace(tmp_path / "ws", settings=_settings("nonexistent-model"), embedder=hash_embedder)
    with pytest.raises(DataError, match=r"line 2: missing 'answer'"):
        ws.finetune("bad", data=data)


def _training_with_a_checkpoint(tmp_path: Path, model_dir: Path, command: list[str], epochs: int):  # type: ignore[no-untyped-def]
    """A workspace, `python -m <command> ... --name r` training 12 rows in a subprocess, returned once its first
    checkpoint exists (with the workspace, the checkpoint folder and the run's full step count)."""
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    save_settings(ws_dir, _settings(model_dir, batch_size=2, epochs=epochs, save_steps=2, val_fraction=0.0))
    data = _qa_file(tmp_path / "qa.jsonl", 12)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", *command, "-w", str(ws_dir), "--name", "r", "--data", str(data)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT))
    ckpts = ws_dir / "adapters" / ".runs" / "r" / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not list(ckpts.glob("checkpoint-*")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    return proc, ws_dir, ckpts, steps_per_run(12, TrainArgs(batch_size=2, epochs=epochs))


def _checkpoints(ckpts: Path) -> list[int]:
    return [int(p.name.split("-")[1]) for p in ckpts.glob("checkpoint-*")]


def test_resume_after_sigkill_finishes_with_the_same_step_count(tmp_path, tiny_model_dir):
    from ragft.workspace import Workspace

    proc, ws_dir, ckpts, expected = _training_with_a_checkpoint(tmp_path, tiny_model_dir,
                                                                ["ragft.finetune.train", "--json"], epochs=2)
    assert expected == 12
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not AdapterRegistry(ws_dir).exists("r")  # killed before the end: nothing registered
    done = _checkpoints(ckpts)
    assert done and max(done) < expected

    report = Workspace(ws_dir).finetune("r", resume=True)
    assert report.resumed_from_step == max(done) >= 2
    assert report.steps == expected and len(report.train_loss) == expected
    assert AdapterRegistry(ws_dir).get("r").metrics["steps"] == expected


def test_ctrl_c_stops_training_on_the_compute_thread_and_resume_finishes(tmp_path, tiny_model_dir):
    """A real SIGINT to `ragft finetune` while the model trains on the compute thread (models/compute.py): the
    main thread, waiting for it, asks the training to stop at its next step and exits 130 once it has; the run
    resumes to the full step count."""
    from ragft.workspace import Workspace

    proc, ws_dir, ckpts, expected = _training_with_a_checkpoint(tmp_path, tiny_model_dir,
                                                                ["ragft.cli", "finetune"], epochs=4)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    stderr = err.decode()
    assert proc.returncode == 130, stderr[-2000:]
    assert "error: interrupted" in stderr and "Fatal Python error" not in stderr
    assert not AdapterRegistry(ws_dir).exists("r")
    done = _checkpoints(ckpts)
    assert done and max(done) < expected
    report = Workspace(ws_dir).finetune("r", resume=True)
    assert report.resumed_from_step == max(done) and report.steps == expected


def test_cli_finetune_json_and_adapters_list(tmp_path, tiny_model_dir):
    from typer.testing import CliRunner

    from ragft.cli import app

    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    save_settings(ws_dir, _settings(tiny_model_dir, epochs=1))
    data = _qa_file(tmp_path / "qa.jsonl", 6)
    runner = CliRunner()
    res = runner.invoke(app, ["finetune", "-w", str(ws_dir), "--name", "c1", "--data", str(data), "--lora-r", "4", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"adapter", "path", "steps", "train_loss", "val_loss", "tokens_per_s", "lineage"} <= out.keys()
    assert out["adapter"] == "c1" and set(out["lineage"]) >= {"documents", "dataset_sha256"}
    listed = json.loads(runner.invoke(app, ["adapters", "list", "-w", str(ws_dir), "--json"]).stdout)
    assert listed["adapters"][0]["name"] == "c1" and listed["adapters"][0]["hyperparameters"]["lora_r"] == 4
    again = runner.invoke(app, ["finetune", "-w", str(ws_dir), "--name", "c1", "--data", str(data)])
    assert again.exit_code == 2 and "already exists" in again.stderr
    bad = runner.invoke(app, ["finetune", "-w", str(ws_dir), "--name", "c2"])
    assert bad.exit_code == 2 and "--data" in bad.stderr


@pytest.mark.real_model
def test_real_smollm2_short_run(tmp_path, hash_embedder):
    """2 optimiser steps of LoRA on the real SmolLM2-135M (float cache): finite, decreasing-ish loss, PEFT files."""
    from ragft.workspace import Workspace

    s = Settings()
    s.train.batch_size = 4
    s.train.epochs = 1
    s.train.val_fraction = 0.0
    s.train.learning_rate = 1e-3
    data = _qa_file(tmp_path / "qa.jsonl", 8)
    ws = Workspace(tmp_path / "ws", settings=s, embedder=hash_embedder)
    report = ws.finetune("real", data=data)
    assert report.steps == 2 and all(0 < x < 20 for x in report.train_loss)
    assert (Path(report.path) / "adapter_model.safetensors").stat().st_size > 100_000


def test_raft_adapter_end_to_end(tmp_path, tiny_model_dir, hash_embedder):
    """--raft from a QA file: examples use the workspace chunks as oracles, kind "raft", lineage has the
    oracle and distractor documents; rows with no oracle are reported in the notes, not silently lost."""
    from ragft.workspace import Workspace

    docs = tmp_path / "docs"
    docs.mkdir()
    facts = [("Zorblax", "Mira Quell"), ("Vintra", "Ostland"), ("Quorp", "Tavi Renn"), ("Plimsy", "Harlan Dree")]
    for thing, who in facts:
        (docs / f"{thing}.txt").write_text(f"The {thing} device was built by {who} in the northern workshop.", encoding="utf-8")
    ws = Workspace(tmp_path / "ws", settings=_settings(tiny_model_dir, epochs=1, raft_distractors=2, val_fraction=0.0),
                   embedder=hash_embedder)
    ws.ingest([docs])
    data = tmp_path / "qa.jsonl"
    rows = [{"question": f"Who built the {t} device?", "answer": w} for t, w in facts] + [{"question": "Is it old?", "answer": "yes"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = ws.finetune("hyb", data=data, raft=True)
    assert report.kind == "raft" and report.examples == 4
    assert any("line 5" in n for n in report.notes)
    assert len(report.lineage["documents"]) == 4  # oracles + distractors all come from the 4 documents
    assert AdapterRegistry(ws.path).get("hyb").kind == "raft"
