"""scripts/device_e2e.py on the CPU with the tiny test model: trains both adapters a few steps and compares the
four strategies on its 20 held-out questions, through the same `[generator] device`/`dtype` path a GPU run takes.

Marked `slow` (a separate process: model loads, two short trainings, 80 answers; about a minute on 2 cores);
`make test` still runs it. Asserts on mechanics and placement, never on the tiny model's (gibberish) answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_device_e2e_runs_on_cpu_with_auto_settings(tmp_path):
    out = tmp_path / "e2e"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "device_e2e.py"), "--tiny", "--device", "auto",
                           "--dtype", "auto", "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=2400, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert json.loads(proc.stdout) == report
    from ragft.models.precision import native_bf16

    auto_dtype = "bfloat16" if native_bf16() else "float32"  # CPU with bfloat16 units (weights.resolve_placement)
    assert report["placement"]["device"] == "cpu" and report["placement"]["dtype"] == auto_dtype
    assert report["placement"]["generator_device"] == "cpu"
    assert sorted(report["strategies"]) == ["base", "ft", "hybrid", "rag"]
    assert report["questions"] == 20
    for name in ("e2e-ft", "e2e-raft"):
        assert report["adapters"][name]["steps"] >= 1 and report["adapters"][name]["train_loss"]
    for metrics in report["strategies"].values():
        assert 0.0 <= metrics["f1"] <= 1.0 and metrics["latency_ms_p50"] > 0
