"""Multi-process LoRA training: `accelerate launch --multi_gpu --num_processes 2` on CPU (gloo DDP) through the
real `ragft.finetune.train` entry point on the tiny model.

What must hold when two processes train one adapter: they form one DDP group (world_size 2) and each takes its
shard of every epoch (about half the optimiser steps of one process), the adapter really trained, and every write
happens once: one registry record, one adapter folder, one audit entry, one JSON report on stdout, checkpoints
complete (each rank's RNG state inside, no stray staging folder) and resumable with two processes.
Marked `slow` (two process launches of ~10-20 s each on 2 cores); `make test` still runs it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragft.config import Settings, save_settings
from ragft.finetune.registry import AdapterRegistry

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ROWS = 20
BATCH = 2
EPOCHS = 1
LAUNCH_TIMEOUT_S = 240  # generous: the machine is shared; a hang (e.g. a rank stuck at a barrier) fails, not blocks


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launcher() -> list[str]:
    script = Path(sys.executable).with_name("accelerate")
    return [str(script), "launch"] if script.is_file() else [sys.executable, "-m", "accelerate.commands.launch"]


def _launch_cmd(ws_dir: Path, data: Path, name: str, *extra: str) -> list[str]:
    return [*_launcher(), "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port()),
            "-m", "ragft.finetune.train", "-w", str(ws_dir), "--name", name, "--data", str(data), "--json", *extra]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}}
    # CPU gloo on every machine (a GPU box would otherwise want 2 GPUs), one thread per process, no hub.
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="",
               TOKENIZERS_PARALLELISM="false")
    return env


def _workspace(tmp_path: Path, model_dir: Path, **train) -> tuple[Path, Path]:
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    s = Settings()
    s.generator.model = str(model_dir)
    s.train.batch_size, s.train.epochs, s.train.val_fraction = BATCH, EPOCHS, 0.2
    for k, v in train.items():
        setattr(s.train, k, v)
    save_settings(ws_dir, s)
    rows = [{"question": f"What colour is widget {i}?", "answer": f"Widget {i} is {['red', 'blue', 'green'][i % 3]}."}
            for i in range(ROWS)]
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return ws_dir, data


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=_env(), cwd=str(ROOT), capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher and its ranks (torch elastic starts each rank in its own session, so killing the
    launcher's process group would leave them running)."""
    import psutil

    try:
        procs = [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]
    except psutil.NoSuchProcess:
        procs = []
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)
    proc.wait()


def _lora_tensors(model) -> dict[str, "object"]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


def test_two_cpu_processes_train_one_adapter_once(tmp_path, tiny_model_dir):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, set_seed

    ws_dir, data = _workspace(tmp_path, tiny_model_dir, save_steps=2)  # checkpoints under DDP too
    proc = _run(_launch_cmd(ws_dir, data, "ddp"))
    assert proc.returncode == 0, proc.stderr[-8000:]  # a rank that died on a signal printed its threads (faulthandler)

    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout  # rank 1 does not print a second report
    out = json.loads(lines[0])
    assert out["world_size"] == 2
    n_train = out["examples"]
    assert n_train + out["val_examples"] == ROWS and n_train >= 4
    # Each process gets ceil(n/2) rows per epoch (the sampler pads the shorter shard), in batches of BATCH.
    per_process = math.ceil(math.ceil(n_train / 2) / BATCH) * EPOCHS
    one_process = math.ceil(n_train / BATCH) * EPOCHS
    assert out["steps"] == per_process == len(out["train_loss"])
    assert per_process < one_process
    assert out["tokens_per_s"] > 0 and out["val_loss"]

    # Exactly one of everything the run writes.
    reg = AdapterRegistry(ws_dir)
    assert reg.names() == ["ddp"] and reg.get("ddp").metrics["world_size"] == 2
    assert json.loads(reg.file.read_text())["adapters"].keys() == {"ddp"}
    adapters = ws_dir / "adapters"
    assert {p.name for p in adapters.iterdir() if p.is_dir()} - {".runs"} == {"ddp"}
    assert not (adapters / ".runs").exists() or not any((adapters / ".runs").iterdir())
    stray = [p for p in ws_dir.rglob("*") if ".staging" in p.parts or p.name.endswith((".tmp", ".old"))
             or p.name.startswith("checkpoint-")]
    assert stray == []
    audit_lines = [json.loads(ln) for ln in (ws_dir / "audit.jsonl").read_text().splitlines() if ln.strip()]
    assert [r["event"] for r in audit_lines].count("finetune") == 1  # not one per rank
    from ragft.governance.audit import AuditLog

    assert AuditLog(ws_dir).verify().ok

    # The adapter loads in plain peft and is not the initial LoRA: it trained.
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    trained = _lora_tensors(PeftModel.from_pretrained(base, out["path"]))
    set_seed(0)  # train_lora seeds the LoRA init with TrainArgs.seed (0) the same way
    fresh = _lora_tensors(get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), LoraConfig(
        task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])))
    assert trained and trained.keys() == fresh.keys()
    b_keys = [k for k in fresh if "lora_B" in k]
    assert b_keys and all(float(fresh[k].abs().sum()) == 0.0 for k in b_keys)  # LoRA starts with B = 0
    assert any(float(trained[k].abs().sum()) > 0 for k in b_keys)
    assert any(not torch.equal(fresh[k], trained[k]) for k in fresh if "lora_A" in k)

def test_two_process_checkpoints_hold_every_rank_and_resume(tmp_path, tiny_model_dir):
    """SIGKILL the launch after its first checkpoint: the checkpoint is complete (weights, optimiser, both ranks'
    RNG state, no staging leftovers); `--resume` with two processes ends at the uninterrupted step count."""
    ws_dir, data = _workspace(tmp_path, tiny_model_dir, save_steps=1, val_fraction=0.0, epochs=2)
    expected = math.ceil(math.ceil(ROWS / 2) / BATCH) * 2  # 10 per process
    proc = subprocess.Popen(_launch_cmd(ws_dir, data, "r"), env=_env(), cwd=str(ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ckpts = ws_dir / "adapters" / ".runs" / "r" / "checkpoints"
    deadline = time.time() + LAUNCH_TIMEOUT_S
    try:
        while time.time() < deadline and proc.poll() is None and not list(ckpts.glob("checkpoint-*")):
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()[-3000:]
    finally:
        _kill_tree(proc)
    assert not AdapterRegistry(ws_dir).exists("r")
    done = sorted(int(p.name.split("-")[1]) for p in ckpts.glob("checkpoint-*"))
    assert done and done[-1] < expected
    first = ckpts / f"checkpoint-{done[0]}"
    files = {p.name for p in first.iterdir()}
    assert {"adapter_model.safetensors", "optimizer.pt", "trainer_state.json",
            "rng_state_0.pth", "rng_state_1.pth"} <= files, files

    resumed = _run(_launch_cmd(ws_dir, data, "r", "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-8000:]
    out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert out["world_size"] == 2 and out["resumed_from_step"] >= done[0]
    assert out["steps"] == expected
    assert AdapterRegistry(ws_dir).names() == ["r"]
    assert not (ws_dir / "adapters" / ".runs" / "r").exists()


def test_bad_rows_fail_fast_on_every_rank_with_one_line(tmp_path, tiny_model_dir):
    """Rank 0 rejects the data before the barrier; the launcher stops rank 1 (no hang until a gloo timeout)."""
    ws_dir, _ = _workspace(tmp_path, tiny_model_dir)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n{"nope": 1}\n', encoding="utf-8")
    t0 = time.time()
    proc = _run(_launch_cmd(ws_dir, bad, "x"))
    assert proc.returncode != 0 and proc.stdout.strip() == ""
    assert time.time() - t0 < 120
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("[rank 0] error: ")]
    assert len(errors) == 1 and "line 1" in errors[0]
    assert "ragft.errors." not in proc.stderr  # a one-line message, not a Python traceback
    assert not AdapterRegistry(ws_dir).exists("x") and not (ws_dir / "adapters" / "x").exists()


def test_a_run_leaves_its_process_group_before_exiting():
    """`launch.run` destroys the process group it formed (gloo left to interpreter finalisation can abort a rank,
    pytorch/pytorch#190489); with no group it does nothing."""
    import torch.distributed as dist

    from ragft.finetune.launch import leave_process_group

    leave_process_group()  # no group: a no-op
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        leave_process_group()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.parametrize("world_size", ["1", "2"])
def test_a_launched_rank_leaves_without_finalisation_and_loses_no_output(world_size):
    """`exit_launched`: a rank of a multi-process run flushes what it wrote and leaves with its code, skipping
    interpreter finalisation (the likely place where a rank aborted under load); a plain run exits normally."""
    script = ("import atexit, sys\n"
              "from ragft.finetune.launch import exit_launched\n"
              "atexit.register(lambda: print('finalised', flush=True))\n"
              "sys.stdout.write('report')\n"  # buffered, no newline: lost unless flushed before leaving
              "sys.stderr.write('note')\n"
              "exit_launched(3)\n")
    env = {**_env(), "WORLD_SIZE": world_size, "RANK": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=str(ROOT), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 3 and proc.stderr == "note", proc.stderr
    assert proc.stdout == ("report" if world_size == "2" else "reportfinalised\n")
