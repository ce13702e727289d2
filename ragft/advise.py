"""`ragft advise`: recommend base, rag, ft or hybrid from the situation, with reasons, costs and break-even points.

How a recommendation is made (docs/advise.md explains every rule and weight with its source):

1. `AdviceInputs` describe the situation (update frequency, corpus size, traffic, precision, budget, compliance,
   latency target, hardware, need for citations, need for a domain style).
2. `ragft.costs` prices every strategy from those inputs and the workspace settings (measured throughputs,
   PriceSettings), with the arithmetic shown.
3. Each rule below is a small function of the inputs (and costs / measurements) that returns a `Finding`:
   score deltas per strategy and one sentence naming the input that caused them. The score of a strategy is the
   sum of its deltas; the highest score wins (ties go to the cheaper strategy). No hidden weighting: the rules
   and their weights are this file.
4. With `--from-report DIR` (a `ragft compare` run), measured F1, faithfulness, citation accuracy, latency and
   cost per 1k queries replace assumptions.
5. Break-even: the traffic at which ft becomes cheaper than rag, and the update frequencies at which the
   recommendation flips — both recomputed from the model, never hard-coded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ragft.config import Settings
from ragft.costs import (
    HOURS_PER_MONTH,
    HYBRID_RETRAINS_PER_MONTH,
    STRATEGIES,
    THROUGHPUT,
    UPDATES_PER_MONTH,
    StrategyCost,
    Throughput,
    Workload,
    break_even_queries_per_day,
    estimate_costs,
)
from ragft.errors import ConfigError

FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "monthly", "rarely")  # most to least frequent
CHANGING = frozenset({"daily", "weekly"})  # "the corpus changes" for the rules below; monthly/rarely = stable


@dataclass(frozen=True)
class Regime:
    """A compliance regime and the two properties of it that matter for the choice of strategy."""

    name: str
    erasure: bool  # data subjects can demand deletion of their personal data
    need_to_know: bool  # access to records must be limited per person/role
    basis: str


COMPLIANCE: dict[str, Regime] = {
    "gdpr": Regime("GDPR", True, False, "GDPR Art. 17 right to erasure; EDPB Opinion 28/2024: a model trained on "
                   "personal data is not automatically anonymous, so erasure means retraining without the subject"),
    "ccpa": Regime("CCPA/CPRA", True, False, "Cal. Civ. Code 1798.105 right to delete"),
    "hipaa": Regime("HIPAA", False, True, "45 CFR 164.502(b) minimum necessary, 164.312(a)(1) access control: "
                    "PHI baked into weights is readable by every user of the model"),
}


class AdviceInputs(BaseModel):
    """The situation to advise on. Every field has a default, so any subset of flags works."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    update_frequency: Literal["daily", "weekly", "monthly", "rarely"] = Field("weekly", description="How often the documents change.")
    docs: int = Field(1000, ge=0, description="Documents in the corpus.")
    queries_per_day: float = Field(100, ge=0, description="Expected questions per day.")
    precision: Literal["high", "normal"] = Field("normal", description="high = wrong answers are costly (legal, medical, finance).")
    budget_usd: float | None = Field(None, ge=0, description="Monthly budget in USD (None = no limit).")
    compliance: tuple[str, ...] = Field((), description=f"Regimes that apply: {', '.join(sorted(COMPLIANCE))}.")
    latency_ms: float | None = Field(None, gt=0, description="Target answer latency (p95) in milliseconds.")
    hardware: Literal["cpu", "gpu"] = Field("cpu", description="Hardware available for training and serving.")
    citations: bool = Field(False, description="Answers must cite their sources.")
    style: bool = Field(False, description="Output must follow a domain-specific style, format or terminology.")
    serving: Literal["self-hosted", "api"] | None = Field(None, description="Generator hosting; None = from ragft.toml (generator.kind).")
    training_examples: int | None = Field(None, ge=0, description="Training examples available; None = 2 per document.")
    tokens_per_doc: int = Field(1000, ge=1, description="Average document length in tokens.")
    change_fraction: float = Field(0.1, ge=0, le=1, description="Share of documents changed per update.")
    horizon_months: float = Field(12, gt=0, description="Months over which one-off costs are amortised.")

    @field_validator("compliance", mode="before")
    @classmethod
    def _parse_compliance(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        items = value.split(",") if isinstance(value, str) else list(value)
        names = tuple(dict.fromkeys(str(v).strip().lower() for v in items if str(v).strip()))
        unknown = [n for n in names if n not in COMPLIANCE and n != "none"]
        if unknown:
            raise ValueError(f"unknown regime {', '.join(repr(u) for u in unknown)}; allowed: {', '.join(sorted(COMPLIANCE))}")
        return tuple(n for n in names if n != "none")


def make_inputs(**values: Any) -> AdviceInputs:
    """Validated inputs; None values mean "use the default". Every problem is reported at once as a ConfigError."""
    try:
        return AdviceInputs(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "inputs"
            msg = e["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {msg} (got {e.get('input')!r})")
        raise ConfigError("advise: " + "; ".join(problems) + ". See `ragft advise --help`.") from exc


def counted_docs(inputs: AdviceInputs, held: Callable[[], int]) -> tuple[AdviceInputs, str]:
    """`inputs` with `docs` = the workspace's document count (`held`) when the user gave none, and where `docs`
    came from ("input", "workspace", "default"): 11 documents were advised on as the assumed 1000."""
    if "docs" in inputs.model_fields_set:
        return inputs, "input"
    n = held()
    return (inputs.model_copy(update={"docs": n}), "workspace") if n else (inputs, "default")


# ---------------------------------------------------------------------------- measurements (ragft compare)
# A `compare --report` folder is read by ragft/advise_report.py (Report, load_report; re-exported here).
from ragft.advise_report import METRICS, UNIT_METRICS, MeasuredTraining, Report, load_report, measured_training  # noqa: E402,F401


# ---------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Finding:
    """What one rule concluded: score deltas per strategy and the reason, naming the input(s) behind it."""

    rule: str
    deltas: dict[str, float]
    reason: str
    inputs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "deltas": {k: round(v, 3) for k, v in self.deltas.items()}, "reason": self.reason,
                "inputs": list(self.inputs)}


@dataclass(frozen=True)
class Context:
    """What rules may look at: the inputs, the priced strategies and (optionally) measurements."""

    inputs: AdviceInputs
    costs: Mapping[str, StrategyCost]
    report: Report | None = None

    @property
    def changing(self) -> bool:
        return self.inputs.update_frequency in CHANGING


Rule = Callable[[Context], "Finding | list[Finding] | None"]  # a rule may abstain (None) or report per regime


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 0.01 or usd == 0 else f"${usd:.4f}"


def rule_corpus(ctx: Context) -> Finding:
    if ctx.inputs.docs == 0:
        return Finding("corpus", {"rag": -5, "ft": -5, "hybrid": -5},
                       "docs = 0: there is nothing to retrieve or train on, so only the base model is possible", ("docs",))
    return Finding("corpus", {"base": -3},
                   f"docs = {ctx.inputs.docs}: the base model knows none of your documents; it is the control, not a "
                   "candidate", ("docs",))


def rule_update_frequency(ctx: Context) -> Finding:
    # Fresh facts: re-indexing a changed document takes seconds, re-training takes hours (see costs).
    table = {
        "daily": {"rag": +3, "hybrid": +1, "ft": -3},
        "weekly": {"rag": +2, "hybrid": +0.5, "ft": -1.5},
        "monthly": {"rag": +0.5},
        "rarely": {"ft": +1.5},
    }
    f = ctx.inputs.update_frequency
    why = {
        "daily": "documents change daily: retrieval sees a change at the next re-index, a fine-tuned model only after retraining",
        "weekly": "documents change weekly: keeping facts in an index is cheaper and fresher than retraining weekly",
        "monthly": "documents change monthly: slight edge to retrieval, retraining monthly is feasible",
        "rarely": "documents rarely change: knowledge baked into weights stays valid between rare retrainings",
    }[f]
    return Finding("update_frequency", table[f], f"update_frequency = {f}: {why}", ("update_frequency",))


def rule_knowledge_source(ctx: Context) -> Finding | None:
    if ctx.inputs.style or ctx.inputs.docs == 0:
        return None
    return Finding("knowledge_source", {"rag": +1, "hybrid": +1},
                   "style = no: the task is answering from your documents; retrieval injects new facts more reliably than "
                   "fine-tuning does (Ovadia et al. 2024, 'Fine-Tuning or Retrieval?')", ("style",))


def rule_style(ctx: Context) -> Finding | None:
    if not ctx.inputs.style:
        return None
    if not ctx.changing:
        return Finding("style", {"ft": +3, "hybrid": +1},
                       f"style = yes and update_frequency = {ctx.inputs.update_frequency}: a stable corpus with a domain "
                       "style/format is what fine-tuning is for; the adapter learns the style and the facts once",
                       ("style", "update_frequency"))
    return Finding("style", {"hybrid": +2, "ft": +1},
                   f"style = yes but update_frequency = {ctx.inputs.update_frequency}: an adapter should learn the style "
                   "while retrieval keeps the changing facts fresh (hybrid)", ("style", "update_frequency"))


def rule_precision(ctx: Context) -> Finding | None:
    if ctx.inputs.precision != "high":
        return None
    return Finding("precision", {"rag": +1, "hybrid": +1.5, "ft": -0.5, "base": -2},
                   "precision = high: answers grounded in retrieved text can be checked and abstain when nothing "
                   "supports them; a model answering from its weights alone hallucinates unnoticed", ("precision",))


def rule_precision_changing_style(ctx: Context) -> Finding | None:
    if not (ctx.inputs.precision == "high" and ctx.changing and ctx.inputs.style):
        return None
    return Finding("precision_changing_style", {"hybrid": +3},
                   f"precision = high, update_frequency = {ctx.inputs.update_frequency} and style = yes: only hybrid "
                   "gives fresh, grounded facts in the domain format (RAFT, Zhang et al. 2024)",
                   ("precision", "update_frequency", "style"))


def rule_compliance(ctx: Context) -> list[Finding]:
    findings = []
    for name in ctx.inputs.compliance:
        regime = COMPLIANCE[name]
        if regime.erasure:
            ft = -3 if ctx.changing else -2
            findings.append(Finding(
                f"compliance_{name}", {"ft": ft, "hybrid": -0.5},
                f"compliance = {name}: personal data must be erasable ({regime.basis}); fine-tuned weights memorise it, "
                f"so every erasure{' and every update' if ctx.changing else ''} of personal records needs a retrain, "
                "while deleting from the index is immediate. Train a hybrid adapter on de-identified examples only",
                ("compliance", "update_frequency")))
        if regime.need_to_know:
            findings.append(Finding(
                f"compliance_{name}", {"ft": -2, "rag": +1, "hybrid": +0.5},
                f"compliance = {name}: access must be need-to-know ({regime.basis}); retrieval (rag, hybrid) filters "
                "by the user's groups before top-k, weights cannot; train a hybrid adapter on de-identified examples",
                ("compliance",)))
    return findings


def rule_citations(ctx: Context) -> Finding | None:
    if not ctx.inputs.citations:
        return None
    assumed = {"rag": +2, "hybrid": +2, "ft": -2, "base": -2}
    measured = ctx.report.metric("citation_accuracy") if ctx.report else {}
    # Measured citation accuracy a maps onto the same scale: a = 1 -> +2, a = 0 -> -2.
    deltas = {s: (2 * (2 * measured[s] - 1) if s in measured else d) for s, d in assumed.items()}
    if measured:
        shown = ", ".join(f"{s} {v:.2f}" for s, v in sorted(measured.items()))
        reason = f"citations = yes: measured citation accuracy ({shown}) decides; unmeasured strategies keep the assumption"
    else:
        reason = "citations = yes: rag and hybrid answer from retrieved chunks they can cite; ft and base have no source to point to"
    return Finding("citations", deltas, reason, ("citations",) + (("from_report",) if measured else ()))


def rule_hardware(ctx: Context) -> Finding | None:
    if ctx.inputs.hardware != "cpu":
        return None
    ft_h = ctx.costs["ft"].train_hours_per_run or 0.0
    hy_h = ctx.costs["hybrid"].train_hours_per_run or 0.0
    return Finding("hardware", {"ft": -1, "hybrid": -1},
                   f"hardware = cpu: no GPU, so one training run takes {ft_h:.1f} h (ft) / {hy_h:.1f} h (hybrid) on the "
                   "measured CPU throughput; retrieval needs no training", ("hardware",))


def rule_training_feasibility(ctx: Context) -> Finding | None:
    """A strategy whose training run is longer than the time between its retrains can never be up to date."""
    deltas: dict[str, float] = {}
    notes = []
    updates = UPDATES_PER_MONTH[ctx.inputs.update_frequency]
    for s, retrains in (("ft", updates), ("hybrid", min(updates, HYBRID_RETRAINS_PER_MONTH))):
        hours = ctx.costs[s].train_hours_per_run or 0.0
        interval = HOURS_PER_MONTH / retrains if retrains else math.inf
        if hours > interval:
            deltas[s] = -5
            notes.append(f"{s} needs {hours:.1f} h per run but must retrain every {interval:.0f} h")
    if not deltas:
        return None
    return Finding("training_feasibility", deltas,
                   f"update_frequency = {ctx.inputs.update_frequency}, docs = {ctx.inputs.docs}, hardware = "
                   f"{ctx.inputs.hardware}: {'; '.join(notes)}", ("update_frequency", "docs", "hardware"))


def rule_budget(ctx: Context) -> Finding | None:
    budget = ctx.inputs.budget_usd
    if budget is None:
        return None
    deltas: dict[str, float] = {}
    notes = []
    for s in STRATEGIES:
        need = max(ctx.costs[s].first_month_usd, ctx.costs[s].amortised_monthly_usd)
        if need > budget:
            over = need / budget - 1 if budget > 0 else math.inf
            deltas[s] = -(1 + 2 * min(1.0, over))  # -1 just over, -3 at twice the budget or more
            notes.append(f"{s} needs {_money(need)} in its first month")
    if not deltas:
        return Finding("budget", {}, f"budget_usd = {budget:g}/month: every strategy fits (first month incl. one-off costs)",
                       ("budget_usd",))
    return Finding("budget", deltas, f"budget_usd = {budget:g}/month: {'; '.join(notes)}", ("budget_usd",))


def rule_latency(ctx: Context) -> Finding | None:
    target = ctx.inputs.latency_ms
    if target is None:
        return None
    slow = {s: c.latency_ms for s, c in ctx.costs.items() if c.latency_ms is not None and c.latency_ms > target}
    if not slow:
        return None
    shown = ", ".join(f"{s} {ms:,.0f} ms{' (measured p95)' if 'latency_ms_p95' in ctx.costs[s].measured else ''}"
                      for s, ms in slow.items())
    return Finding("latency", {s: -2 for s in slow}, f"latency_ms = {target:g}: over the target: {shown}",
                   ("latency_ms",) + (("from_report",) if ctx.report else ()))


def rule_cost_efficiency(ctx: Context) -> Finding | None:
    """Relative running cost among the candidates (not base): -1 per doubling over the cheapest, at most -2."""
    costs = {s: ctx.costs[s].amortised_monthly_usd for s in ("rag", "ft", "hybrid")}
    floor = 1.0  # differences below $1/month are noise, not a reason
    cheapest = max(min(costs.values()), floor)
    deltas = {s: -min(2.0, math.log2(max(c, floor) / cheapest)) for s, c in costs.items()}
    deltas = {s: d for s, d in deltas.items() if d < -0.05}
    if not deltas:
        return None
    shown = ", ".join(f"{s} {_money(c)}" for s, c in costs.items())
    return Finding("cost_efficiency", deltas,
                   f"queries_per_day = {ctx.inputs.queries_per_day:g}, docs = {ctx.inputs.docs}: amortised monthly cost "
                   f"{shown}", ("queries_per_day", "docs", "update_frequency"))


F1_WEIGHT = 20.0  # score points per 1.0 of F1: a 0.10 F1 gap = 2 points, the weight of one update-frequency step
FAITHFULNESS_WEIGHT = 10.0  # applied only when precision = high
MIN_METRIC_GAP = 0.02  # smaller measured differences are treated as noise


def _measured_rule(ctx: Context, metric: str, weight: float, rule: str, inputs: tuple[str, ...]) -> Finding | None:
    measured = ctx.report.metric(metric) if ctx.report else {}
    if len(measured) < 2:
        return None
    shown = ", ".join(f"{s} {v:.3f}" for s, v in sorted(measured.items(), key=lambda kv: -kv[1]))
    if max(measured.values()) - min(measured.values()) < MIN_METRIC_GAP:
        return Finding(rule, {}, f"from_report: measured {metric} within {MIN_METRIC_GAP} ({shown}): no preference", inputs)
    mean = sum(measured.values()) / len(measured)
    # Pairwise, the score gap between two measured strategies is exactly weight x their metric gap.
    deltas = {s: weight * (v - mean) for s, v in measured.items()}
    best = max(measured, key=measured.__getitem__)
    return Finding(rule, deltas, f"from_report: measured {metric} {shown}; {best} is best, each strategy moves by "
                   f"{weight:g} x ({metric} - mean)", inputs)


def rule_measured_f1(ctx: Context) -> Finding | None:
    """Measured accuracy. With compare's decision (paired tests), only differences the tests call significant
    count: a strategy not significantly worse than the best counts as equal to it, the others keep their
    measured value, and each moves by F1_WEIGHT x (value - mean), so two strategies' scores differ by
    F1_WEIGHT x their significant gap. Older reports (no decision) fall back to the F1 gap rule."""
    report = ctx.report
    if report is None or report.decision is None:
        return _measured_rule(ctx, "f1", F1_WEIGHT, "measured_f1", ("from_report",))
    d = report.decision
    measured = report.metric(d["metric"]) or report.metric("f1")
    best = report.best or d["recommended"]
    worse = {s: t for s, t in report.significantly_worse().items() if s in measured}
    if best not in measured:
        return _measured_rule(ctx, "f1", F1_WEIGHT, "measured_f1", ("from_report",))
    value = {s: v if s in worse else measured[best] for s, v in measured.items()}
    mean = sum(value.values()) / len(value)
    deltas = {s: F1_WEIGHT * (v - mean) for s, v in value.items() if abs(v - mean) > 1e-12}
    shown = ", ".join(f"{s} {v:.3f}" for s, v in sorted(measured.items(), key=lambda kv: -kv[1]))
    verdict = "significant" if d["significant"] else "not significant"
    tail = (f"; significantly worse than {best}: {', '.join(worse)}" if worse
            else "; no measured difference is significant, so measurements prefer none")
    return Finding("measured_f1", deltas, f"from_report: measured {d['metric']} {shown}; compare's decision "
                   f"({verdict}): {d['reason']}{tail}", ("from_report",))


def rule_measured_faithfulness(ctx: Context) -> Finding | None:
    if ctx.inputs.precision != "high":
        return None
    return _measured_rule(ctx, "faithfulness", FAITHFULNESS_WEIGHT, "measured_faithfulness", ("from_report", "precision"))


RULES: tuple[Rule, ...] = (
    rule_corpus,
    rule_update_frequency,
    rule_knowledge_source,
    rule_style,
    rule_precision,
    rule_precision_changing_style,
    rule_compliance,
    rule_citations,
    rule_hardware,
    rule_training_feasibility,
    rule_budget,
    rule_latency,
    rule_cost_efficiency,
    rule_measured_f1,
    rule_measured_faithfulness,
)


# ---------------------------------------------------------------------------- decision
@dataclass(frozen=True)
class Ranked:
    strategy: str
    score: float
    amortised_monthly_usd: float

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "score": round(self.score, 3),
                "amortised_monthly_usd": round(self.amortised_monthly_usd, 6)}


@dataclass
class Advice:
    """Result of `Workspace.advise`: the JSON of `ragft advise`."""

    strategy: str
    ranking: list[Ranked]
    findings: list[Finding]
    costs: dict[str, StrategyCost]
    break_even: dict[str, Any]
    inputs: AdviceInputs
    report: Report | None = None
    assumptions: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.findings]

    @property
    def warnings(self) -> list[str]:
        """Measurements too weak to lean on: compare's decision was not significant."""
        d = self.report.decision if self.report else None
        if not d or d.get("significant") or not d.get("runner_up"):
            return []
        more = f"; about {d['n_needed']} questions would separate them" if d.get("n_needed") else ""
        said = (f"too few questions to tell {d['recommended']} and {d['runner_up']} apart on {d['metric']}"
                if d.get("verdict") == "undecided"
                else f"{d['recommended']} and {d['runner_up']} are indistinguishable on {d['metric']}")
        return [f"the compare report's decision is not significant (n = {d['n_questions']}, p = {d['p_value']}): "
                f"{said}{more}; measured differences below significance are treated as noise"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "reasons": self.reasons,
            "ranking": [r.to_dict() for r in self.ranking],
            "rules": [f.to_dict() for f in self.findings],
            "costs": {s: c.to_dict() for s, c in self.costs.items()},
            "break_even": self.break_even,
            "inputs": self.inputs.model_dump(mode="json"),
            "from_report": None if self.report is None else {
                "path": str(self.report.path), "strategies": sorted(self.report.strategies),
                "recommendation": self.report.recommendation, "ignored": list(self.report.ignored),
                "decision": self.report.decision},
            "warnings": self.warnings,
            "assumptions": self.assumptions,
        }


def workload_for(inputs: AdviceInputs, settings: Settings) -> Workload:
    """The cost model's view of the inputs, with sizes taken from the workspace settings (chunking, k, epochs...)."""
    serving = inputs.serving or ("api" if settings.generator.kind == "openai" else "self-hosted")
    return Workload(
        docs=inputs.docs,
        queries_per_day=inputs.queries_per_day,
        updates_per_month=UPDATES_PER_MONTH[inputs.update_frequency],
        change_fraction=inputs.change_fraction,
        tokens_per_doc=inputs.tokens_per_doc,
        chunk_tokens=settings.chunking.max_tokens,
        chunk_overlap=settings.chunking.overlap_tokens,
        k=settings.retrieval.k,
        max_context_tokens=settings.answer.max_context_tokens,
        # the bundled generator reads the best sentences of the chunks; a remote one whole chunks (answer.py)
        sentence_tokens=(settings.answer.sentence_tokens if settings.answer.context == "sentences"
                         and settings.generator.kind != "openai" and serving == "self-hosted" else None),
        answer_tokens=settings.generator.max_new_tokens,
        training_examples=inputs.training_examples,
        epochs=settings.train.epochs,
        raft_distractors=settings.train.raft_distractors,
        hardware=inputs.hardware,
        serving=serving,
        horizon_months=inputs.horizon_months,
    )


def _throughput(inputs: AdviceInputs, training: MeasuredTraining | None) -> Throughput:
    tp = THROUGHPUT[inputs.hardware]
    # Adapters trained in this workspace ran on this machine's CPU; their rate says nothing about a GPU.
    if training is None or inputs.hardware != "cpu":
        return tp
    return replace(tp, train_tokens_per_s=training.tokens_per_s, source=f"{tp.source}; training: {training.source}")


def _evaluate(inputs: AdviceInputs, settings: Settings, report: Report | None,
              training: MeasuredTraining | None = None) -> tuple[list[Ranked], list[Finding], dict[str, StrategyCost]]:
    costs = estimate_costs(workload_for(inputs, settings), settings.prices, _throughput(inputs, training),
                           measured=report.measured_costs() if report else None)
    ctx = Context(inputs, costs, report)
    findings: list[Finding] = []
    for rule in RULES:
        result = rule(ctx)
        if result is None:
            continue
        findings.extend(result if isinstance(result, list) else [result])
    scores = {s: 0.0 for s in STRATEGIES}
    for f in findings:
        for s, d in f.deltas.items():
            scores[s] += d
    ranking = sorted((Ranked(s, scores[s], costs[s].amortised_monthly_usd) for s in STRATEGIES),
                     key=lambda r: (-round(r.score, 9), r.amortised_monthly_usd, STRATEGIES.index(r.strategy)))
    return ranking, findings, costs


def _break_even(inputs: AdviceInputs, settings: Settings, report: Report | None, training: MeasuredTraining | None,
                costs: Mapping[str, StrategyCost], strategy: str) -> dict[str, Any]:
    ft, rag = costs["ft"], costs["rag"]
    q = break_even_queries_per_day(ft, rag)
    if q is None:
        note = "ft is not cheaper per query than rag, so no traffic level makes it cheaper overall"
    elif q == 0:
        note = "ft is cheaper than rag at any traffic"
    else:
        note = (f"above {q:,.0f} queries/day ft (training amortised, short prompts) costs less per month than rag "
                f"(long prompts); below it rag is cheaper")
    by_frequency = {f: _evaluate(inputs.model_copy(update={"update_frequency": f}), settings, report, training)[0][0].strategy
                    for f in FREQUENCIES}
    flips = [{"from_frequency": a, "to_frequency": b, "from_strategy": by_frequency[a], "to_strategy": by_frequency[b]}
             for a, b in zip(FREQUENCIES, FREQUENCIES[1:]) if by_frequency[a] != by_frequency[b]]
    return {
        "ft_vs_rag_queries_per_day": None if q is None else round(q, 1),
        "ft_vs_rag": {
            "formula": "(ft_fixed_monthly - rag_fixed_monthly) / ((rag_per_query - ft_per_query) x days)",
            "ft_fixed_monthly_usd": round(ft.fixed_monthly_usd, 6), "rag_fixed_monthly_usd": round(rag.fixed_monthly_usd, 6),
            "ft_per_query_usd": round(ft.per_query_usd, 8), "rag_per_query_usd": round(rag.per_query_usd, 8),
            "note": note,
        },
        "recommendation_by_update_frequency": by_frequency,
        "update_frequency_flips": flips,
        "current": {"update_frequency": inputs.update_frequency, "strategy": strategy},
    }


def advise(inputs: AdviceInputs, settings: Settings | None = None, report: Report | None = None,
           training: MeasuredTraining | None = None) -> Advice:
    """Recommend a strategy for `inputs`, priced with `settings` (defaults if None), grounded in `report` (a
    `ragft compare` run) and `training` (measured LoRA throughput) when given."""
    settings = settings or Settings()
    if inputs.serving is None:
        inputs = inputs.model_copy(update={"serving": workload_for(inputs, settings).serving})
    ranking, findings, costs = _evaluate(inputs, settings, report, training)
    strategy = ranking[0].strategy
    w = workload_for(inputs, settings)
    assumptions = {
        "chunks": w.chunks, "prompt_tokens": {s: w.prompt_tokens(s) for s in STRATEGIES}, "answer_tokens": w.answer_tokens,
        "training_examples": w.examples, "epochs": w.epochs, "updates_per_month": round(w.updates_per_month, 4),
        "hardware": w.hardware, "serving": w.serving, "prices": settings.prices.model_dump(),
        "throughput": asdict(_throughput(inputs, training)),
    }
    return Advice(strategy, ranking, findings, costs, _break_even(inputs, settings, report, training, costs, strategy),
                  inputs, report, assumptions)


# ---------------------------------------------------------------------------- questionnaire (terminal view: advise_view.py)
@dataclass(frozen=True)
class Question:
    """One interactive question; `field` is the AdviceInputs field it fills. Optional numbers accept 'none'."""

    field: str
    text: str
    default: Any
    choices: tuple[str, ...] = ()
    kind: type = str
    optional: bool = False


QUESTIONS: tuple[Question, ...] = (
    Question("update_frequency", "How often do the documents change?", "weekly", FREQUENCIES),
    Question("docs", "How many documents?", 1000, kind=int),
    Question("queries_per_day", "Questions per day?", 100.0, kind=float),
    Question("precision", "Precision need (high = wrong answers are costly)", "normal", ("high", "normal")),
    Question("budget_usd", "Monthly budget in USD ('none' = no limit)", "none", kind=float, optional=True),
    Question("compliance", f"Compliance regimes, comma-separated ({', '.join(sorted(COMPLIANCE))}, or 'none')", "none"),
    Question("latency_ms", "Latency target in ms ('none' = no target)", "none", kind=float, optional=True),
    Question("hardware", "Hardware for training/serving", "cpu", ("cpu", "gpu")),
    Question("citations", "Must answers cite their sources?", False, kind=bool),
    Question("style", "Must output follow a domain-specific style or terminology?", False, kind=bool),
)


from ragft.advise_view import print_advice  # noqa: E402  (re-exported: `from ragft.advise import print_advice`)

__all__ = ["QUESTIONS", "Advice", "AdviceInputs", "Question", "Report", "advise", "load_report", "make_inputs",
           "measured_training", "print_advice"]
