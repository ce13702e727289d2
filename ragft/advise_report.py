"""Measurements `ragft advise` reads: a `ragft compare --report DIR` run (per-strategy metrics and the statistical
decision, validated, with a ConfigError (exit 2) naming the fix) and the training throughput recorded by this
workspace's `ragft finetune` runs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable
from typing import Any

from ragft.costs import STRATEGIES, MeasuredCost
from ragft.errors import ConfigError

METRICS = ("exact_match", "f1", "faithfulness", "citation_accuracy", "abstention_rate",
           "latency_ms_p50", "latency_ms_p95", "cost_per_1k", "answer_correctness")
UNIT_METRICS = frozenset({"exact_match", "f1", "faithfulness", "citation_accuracy", "abstention_rate", "answer_correctness"})
DECISION_KEYS = ("recommended", "runner_up", "metric", "significant", "p_value", "n_questions", "n_needed", "reason")


@dataclass(frozen=True)
class Report:
    """The parts of a `ragft compare` results.json that advise uses: per-strategy metrics (None = not measured)."""

    path: Path
    strategies: dict[str, dict[str, float | None]]
    recommendation: str | None = None
    ignored: tuple[str, ...] = ()
    decision: dict[str, Any] | None = None  # compare's `decision` (reports written before it have none)
    tests: tuple[dict[str, Any], ...] = ()  # compare's `significance.tests`: the best against each other strategy
    best: str | None = None  # the strategy with the highest measured decision metric

    def significantly_worse(self) -> dict[str, dict[str, Any]]:
        """Strategies the paired tests found significantly worse than the best, with their test."""
        return {str(t["other"]).split(":", 1)[0]: t for t in self.tests if t.get("significant")}

    def metric(self, name: str) -> dict[str, float]:
        return {s: m[name] for s, m in self.strategies.items() if m.get(name) is not None}  # type: ignore[misc]

    def measured_costs(self) -> dict[str, MeasuredCost]:
        return {s: MeasuredCost(m.get("cost_per_1k"), m.get("latency_ms_p95")) for s, m in self.strategies.items()}


def load_report(folder: str | Path) -> Report:
    """Read `folder/results.json` from `ragft compare --report DIR`; ConfigError (exit 2) if missing or malformed.

    Strategy keys may carry an adapter (`ft:support-ft`); the best-F1 entry per strategy is kept. Keys that name
    no known strategy are listed in `ignored`.
    """
    folder = Path(folder)
    path = folder if folder.is_file() else folder / "results.json"
    fix = "run `ragft compare --qa FILE.jsonl --report DIR` first and pass that DIR"
    if not path.is_file():
        raise ConfigError(f"--from-report: {path} not found; {fix}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--from-report: {path} is not valid JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("strategies"), dict) or not data["strategies"]:
        raise ConfigError(f"--from-report: {path} has no \"strategies\" object {{name: metrics}}; {fix}")
    problems: list[str] = []
    kept: dict[str, dict[str, float | None]] = {}
    ignored: list[str] = []
    for key, metrics in data["strategies"].items():
        strategy = str(key).split(":", 1)[0]
        if strategy not in STRATEGIES:
            ignored.append(str(key))
            continue
        if not isinstance(metrics, dict):
            problems.append(f"strategies.{key} is not an object")
            continue
        row: dict[str, float | None] = {}
        for name in METRICS:
            value = metrics.get(name)
            if value is None:
                row[name] = None
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                problems.append(f"strategies.{key}.{name} = {value!r} is not a non-negative number")
            elif name in UNIT_METRICS and value > 1:
                problems.append(f"strategies.{key}.{name} = {value!r} is outside 0..1")
            else:
                row[name] = float(value)
        previous = kept.get(strategy)
        if previous is None or (row.get("f1") or 0) > (previous.get("f1") or 0):
            kept[strategy] = row
    if problems:
        raise ConfigError(f"--from-report: {path}: " + "; ".join(problems))
    if not kept:
        raise ConfigError(f"--from-report: {path} names no known strategy (got {', '.join(ignored)}); "
                          f"allowed: {', '.join(STRATEGIES)}")
    rec = data.get("recommendation")
    decision, tests, best = _decision(data, path, fix)
    return Report(path, kept, rec if isinstance(rec, str) else None, tuple(ignored), decision, tests, best)


def _decision(data: dict[str, Any], path: Path, fix: str) -> tuple[dict[str, Any] | None, tuple[dict[str, Any], ...], str | None]:
    """compare's `decision` and `significance.tests`, checked; (None, (), None) for reports that predate them."""
    decision = data.get("decision")
    if decision is None:
        return None, (), None
    if not isinstance(decision, dict) or any(k not in decision for k in DECISION_KEYS):
        raise ConfigError(f"--from-report: {path}: \"decision\" must be an object with {', '.join(DECISION_KEYS)}; {fix}")
    sig = data.get("significance") if isinstance(data.get("significance"), dict) else {}
    tests = tuple(t for t in sig.get("tests", []) if isinstance(t, dict) and "other" in t)
    best = sig.get("best") if isinstance(sig.get("best"), str) else None
    return decision, tests, best


# ---------------------------------------------------------------------------- training throughput (ragft finetune)
@dataclass(frozen=True)
class MeasuredTraining:
    """Training throughput measured by `ragft finetune` runs of this workspace (adapter registry metrics)."""

    tokens_per_s: float
    source: str


def measured_training(adapters: Iterable[Any]) -> MeasuredTraining | None:
    """Median `tokens_per_s` recorded by this workspace's `ragft finetune` runs (AdapterInfo.metrics), if any."""
    rates = sorted((float(a.metrics["tokens_per_s"]), a.name) for a in adapters
                   if isinstance(getattr(a, "metrics", None), dict)
                   and isinstance(a.metrics.get("tokens_per_s"), (int, float)) and a.metrics["tokens_per_s"] > 0)
    if not rates:
        return None
    rate, _ = rates[len(rates) // 2]
    names = ", ".join(name for _, name in rates)
    return MeasuredTraining(rate, f"measured {rate:g} tokens/s, median of adapter run(s) {names}")
