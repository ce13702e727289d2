"""Cost model arithmetic, checked against numbers computed by hand (the comments show the working)."""

from __future__ import annotations

import math

import pytest

from ragft.config import PriceSettings
from ragft.costs import (
    ADAPTER_MB,
    GPU,
    MeasuredCost,
    Throughput,
    Workload,
    break_even_queries_per_day,
    estimate_costs,
)

# Round numbers so the hand arithmetic is easy: $0.36/h = $0.0001/s.
TP = Throughput(embed_tokens_per_s=1000, prefill_tokens_per_s=100, decode_tokens_per_s=10, train_tokens_per_s=100,
                retrieval_ms=100, source="test")
PRICES = PriceSettings(cpu_hour_usd=0.36, gpu_hour_usd=3.6, input_token_usd=1e-6, output_token_usd=2e-6,
                       storage_gb_month_usd=0.5)


def workload(**kw) -> Workload:
    base = dict(docs=100, queries_per_day=10, updates_per_month=4, change_fraction=0.25, tokens_per_doc=500,
                chunk_tokens=200, chunk_overlap=40, k=5, max_context_tokens=1200, answer_tokens=50,
                training_examples=300, epochs=2, raft_distractors=3, hardware="cpu", serving="self-hosted",
                horizon_months=10)
    base.update(kw)
    return Workload(**base)


def line(costs, strategy, item):
    return next(x for x in costs[strategy].lines if x.item == item)


def test_sizes_by_hand():
    w = workload()
    # stride 200 - 40 = 160; ceil((500 - 40) / 160) = ceil(2.875) = 3 chunks per doc
    assert w.chunks == 300
    assert w.context_tokens == 1000  # min(5 x 200, 1200)
    assert w.prompt_tokens("rag") == 1070 and w.prompt_tokens("ft") == 70  # 40 overhead + 30 question (+ context)
    assert w.example_tokens("ft") == 69 and w.example_tokens("hybrid") == 69 + 800
    assert workload(docs=0).chunks == 0
    assert workload(tokens_per_doc=10).chunks == 100  # a short document is still one chunk
    assert workload(training_examples=None).examples == 200  # 2 per document


def test_cost_lines_by_hand():
    c = estimate_costs(workload(), PRICES, TP)
    # embed: 300 chunks x 200 tokens = 60,000 tokens / 1,000 tok/s = 60 s x $0.0001/s = $0.006
    assert line(c, "rag", "embed corpus").usd == pytest.approx(0.006)
    # re-index: 4 updates x 25 % changed x $0.006 = $0.006 / month
    assert line(c, "rag", "re-index changed documents").usd == pytest.approx(0.006)
    # rag query: 0.1 s retrieval + 1,070 / 100 s prefill + 50 / 10 s decode = 15.8 s -> $0.00158; x 10/day x 30 days
    assert c["rag"].per_query_usd == pytest.approx(0.00158)
    assert line(c, "rag", "inference").usd == pytest.approx(0.474)
    assert c["rag"].latency_ms == pytest.approx(15800)
    # ft query: 70 / 100 + 50 / 10 = 5.7 s -> $0.00057 -> $0.171 / month
    assert c["ft"].per_query_usd == pytest.approx(0.00057)
    assert line(c, "ft", "inference").usd == pytest.approx(0.171)
    # ft training: 300 examples x 69 tokens x 2 epochs = 41,400 tokens / 100 tok/s = 414 s -> $0.0414; 4 runs/month
    assert line(c, "ft", "train adapter").usd == pytest.approx(0.0414)
    assert c["ft"].train_hours_per_run == pytest.approx(414 / 3600)
    assert line(c, "ft", "re-train on updates").usd == pytest.approx(0.1656)
    # hybrid (RAFT) training: 300 x 869 x 2 = 521,400 tokens / 100 = 5,214 s -> $0.5214; refreshed 1/3 per month
    assert line(c, "hybrid", "train RAFT adapter").usd == pytest.approx(0.5214)
    assert line(c, "hybrid", "re-train on updates").usd == pytest.approx(0.5214 / 3)
    # storage: 300 x (384 x 4 + 2 x 200 x 4) = 940,800 bytes = 0.0009408 GB x $0.5; adapter 3.7 MB x $0.5/GB
    assert line(c, "rag", "storage").usd == pytest.approx(0.0009408 * 0.5)
    assert line(c, "ft", "storage").usd == pytest.approx(ADAPTER_MB / 1000 * 0.5)
    # totals
    assert c["rag"].one_off_usd == pytest.approx(0.006)
    assert c["rag"].monthly_usd == pytest.approx(0.006 + 0.474 + 0.0004704)
    assert c["rag"].amortised_monthly_usd == pytest.approx(0.4804704 + 0.006 / 10)
    assert c["ft"].amortised_monthly_usd == pytest.approx(0.1656 + 0.171 + 0.00185 + 0.0414 / 10)
    assert c["ft"].first_month_usd == pytest.approx(0.0414 + 0.33845)
    # base: only inference, same prompt as ft, no index, no adapter
    assert [x.item for x in c["base"].lines] == ["inference"]
    assert c["base"].per_query_usd == pytest.approx(c["ft"].per_query_usd)


def test_every_line_shows_its_inputs():
    c = estimate_costs(workload(), PRICES, TP)
    for cost in c.values():
        for x in cost.lines:
            assert x.formula and x.inputs, x
            d = x.to_dict()
            assert set(d) == {"item", "kind", "usd", "formula", "inputs"}


def test_api_serving_prices_tokens():
    c = estimate_costs(workload(serving="api"), PRICES, TP)
    # rag: 1,070 x $1e-6 + 50 x $2e-6 + 0.1 s retrieval on the CPU box (0.1 x $0.0001) = $0.00118
    assert c["rag"].per_query_usd == pytest.approx(0.00107 + 0.0001 + 0.00001)
    assert c["ft"].per_query_usd == pytest.approx(0.00007 + 0.0001)
    assert c["rag"].latency_ms is None  # someone else's server: unknown unless measured


def test_gpu_uses_gpu_price_and_is_labelled_assumed():
    c = estimate_costs(workload(hardware="gpu"), PRICES, TP)
    assert line(c, "rag", "embed corpus").usd == pytest.approx(60 / 3600 * 3.6)
    assert "ASSUMED" in GPU.source
    default_gpu = estimate_costs(workload(hardware="gpu"), PRICES)
    default_cpu = estimate_costs(workload(hardware="cpu"), PRICES)
    assert default_gpu["ft"].train_hours_per_run < default_cpu["ft"].train_hours_per_run


def test_measured_figures_replace_estimates():
    c = estimate_costs(workload(), PRICES, TP, measured={"rag": MeasuredCost(cost_per_1k=2.0, latency_ms_p95=900.0)})
    assert c["rag"].per_query_usd == pytest.approx(0.002)
    assert line(c, "rag", "inference").usd == pytest.approx(0.002 * 10 * 30)
    assert c["rag"].latency_ms == 900.0
    assert c["rag"].measured == ["cost_per_1k", "latency_ms_p95"]
    assert c["ft"].measured == [] and c["ft"].per_query_usd == pytest.approx(0.00057)


def test_break_even_by_hand_and_by_recomputation():
    c = estimate_costs(workload(), PRICES, TP)
    # fixed (amortised minus inference): ft 0.34259 - 0.171; rag 0.4810704 - 0.474; per-query gap (0.00158 - 0.00057) x 30
    expected = ((0.34259 - 0.171) - (0.4810704 - 0.474)) / ((0.00158 - 0.00057) * 30)
    q = break_even_queries_per_day(c["ft"], c["rag"])
    assert q == pytest.approx(expected)
    at = estimate_costs(workload(queries_per_day=q), PRICES, TP)
    assert at["ft"].amortised_monthly_usd == pytest.approx(at["rag"].amortised_monthly_usd)
    above = estimate_costs(workload(queries_per_day=q * 2), PRICES, TP)
    assert above["ft"].amortised_monthly_usd < above["rag"].amortised_monthly_usd
    # more retraining moves the break-even up: it is computed, not a constant
    daily = estimate_costs(workload(updates_per_month=30), PRICES, TP)
    assert break_even_queries_per_day(daily["ft"], daily["rag"]) > q


def test_break_even_none_when_ft_not_cheaper_per_query():
    c = estimate_costs(workload(), PRICES, TP, measured={"ft": MeasuredCost(cost_per_1k=5.0)})
    assert break_even_queries_per_day(c["ft"], c["rag"]) is None
    assert math.isfinite(c["ft"].amortised_monthly_usd)
