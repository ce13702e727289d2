"""ragft/evaluate/stats.py on synthetic per-question outcomes whose true difference is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragft.evaluate.stats import (
    as_matrix,
    bootstrap_ci,
    bootstrap_cis,
    bootstrap_indices,
    decide,
    mcnemar_exact,
    mcnemar_exact_power,
    mcnemar_n_needed,
    pair_test,
    sign_flip_test,
)


def _paired(n: int, p_a: float, p_b: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < p_a).astype(float), (rng.random(n) < p_b).astype(float)


def test_large_true_difference_is_significant_with_small_p():
    good, bad = _paired(200, 0.6, 0.2, seed=3)
    d = decide({"hybrid": good, "rag": bad}, {"hybrid": good, "rag": bad}, {"hybrid": 2.0, "rag": 1.0})
    assert d.recommended == "hybrid" and d.runner_up == "rag"
    assert d.significant is True
    assert d.p_value < 1e-6
    assert d.n_questions == 200
    assert "beats rag" in d.reason
    assert d.tests[0].p_f1 < 1e-3
    # JSON keeps 4 significant digits, never 0: the terminal's "p = 7.6e-06" and the report's p_value agree
    assert 0 < d.to_dict()["p_value"] == float(f"{d.p_value:.4g}")
    assert 0 < d.tests[0].to_dict()["p_value"] == float(f"{d.tests[0].p_value:.4g}")


def test_identical_strategies_are_not_significant_and_the_cheaper_wins():
    same, _ = _paired(40, 0.3, 0.3, seed=1)
    d = decide({"hybrid": same, "rag": same.copy()}, {"hybrid": same, "rag": same.copy()}, {"hybrid": 2.0, "rag": 1.0})
    assert d.significant is False
    assert d.p_value == 1.0
    assert d.n_needed is None
    assert d.recommended == "rag"
    assert "indistinguishable at n = 40" in d.reason and "choosing rag, the cheaper" in d.reason
    assert d.verdict == "tied" and d.to_dict()["verdict"] == "tied"


def test_a_lead_on_too_few_questions_is_undecided_not_indistinguishable():
    """rag right on 5 of 6, base on none: p = 0.0625, so the cheaper base stays the choice, but the verdict and
    the reason say that the questions are too few, and name the lead with its means."""
    rag, base = np.array([1.0] * 5 + [0.0]), np.zeros(6)
    d = decide({"base": base, "rag": rag}, {"base": base, "rag": rag}, {"base": 0.1, "rag": 0.2})
    assert d.recommended == "base" and d.runner_up == "rag" and d.best == "rag" and not d.significant
    assert d.n_needed is not None and d.n_needed > 6 and d.verdict == "undecided"
    assert d.reason.startswith("rag leads base (answer_correctness 0.833 vs 0.000) but n = 6 is too few to tell")
    assert d.reason.endswith("choosing base, the cheaper")
    more = np.tile(rag, 3), np.tile(base, 3)  # the same lead on 18 questions: significant, rag
    d = decide({"base": more[1], "rag": more[0]}, {"base": more[1], "rag": more[0]}, {"base": 0.1, "rag": 0.2})
    assert d.recommended == "rag" and d.verdict == "significant"
    # A lead under MEANINGFUL_LEAD: one answer in 200 (11 only rag, 10 only base) is a tie, not a call for more
    rag, base = np.zeros(200), np.zeros(200)
    rag[:11] = 1
    base[11:21] = 1
    d = decide({"base": base, "rag": rag}, {"base": base, "rag": rag}, {"base": 0.1, "rag": 0.2})
    assert d.recommended == "base" and d.n_needed is not None and d.n_needed > 200 and d.verdict == "tied"
    assert d.reason.startswith("rag and base are indistinguishable at n = 200")


def test_small_difference_keeps_the_cheaper_and_says_how_many_questions_would_decide():
    # 40 questions: hybrid right on 3 that rag misses, rag right on 1 that hybrid misses.
    rag = np.zeros(40)
    hybrid = np.zeros(40)
    rag[:8] = hybrid[:8] = 1
    hybrid[8:11] = 1
    rag[11] = 1
    d = decide({"rag": rag, "hybrid": hybrid}, {"rag": rag, "hybrid": hybrid}, {"rag": 0.5, "hybrid": 0.9})
    assert d.recommended == "rag" and d.runner_up == "hybrid" and not d.significant
    assert d.p_value == pytest.approx(mcnemar_exact(3, 1))
    assert d.n_needed == mcnemar_n_needed(3 / 40, 1 / 40)
    assert f"about {d.n_needed} questions would separate them" in d.reason


def test_exact_mcnemar_matches_hand_computation():
    # b = 1, c = 9: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


def test_sign_flip_on_binary_differences_is_the_exact_mcnemar_test():
    diff = np.array([1.0] * 3 + [-1.0] * 12 + [0.0] * 25)
    assert sign_flip_test(diff) == pytest.approx(mcnemar_exact(3, 12))


@pytest.mark.parametrize("p10, p01", [(0.05, 0.45), (0.25, 0.10), (0.15, 0.05), (0.2, 0.1)])
def test_n_needed_matches_connor_1987_within_10_percent(p10, p01):
    # Textbook value, Connor (1987) Biometrics 43:207-211 eq. for the paired design, alpha 0.05 two-sided,
    # power 0.80: n = (1.959964 sqrt(psi) + 0.841621 sqrt(psi - delta^2))^2 / delta^2, written out here.
    psi, delta = p10 + p01, p10 - p01
    textbook = (1.959964 * math.sqrt(psi) + 0.841621 * math.sqrt(psi - delta**2)) ** 2 / delta**2
    n = mcnemar_n_needed(p10, p01)
    assert abs(n - textbook) / textbook <= 0.10
    # ...and independently of the formula: the exact McNemar test reaches about 80% power there.
    assert 0.72 <= mcnemar_exact_power(n, p10, p01) <= 0.88


def test_connor_worked_example_is_22_questions():
    # p10 = 0.05, p01 = 0.45: the pwr.mcnemar example quotes n = 22 for 80% power (22.01 before rounding up).
    assert mcnemar_n_needed(0.05, 0.45) in (22, 23)
    assert mcnemar_n_needed(0.2, 0.2) is None


def test_intervals_contain_the_true_mean_in_at_least_93_percent_of_500_runs():
    rng = np.random.default_rng(2026)
    true_p, n = 0.3, 100
    hits = 0
    for run in range(500):
        x = (rng.random(n) < true_p).astype(float)
        low, high = bootstrap_ci(x, bootstrap_indices(n, seed=run, n_boot=2000))
        hits += low <= true_p <= high
    assert hits / 500 >= 0.93


def test_intervals_with_repeats_cover_the_question_level_mean():
    # Each question has its own success rate; 3 sampled answers per question. The target is the mean rate.
    rng = np.random.default_rng(7)
    hits = 0
    for run in range(200):
        rates = rng.beta(2, 5, size=60)
        answers = (rng.random((60, 3)) < rates[:, None]).astype(float)
        low, high = bootstrap_ci(answers, bootstrap_indices(60, seed=run))
        hits += low <= 2 / 7 <= high
    assert hits / 200 >= 0.90


def test_intervals_are_deterministic_per_seed_and_skip_undefined_values():
    x = np.array([1, 0, np.nan, 1, 1, 0, np.nan, 0, 1, 1], dtype=float)
    a = bootstrap_cis({"rag": {"f1": x, "faithfulness": np.full(10, np.nan)}}, seed=5)
    b = bootstrap_cis({"rag": {"f1": x, "faithfulness": np.full(10, np.nan)}}, seed=5)
    assert a == b
    assert "faithfulness" not in a["rag"]  # no value -> no interval
    low, high = a["rag"]["f1"]
    assert 0.0 <= low <= 5 / 8 <= high <= 1.0


def test_abstaining_on_everything_never_wins():
    # 30 answerable + 8 unanswerable questions. "silent" abstains always: 8/38 correct.
    # "rag" answers 6 answerable questions right and abstains on none: 6/38 correct.
    answerable = np.array([True] * 30 + [False] * 8)
    silent_correct = (~answerable).astype(float)
    rag_correct = np.zeros(38)
    rag_correct[:6] = 1
    d = decide(
        {"base": silent_correct, "rag": rag_correct}, {"base": silent_correct, "rag": rag_correct},
        {"base": 0.1, "rag": 1.0}, answerable=answerable,
        abstained={"base": np.ones(38), "rag": np.zeros(38)},
    )
    assert d.recommended == "rag"
    assert "abstains on every answerable question" in d.reason


def test_pair_test_leaves_out_questions_that_failed_on_either_side():
    a = np.array([1, 1, 1, np.nan, 0])
    b = np.array([0, 0, 1, 1, np.nan])
    t = pair_test(a, b, None, None, "b")
    assert (t.b, t.c) == (2, 0)


def test_as_matrix_pads_missing_repeats_with_nan():
    m = as_matrix([[1.0, 0.0], [None], [0.5]])
    assert m.shape == (3, 2)
    assert np.isnan(m[1, 0]) and np.isnan(m[2, 1])


def test_n_needed_never_promises_fewer_questions_than_the_exact_test_can_use():
    # Every question discordant one way: Connor's formula says 4, but 4 discordant pairs give p >= 0.125.
    assert mcnemar_n_needed(1.0, 0.0) == 6
    assert mcnemar_exact(6, 0) < 0.05 <= mcnemar_exact(5, 0)


def test_a_rounded_interval_still_contains_its_estimate_even_when_every_value_is_the_same():
    from ragft.evaluate.stats import bootstrap_cis

    # Batched answers share their batch's time: every question can carry the same latency-based cost.
    value = 0.4945174999999999
    cis = bootstrap_cis({"rag": {"cost_per_1k": np.full(6, value), "f1": np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])}}, seed=0)
    low, high = cis["rag"]["cost_per_1k"]
    assert low <= value <= high and (low, high) == (0.4945, 0.4946)
    low, high = cis["rag"]["f1"]
    assert low <= 0.35 <= high
