"""`python -m ragft.finetune.train`: fine-tune from the command line through the same `Workspace.finetune` path the
CLI uses, so `accelerate launch -m ragft.finetune.train ...` trains on several processes (STYLE.md §8: `main(config)`
apart from `make_parser()`). An entry point, like the CLI: it may build a Workspace; training code may not.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import os
import sys
from collections.abc import Sequence

from ragft.config import TRAIN_OVERRIDE_KEYS
from ragft.finetune import train
from ragft.finetune.train import ProcessGroup

log = logging.getLogger("ragft.finetune.train")  # the training log, whichever module writes to it


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ragft.finetune.train", description=(train.__doc__ or "").split("\n\n")[0])
    p.add_argument("-w", "--workspace", default=None, help="Workspace folder (default $RAGFT_WORKSPACE).")
    p.add_argument("--name", required=True, help="Adapter name.")
    p.add_argument("--data", default=None, help="Training file (QA JSONL, chat messages JSONL, or CSV).")
    p.add_argument("--from-docs", action="store_true", help="Synthesise QA pairs from the workspace's chunks.")
    p.add_argument("--raft", action="store_true", help="Build RAFT (retrieval-aware) examples.")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--resume", action="store_true", help="Continue the last run of --name from its checkpoint.")
    p.add_argument("--exclude-qa", default=None, help="QA file whose questions never enter training.")
    for flag, typ in (("lora-r", int), ("lora-alpha", int), ("lora-dropout", float), ("learning-rate", float),
                      ("batch-size", int), ("grad-accum", int), ("max-length", int), ("seed", int), ("save-steps", int)):
        p.add_argument(f"--{flag}", type=typ, default=None)
    p.add_argument("--target-modules", default=None, help="Comma-separated module names LoRA adapts.")
    p.add_argument("--json", action="store_true", help="Print the TrainReport as JSON.")
    return p


def main(config: argparse.Namespace) -> int:
    """Train from parsed arguments through the same Workspace path the CLI uses (so accelerate runs it too)."""
    from ragft.workspace import Workspace

    overrides = {k: getattr(config, k) for k in TRAIN_OVERRIDE_KEYS if k != "target_modules"}
    if config.target_modules:
        overrides["target_modules"] = [m.strip() for m in config.target_modules.split(",") if m.strip()]
    log.info("training %s with %s", config.name, json.dumps({k: v for k, v in overrides.items() if v is not None}))
    with Workspace(config.workspace) as ws:  # its store closed before the process leaves (`exit_launched`)
        report = ws.finetune(config.name, data=config.data, from_docs=config.from_docs, raft=config.raft,
                             epochs=config.epochs, resume=config.resume, exclude_qa=config.exclude_qa,
                             overrides=overrides)
    if not ProcessGroup.from_env().is_main:
        return 0  # under accelerate/torchrun only the main process reports
    if config.json:
        print(json.dumps(report.to_dict()))
    else:
        print(f"{report.adapter}: {report.steps} steps, final train loss "
              f"{report.train_loss[-1] if report.train_loss else 'n/a'}, {report.tokens_per_s} tokens/s -> {report.path}")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """`main` with the CLI's error contract: a RagftError is one stderr line (prefixed with the rank under a
    launcher, since every process reports it) and its exit code, not a traceback."""
    from ragft.errors import RagftError

    if ProcessGroup.from_env().world_size > 1:
        # A rank that dies on a signal (SIGABRT, SIGSEGV) prints every thread's Python stack before it goes:
        # the launcher's summary alone says only that it died.
        faulthandler.enable()
    try:
        return main(make_parser().parse_args(argv))
    except RagftError as exc:
        group = ProcessGroup.from_env()
        prefix = f"[rank {group.rank}] " if group.world_size > 1 else ""
        print(f"{prefix}error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        leave_process_group()


def leave_process_group() -> None:
    """Destroy the process group (gloo on CPU, NCCL on GPUs) before the interpreter exits. Left to interpreter
    finalisation, gloo's worker threads can still hold work with Python references and abort the process
    (SIGABRT, "terminate called without an active exception"; pytorch/pytorch#190489), the likely cause of a
    two-process CPU run whose rank 1 aborted that way once in CI. No-op when no group was formed."""
    dist = sys.modules.get("torch.distributed")  # never imports torch for a run that did not
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_launched(code: int) -> None:
    """Leave the process with `code`. A rank of a multi-process run leaves at once (`os._exit`) once its output is
    flushed, skipping interpreter finalisation: by then every write is done (each is atomic or committed, the
    workspace is closed and the process group destroyed). Finalisation is the likely place where a rank of the
    two-process CPU test aborted, twice, under load (SIGABRT, "terminate called without an active exception", once
    after 9226eda): that message comes from a C++ thread object destroyed unjoined or a thread unwound through C++
    code, and in finalisation the daemon threads that hold torch state (the compute thread that ran DDP, libgomp's
    team) are stopped while destructors run. Nothing the run needs happens there. Not reproduced on demand (45
    runs under CPU load passed); `faulthandler` (`run`) shows the stacks if it happens elsewhere. A plain run
    exits normally."""
    if ProcessGroup.from_env().world_size <= 1:
        raise SystemExit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    os._exit(code)
