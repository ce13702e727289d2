"""`ragft advise`: the classic cases, traceable reasons, --from-report grounding, break-even and the CLI contract."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragft.advise import COMPLIANCE, FREQUENCIES, advise, load_report, make_inputs
from ragft.cli import app
from ragft.config import PriceSettings, Settings
from ragft.costs import STRATEGIES
from ragft.errors import ConfigError

CATALOGUE = dict(update_frequency="daily", docs=20000, queries_per_day=5000, citations=True)
DRAFTING = dict(update_frequency="rarely", docs=300, queries_per_day=200, style=True, budget_usd=100,
                training_examples=2000)
REGULATED = dict(update_frequency="weekly", docs=2000, compliance="gdpr", style=True, precision="high", citations=True)
TINY = dict(budget_usd=1, hardware="cpu", queries_per_day=20)


def run(**kw):
    return advise(make_inputs(**kw))


# ---------------------------------------------------------------------------- classic cases
def test_daily_changing_catalogue_is_rag():
    a = run(**CATALOGUE)
    assert a.strategy == "rag"
    assert any("update_frequency = daily" in r for r in a.reasons)


def test_stable_specialised_drafting_with_examples_and_budget_is_ft():
    a = run(**DRAFTING)
    assert a.strategy == "ft"
    assert any(f.rule == "style" and f.deltas["ft"] > 0 for f in a.findings)
    assert any(f.rule == "budget" and not f.deltas for f in a.findings)  # ft fits the budget


def test_regulated_changing_records_with_specialised_output_is_hybrid():
    a = run(**REGULATED)
    assert a.strategy == "hybrid"
    gdpr = next(f for f in a.findings if f.rule == "compliance_gdpr")
    assert gdpr.deltas["ft"] < 0 and "EDPB Opinion 28/2024" in gdpr.reason
    # both erasure and need-to-know regimes together still leave hybrid on top
    assert run(**{**REGULATED, "compliance": "gdpr,hipaa"}).strategy == "hybrid"


@pytest.mark.parametrize("frequency", FREQUENCIES)
def test_tiny_budget_no_gpu_is_rag(frequency):
    a = run(**TINY, update_frequency=frequency)
    assert a.strategy == "rag"
    assert any(f.rule == "hardware" for f in a.findings)
    budget = next(f for f in a.findings if f.rule == "budget")
    assert budget.deltas.get("hybrid", 0) < 0  # the RAFT training run alone exceeds $1


# ---------------------------------------------------------------------------- rules are traceable
def test_score_is_the_sum_of_rule_deltas_and_every_reason_names_an_input():
    a = run(**REGULATED)
    for ranked in a.ranking:
        assert ranked.score == pytest.approx(sum(f.deltas.get(ranked.strategy, 0) for f in a.findings))
    assert [r.score for r in a.ranking] == sorted((r.score for r in a.ranking), reverse=True)
    for f in a.findings:
        assert set(f.deltas) <= set(STRATEGIES)
        assert f.inputs and " = " in f.reason, f
        assert any(name in f.reason for name in f.inputs), f


def test_gdpr_penalises_ft_more_when_personal_data_changes():
    def ft_delta(freq):
        a = run(update_frequency=freq, compliance="gdpr")
        return next(f for f in a.findings if f.rule == "compliance_gdpr").deltas["ft"]

    assert ft_delta("daily") < ft_delta("rarely") < 0
    without = {r.strategy: r.score for r in run(update_frequency="weekly").ranking}
    with_gdpr = {r.strategy: r.score for r in run(update_frequency="weekly", compliance="gdpr").ranking}
    assert with_gdpr["ft"] < without["ft"] and with_gdpr["rag"] == without["rag"]


def test_training_that_cannot_keep_up_is_penalised():
    # 50k docs -> 100k examples x 69 tokens x 3 epochs / 105 tok/s = ~55 h per run > 24 h between daily updates
    a = run(update_frequency="daily", docs=50000)
    f = next(f for f in a.findings if f.rule == "training_feasibility")
    assert f.deltas["ft"] == -5 and "ft needs" in f.reason
    assert not any(f.rule == "training_feasibility" for f in run(update_frequency="daily", docs=50000, hardware="gpu").findings)


def test_latency_target_uses_estimates():
    estimated = run().costs
    target = estimated["rag"].latency_ms - 1  # the retrieval prompt is the longer one: rag and hybrid miss it
    assert estimated["base"].latency_ms < target
    a = run(latency_ms=target)
    lat = next(f for f in a.findings if f.rule == "latency")
    slow = {s for s, c in a.costs.items() if c.latency_ms > target}
    assert set(lat.deltas) == slow and "rag" in slow and "base" not in slow


def test_the_estimated_rag_prompt_is_the_one_the_bundled_generator_reads():
    """The bundled generator reads the best sentences of the retrieved chunks (`[answer] context = "sentences"`,
    `sentence_tokens`), a remote one whole chunks: the cost model prices the prompt each of them is sent."""
    from ragft.advise import workload_for

    settings = Settings()
    bundled = workload_for(make_inputs(), settings)
    assert bundled.context_tokens == settings.answer.sentence_tokens == 160
    chunks = workload_for(make_inputs(), Settings(answer={"context": "chunks"}))
    assert chunks.context_tokens == min(settings.retrieval.k * settings.chunking.max_tokens,
                                        settings.answer.max_context_tokens)
    remote = workload_for(make_inputs(), Settings(generator={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}))
    assert remote.context_tokens == chunks.context_tokens and remote.serving == "api"


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize(("kw", "needle"), [
    (dict(docs=-1), "docs"),
    (dict(queries_per_day=-5), "queries_per_day"),
    (dict(budget_usd=-1), "budget_usd"),
    (dict(latency_ms=0), "latency_ms"),
    (dict(update_frequency="hourly"), "'daily'"),
    (dict(compliance="gdpr,sox"), "allowed: " + ", ".join(sorted(COMPLIANCE))),
])
def test_bad_inputs_are_config_errors(kw, needle):
    with pytest.raises(ConfigError) as exc:
        make_inputs(**kw)
    assert needle in str(exc.value)


def test_compliance_is_normalised():
    assert make_inputs(compliance=" GDPR, hipaa,gdpr ").compliance == ("gdpr", "hipaa")
    assert make_inputs(compliance="none").compliance == ()


# ---------------------------------------------------------------------------- --from-report
def write_report(folder, strategies, recommendation=None):
    folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name, metrics in strategies.items():
        row = {k: None for k in ("exact_match", "f1", "faithfulness", "citation_accuracy", "abstention_rate",
                                 "latency_ms_p50", "latency_ms_p95", "cost_per_1k")}
        row.update(metrics)
        rows[name] = row
    (folder / "results.json").write_text(json.dumps({"strategies": rows, "recommendation": recommendation}))
    return folder


def test_measured_f1_changes_the_outcome_when_the_gap_is_large(tmp_path):
    inputs = make_inputs()  # weekly updates, no style: assumptions favour rag
    assert advise(inputs).strategy == "rag"
    report = load_report(write_report(tmp_path / "r", {"base": {"f1": 0.05}, "rag": {"f1": 0.20}, "ft": {"f1": 0.60},
                                                       "hybrid": {"f1": 0.25}}))
    a = advise(inputs, report=report)
    assert a.strategy == "ft"
    f = next(f for f in a.findings if f.rule == "measured_f1")
    # pairwise the score gap equals F1_WEIGHT x F1 gap: (0.60 - 0.20) x 20 = 8
    assert f.deltas["ft"] - f.deltas["rag"] == pytest.approx(8.0)


def test_measured_f1_within_noise_does_not_change_the_outcome(tmp_path):
    report = load_report(write_report(tmp_path / "r", {"rag": {"f1": 0.50}, "ft": {"f1": 0.51}}))
    a = advise(make_inputs(), report=report)
    assert a.strategy == "rag"
    assert next(f for f in a.findings if f.rule == "measured_f1").deltas == {}


def test_measured_latency_and_cost_replace_assumptions(tmp_path):
    target = advise(make_inputs()).costs["rag"].latency_ms - 1
    inputs = make_inputs(latency_ms=target)
    assumed = advise(inputs)
    assert "rag" in next(f for f in assumed.findings if f.rule == "latency").deltas
    fast = round(target / 2, 1)
    report = load_report(write_report(tmp_path / "r", {"rag": {"f1": 0.4, "latency_ms_p95": fast, "cost_per_1k": 0.05}}))
    measured = advise(inputs, report=report)
    assert measured.costs["rag"].latency_ms == fast
    assert measured.costs["rag"].per_query_usd == pytest.approx(0.00005)
    assert set(measured.costs["rag"].measured) == {"cost_per_1k", "latency_ms_p95"}
    lat = next(f for f in measured.findings if f.rule == "latency")
    assert "rag" not in lat.deltas
    # the cheaper measured rag queries push the ft break-even up
    assert (measured.break_even["ft_vs_rag_queries_per_day"] or float("inf")) > assumed.break_even["ft_vs_rag_queries_per_day"]


def test_measured_citation_accuracy_replaces_the_assumption(tmp_path):
    report = load_report(write_report(tmp_path / "r", {"rag": {"citation_accuracy": 0.9}, "hybrid": {"citation_accuracy": 0.3}}))
    a = advise(make_inputs(citations=True), report=report)
    f = next(f for f in a.findings if f.rule == "citations")
    assert f.deltas["rag"] == pytest.approx(1.6) and f.deltas["hybrid"] == pytest.approx(-0.8)
    assert f.deltas["ft"] == -2  # not measured: assumption kept


@pytest.mark.parametrize(("content", "needle"), [
    (None, "not found"),
    ("{not json", "not valid JSON"),
    (json.dumps({"recommendation": "rag"}), "no \"strategies\""),
    (json.dumps({"strategies": {"rag": {"f1": 1.5}}}), "outside 0..1"),
    (json.dumps({"strategies": {"rag": {"f1": "high"}}}), "not a non-negative number"),
    (json.dumps({"strategies": {"gpt": {"f1": 0.5}}}), "allowed: base, rag, ft, hybrid"),
])
def test_bad_reports_are_config_errors(tmp_path, content, needle):
    folder = tmp_path / "r"
    folder.mkdir()
    if content is not None:
        (folder / "results.json").write_text(content)
    with pytest.raises(ConfigError) as exc:
        load_report(folder)
    assert needle in str(exc.value) and exc.value.exit_code == 2


def test_report_keys_with_adapters_and_unknown_names(tmp_path):
    write_report(tmp_path / "r", {"ft:a": {"f1": 0.3}, "ft:b": {"f1": 0.5}, "rag": {"f1": 0.4}, "oracle": {"f1": 1.0}})
    report = load_report(tmp_path / "r")
    assert report.strategies["ft"]["f1"] == 0.5 and report.ignored == ("oracle",)


# ---------------------------------------------------------------------------- break-even
def test_break_even_is_computed_from_prices():
    a = run()
    q = a.break_even["ft_vs_rag_queries_per_day"]
    assert q is not None and q > 0
    # at the break-even traffic ft and rag cost the same per month
    at = run(queries_per_day=q)
    assert at.costs["ft"].amortised_monthly_usd == pytest.approx(at.costs["rag"].amortised_monthly_usd, rel=1e-3)
    # self-hosted, nearly every cost is machine time (only storage is priced per GB): doubling $/h scales both
    # sides and leaves the break-even (almost) in place
    settings = Settings(prices=PriceSettings(cpu_hour_usd=0.36))
    assert advise(make_inputs(), settings).break_even["ft_vs_rag_queries_per_day"] == pytest.approx(q, rel=0.01)
    # ...while longer training (more epochs) or an API generator (tokens priced per token) moves it
    longer = advise(make_inputs(), Settings(train={"epochs": 6}))
    assert longer.break_even["ft_vs_rag_queries_per_day"] > q * 1.5
    api = advise(make_inputs(serving="api"), Settings(prices=PriceSettings(input_token_usd=3e-6)))
    assert api.break_even["ft_vs_rag_queries_per_day"] < q / 5  # 1,000 context tokens x $3/M make rag dear per query


def test_update_frequency_flip_is_reported():
    a = run(**DRAFTING)
    by_f = a.break_even["recommendation_by_update_frequency"]
    assert by_f["rarely"] == "ft" and by_f["daily"] == "rag"
    assert by_f[a.inputs.update_frequency] == a.strategy
    flips = a.break_even["update_frequency_flips"]
    assert flips and all(by_f[f["from_frequency"]] == f["from_strategy"] and by_f[f["to_frequency"]] == f["to_strategy"]
                         and f["from_strategy"] != f["to_strategy"] for f in flips)


# ---------------------------------------------------------------------------- CLI
def test_cli_json_shape(tmp_path):
    res = CliRunner().invoke(app, ["advise", "-w", str(tmp_path / "ws"), "--json", "--update-frequency", "daily",
                                   "--docs", "5000", "--queries-per-day", "2000", "--citations", "--compliance", "gdpr"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {"strategy", "reasons", "costs", "ranking", "break_even", "inputs"} <= set(data)
    assert data["strategy"] == "rag" and data["ranking"][0]["strategy"] == "rag"
    assert set(data["costs"]) == set(STRATEGIES)
    assert all(isinstance(r, str) for r in data["reasons"]) and data["reasons"]
    assert {"one_off_usd", "monthly_usd", "amortised_monthly_usd", "lines"} <= set(data["costs"]["ft"])
    assert data["inputs"]["compliance"] == ["gdpr"] and data["inputs"]["docs"] == 5000
    assert "ft_vs_rag_queries_per_day" in data["break_even"]


@pytest.mark.parametrize("args", [
    ["--docs", "-3"],
    ["--compliance", "sox"],
    ["--update-frequency", "hourly"],
    ["--hardware", "tpu"],
    ["--from-report", "does-not-exist"],
])
def test_cli_bad_input_exits_2(tmp_path, args):
    res = CliRunner().invoke(app, ["advise", "-w", str(tmp_path / "ws"), "--json", *args])
    assert res.exit_code == 2, res.output
    assert json.loads(res.stdout)["error"]["message"]  # --json: the error is one JSON object on stdout (issue #21)


def test_cli_from_report_and_human_output(tmp_path):
    write_report(tmp_path / "rep", {"rag": {"f1": 0.2}, "ft": {"f1": 0.7}})
    res = CliRunner().invoke(app, ["advise", "-w", str(tmp_path / "ws"), "--from-report", str(tmp_path / "rep"),
                                   "--details"])
    assert res.exit_code == 0, res.output
    assert "recommended strategy: ft" in res.stdout
    assert "measured f1" in res.stdout and "break-even" in res.stdout and "train adapter" in res.stdout


def test_cli_no_questionnaire_without_a_terminal(tmp_path):
    res = CliRunner().invoke(app, ["advise", "-w", str(tmp_path / "ws")], input="")
    assert res.exit_code == 0, res.output
    assert "How often" not in res.output and "recommended strategy" in res.stdout


def test_cli_questionnaire_in_a_terminal(tmp_path, monkeypatch):
    import ragft.cli

    monkeypatch.setattr(ragft.cli, "_stdin_is_tty", lambda: True)
    answers = "\n".join(["weekly", "2000", "100", "high", "none", "gdpr", "none", "cpu", "y", "y"]) + "\n"
    res = CliRunner().invoke(app, ["advise", "-w", str(tmp_path / "ws")], input=answers)
    assert res.exit_code == 0, res.output
    assert "How often do the documents change?" in res.output
    assert "recommended strategy: hybrid" in res.output  # the regulated case, answered interactively
    # --json never prompts, even in a terminal
    res = CliRunner().invoke(app, ["advise", "-w", str(tmp_path / "ws"), "--json"], input="")
    assert res.exit_code == 0 and json.loads(res.stdout)["strategy"]


# ---------------------------------------------------------------------------- measured training throughput
def test_workspace_uses_training_throughput_measured_by_its_adapters(tmp_path):
    from ragft.finetune.registry import AdapterInfo, AdapterRegistry
    from ragft.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    assumed = ws.advise(make_inputs(update_frequency="monthly"))
    reg = AdapterRegistry(ws.path)
    for name, rate in (("a", 40.0), ("b", 52.5), ("c", 400.0)):
        reg.register(AdapterInfo(name=name, path=str(tmp_path / name), kind="ft", base_model="smollm2-135m",
                                 metrics={"tokens_per_s": rate}))
    measured = ws.advise(make_inputs(update_frequency="monthly"))
    train = next(x for x in measured.costs["ft"].lines if x.item == "train adapter")
    assert train.inputs["train_tokens_per_s"] == 52.5  # the median run
    # half the assumed 105 tokens/s -> each training run costs twice as much
    assert measured.costs["ft"].train_hours_per_run == pytest.approx(assumed.costs["ft"].train_hours_per_run * 105 / 52.5)
    assert "median of adapter run(s)" in measured.assumptions["throughput"]["source"]
    # a CPU measurement says nothing about a GPU
    gpu = ws.advise(make_inputs(hardware="gpu"))
    assert next(x for x in gpu.costs["ft"].lines if x.item == "train adapter").inputs["train_tokens_per_s"] != 52.5
    ws.close()


def test_reads_the_results_json_that_compare_writes(tmp_path):
    """Contract with ragft/evaluate/compare.py: its serialised Comparison (extra fields included) loads as is."""
    from ragft.evaluate.compare import Comparison, StrategySummary

    def summary(f1, p95, cost):
        return StrategySummary(exact_match=f1 / 2, f1=f1, faithfulness=0.8, citation_accuracy=None, abstention_rate=0.1,
                               latency_ms_p50=p95 / 2, latency_ms_p95=p95, cost_per_1k=cost, adapter="x",
                               n=20, n_scored={"f1": 20})

    comparison = Comparison(strategies={"rag": summary(0.3, 4000.0, 0.2), "ft": summary(0.65, 2500.0, 0.1)},
                            recommendation="ft", questions=[])
    (tmp_path / "results.json").write_text(json.dumps(comparison.to_dict()))
    report = load_report(tmp_path)
    assert report.recommendation == "ft" and set(report.strategies) == {"rag", "ft"}
    a = advise(make_inputs(), report=report)
    assert a.strategy == "ft" and a.costs["ft"].latency_ms == 2500.0


# ---------------------------------------------------------------------------- compare's statistical decision
def _compare_report(tmp_path, correct: dict[str, list[float]], name="cmp"):
    """A real compare results.json built from per-question outcomes through the same stats code compare uses."""
    import numpy as np

    from ragft.evaluate.compare import Comparison, StrategySummary
    from ragft.evaluate.stats import decide

    arrays = {s: np.array(v, dtype=float) for s, v in correct.items()}
    costs = {"base": 0.01, "rag": 0.02, "ft": 0.015, "hybrid": 0.03}
    d = decide(arrays, arrays, {s: costs[s] for s in arrays})
    summaries = {s: StrategySummary(exact_match=a.mean(), f1=a.mean(), faithfulness=None, citation_accuracy=None,
                                    abstention_rate=0.0, latency_ms_p50=1000.0, latency_ms_p95=2000.0,
                                    cost_per_1k=costs[s], answer_correctness=a.mean(), n=len(a))
                 for s, a in arrays.items()}
    comparison = Comparison(summaries, d.recommended, [], decision=d)
    folder = tmp_path / name
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(comparison.to_dict()))
    return load_report(folder), d


def test_from_report_warns_and_ignores_differences_that_are_not_significant(tmp_path):
    # 40 questions: ft right on 12, rag on 10 (2 discordant): too few to tell, so measurements prefer none.
    rag = [1.0] * 10 + [0.0] * 30
    ft = [1.0] * 12 + [0.0] * 28
    report, d = _compare_report(tmp_path, {"rag": rag, "ft": ft})
    assert report.decision["significant"] is False and d.best == "ft"
    a = advise(make_inputs(), report=report)
    f = next(f for f in a.findings if f.rule == "measured_f1")
    assert f.deltas == {} and "not significant" in f.reason
    assert a.warnings and "not significant" in a.warnings[0] and "too few questions to tell" in a.warnings[0]
    assert a.to_dict()["warnings"] == a.warnings
    assert a.to_dict()["from_report"]["decision"]["recommended"] == d.recommended


def test_from_report_uses_significant_differences(tmp_path):
    # 60 questions: ft right on 40, rag on 8 (32 discordant, all one way): ft significantly better.
    rag = [1.0] * 8 + [0.0] * 52
    ft = [1.0] * 40 + [0.0] * 20
    report, d = _compare_report(tmp_path, {"rag": rag, "ft": ft})
    assert d.significant and d.recommended == "ft"
    a = advise(make_inputs(), report=report)
    assert a.strategy == "ft" and not a.warnings
    f = next(f for f in a.findings if f.rule == "measured_f1")
    assert f.deltas["ft"] - f.deltas["rag"] == pytest.approx(20.0 * (40 / 60 - 8 / 60))


def test_cli_from_report_prints_the_warning(tmp_path):
    from typer.testing import CliRunner

    from ragft.cli import app

    _compare_report(tmp_path, {"rag": [1.0] * 10 + [0.0] * 30, "ft": [1.0] * 12 + [0.0] * 28})
    res = CliRunner().invoke(app, ["advise", "--from-report", str(tmp_path / "cmp"), "-w", str(tmp_path / "ws")])
    assert res.exit_code == 0, res.output
    assert "warning" in res.stdout and "not significant" in res.stdout


def test_docs_defaults_to_the_workspaces_document_count(tmp_path, hash_embedder):
    """A newcomer with 11 documents was advised with "docs = 1000: the base model knows none of your documents"
    beside measured figures: without --docs, advise counts the workspace's documents."""
    from ragft.workspace import Workspace

    empty = Workspace(tmp_path / "empty", embedder=hash_embedder)
    advice = empty.advise(make_inputs())
    assert advice.inputs.docs == 1000 and advice.assumptions["docs_source"] == "default"
    ws = Workspace(tmp_path / "ws", embedder=hash_embedder)
    for i in range(3):
        (tmp_path / f"d{i}.txt").write_text(f"Document {i} says the warehouse opens at {i + 7} am.", encoding="utf-8")
    ws.ingest([tmp_path / f"d{i}.txt" for i in range(3)])
    counted = ws.advise(make_inputs(update_frequency="monthly"))
    assert counted.inputs.docs == 3 and counted.assumptions["docs_source"] == "workspace"
    assert any("docs = 3" in r for r in counted.reasons)
    given = ws.advise(make_inputs(docs=500))
    assert given.inputs.docs == 500 and given.assumptions["docs_source"] == "input"
    ws.close()
    empty.close()
    res = CliRunner().invoke(app, ["advise", "-w", str(tmp_path / "ws"), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["inputs"]["docs"] == 3, res.output
