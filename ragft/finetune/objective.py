"""What `ragft finetune --search` optimises: the validation loss (default) or held-out answer F1.

`--objective f1 --qa HELD.jsonl` answers every held-out question with each finished trial's adapter through the
path `ragft compare` takes (`ragft.evaluate.runner.answer_and_score`: `Workspace.ask_many`, batched; token F1 per
question, abstention on an unanswerable question counts 1) and returns the mean F1 with compare's 95% paired
bootstrap interval. The loss objective needs no answers. Pruning always uses the validation loss reported during
training: F1 exists only once a trial's adapter is finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragft.errors import ConfigError, DataError

if TYPE_CHECKING:
    from ragft.evaluate.qa import QAItem
    from ragft.evaluate.seams import EvalWorkspace

LOSS, F1 = "val_loss", "f1"
OBJECTIVES: dict[str, str] = {"loss": LOSS, "val_loss": LOSS, "f1": F1}
"""--objective value -> the objective's name in the trial table, the JSON and the lineage."""
DIRECTION = {LOSS: "minimize", F1: "maximize"}
SCORE_BATCH = 8  # questions per batched generation, compare's default (runner.DEFAULT_BATCH_SIZE)


@dataclass(frozen=True)
class HeldoutScore:
    """Mean token F1 of one adapter's answers to the held-out questions, with compare's interval."""

    f1: float
    ci: list[float] | None  # 95% paired bootstrap [low, high]; None with fewer than two scored questions
    questions: int
    failed: int  # generations that raised (counted, left out of the mean, as in compare)


def objective_name(objective: str | None) -> str | None:
    """`--objective` -> the recorded name (val_loss | f1); None stays None (not given). ConfigError if unknown."""
    if objective is None:
        return None
    name = OBJECTIVES.get(objective.strip().lower())
    if name is None:
        raise ConfigError(f"--objective {objective!r} is unknown; choose from loss (the default) or f1")
    return name


def check_objective(objective: str | None, qa: str | Path | None, *, resume: bool) -> str | None:
    """The objective name after checking the flags that go with it (before anything is written): f1 needs --qa,
    --qa needs f1 (on --resume the recorded objective decides), and the --qa file must hold questions."""
    name = objective_name(objective)
    if name == F1 and qa is None and not resume:
        raise ConfigError("--objective f1 needs --qa HELD.jsonl: the held-out questions (with answers) each trial's "
                          "adapter is scored on")
    if qa is not None and name != F1 and not (resume and name is None):
        raise ConfigError("--qa is the held-out file of --objective f1; add --objective f1 or drop --qa "
                          "(the default objective, validation loss, needs no answers)")
    if qa is not None:
        load_heldout(qa)
    return name


def load_heldout(qa: str | Path) -> "list[QAItem]":
    """The held-out questions of `--qa`: one DataError line for a missing, unreadable or empty file."""
    from ragft.evaluate.qa import load_qa

    path = Path(qa)
    if path.is_dir():
        raise DataError(f"--qa {path}: is a folder; give a QA JSONL file")
    try:
        return load_qa(path)
    except DataError as exc:
        raise DataError(f"--qa: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"--qa {path}: unreadable ({type(exc).__name__}: {exc}); give a UTF-8 QA JSONL file") from None


def score_adapter(ws: "EvalWorkspace", items: "list[QAItem]", strategy: str, adapter: str, seed: int,
                  batch_size: int = SCORE_BATCH) -> HeldoutScore:
    """Answer `items` with registered `adapter` (strategy ft or hybrid) as `ragft compare` does and score them.

    Compare's runner end to end: `runner.answer_and_score` (Workspace.ask_many in batches, a failed batch retried
    one question at a time, per-question scores), `runner.summarise` (the mean over answered questions, failures
    counted) and `runner.intervals` (paired bootstrap, seeded)."""
    from ragft.evaluate import runner

    runs = runner.answer_and_score(ws, items, strategy, adapter, checker=runner.make_checker(ws),
                                   batch_size=batch_size, seed=seed)
    records = [runner.QuestionRecord(i.id, i.question, i.answer, i.doc_id) for i in items]
    for record, run in zip(records, runs):
        record.results[strategy] = run
    prices = ws.settings.prices
    summary = runner.summarise(strategy, records, remote=ws.settings.generator.kind == "openai",
                               hour_usd=prices.cpu_hour_usd, prices=prices, adapter=adapter, train_seconds=None)
    if summary.f1 is None:
        first = next((r.error for r in runs if r.error), "no answer")
        raise DataError(f"--objective f1: no held-out question could be answered with adapter {adapter!r} "
                        f"({first})")
    series = runner.per_question(records, strategy, None, None)
    ci = runner.intervals({strategy: series}, seed).get(strategy, {}).get("f1")
    return HeldoutScore(f1=round(summary.f1, 5), ci=ci, questions=len(items), failed=summary.n_failed)


def strategy_for(kind: str) -> str:
    """ft for a closed-book adapter, hybrid for a RAFT one (--raft), as compare pairs them."""
    return "hybrid" if kind == "raft" else "ft"


def describe(name: str, value: float | None, ci: Any = None) -> str:
    """`val_loss 0.4321` or `f1 0.125 [0.05, 0.2]` for progress lines."""
    if value is None:
        return f"no {name}"
    text = f"{name} {value:.4f}" if name == LOSS else f"{name} {value:.3f}"
    return text + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")


__all__ = ["DIRECTION", "F1", "LOSS", "OBJECTIVES", "HeldoutScore", "check_objective", "describe", "load_heldout",
           "objective_name", "score_adapter", "strategy_for"]
