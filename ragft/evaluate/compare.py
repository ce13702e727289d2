"""`ragft compare`: the same held-out questions through every strategy, scored side by side, then decided.

The work lives in four modules; this one keeps the public names importable from one place:
- `ragft.evaluate.qa`: QA files (load, `source` resolution, seeded selection) and the held-out set built
  without --qa, about 20% of it unanswerable (`heldout_set`, `make_unanswerable`);
- `ragft.evaluate.runner`: the runner (`run_compare`), per-question scoring, summaries, intervals, decision;
- `ragft.evaluate.stats`: paired bootstrap intervals, exact McNemar, permutation test, questions needed;
- `ragft.evaluate.freshness`: the `--freshness` probe.
"""

from __future__ import annotations

import math

from ragft.evaluate.freshness import freshness_probe, replace_text
from ragft.evaluate.qa import (
    HELDOUT_FILE,
    QUESTIONS_FILE,
    UNANSWERABLE_SHARE,
    QAItem,
    answerable_heldout,
    heldout_questions,
    heldout_set,
    load_qa,
    make_unanswerable,
    resolve_sources,
    select,
    synthesise_heldout,
    write_heldout,
)
from ragft.evaluate.runner import (
    ADAPTER_KIND,
    COST_ORDER,
    RETRIEVAL_STRATEGIES,
    SCORE_KEYS,
    STRATEGIES,
    Comparison,
    Progress,
    QuestionRecord,
    StrategyRun,
    StrategySummary,
    make_checker,
    resolve_adapter,
    run_compare,
    score_answer,
    summarise,
)
from ragft.evaluate.stats import Decision, decide

F1_TIE = 0.01  # the pre-statistics rule of `recommend`: F1 gap below which two strategies count as tied


def recommend(summaries: dict[str, StrategySummary]) -> str | None:
    """The rule for callers that only have summaries (no per-question results): best mean F1; strategies within
    F1_TIE of the best are tied and the cheapest per 1k questions wins (then base < rag < ft < hybrid).
    `run_compare` decides with the paired tests instead (`ragft.evaluate.stats.decide`)."""
    scored = {k: v for k, v in summaries.items() if v.f1 is not None}
    if not scored:
        return None
    best = max(v.f1 for v in scored.values())  # type: ignore[type-var]
    tied = [k for k, v in scored.items() if best - v.f1 <= F1_TIE]  # type: ignore[operator]
    return min(tied, key=lambda k: (scored[k].cost_per_1k if scored[k].cost_per_1k is not None else math.inf, COST_ORDER.get(k, 9)))


__all__ = [
    "ADAPTER_KIND", "COST_ORDER", "F1_TIE", "HELDOUT_FILE", "QUESTIONS_FILE", "RETRIEVAL_STRATEGIES", "SCORE_KEYS",
    "STRATEGIES", "UNANSWERABLE_SHARE", "Comparison", "Decision", "Progress", "QAItem", "QuestionRecord",
    "StrategyRun", "StrategySummary", "answerable_heldout", "decide", "freshness_probe", "heldout_questions",
    "heldout_set", "load_qa", "make_checker", "make_unanswerable", "recommend", "replace_text", "resolve_adapter",
    "resolve_sources", "run_compare", "score_answer", "select", "summarise", "synthesise_heldout", "write_heldout",
]
