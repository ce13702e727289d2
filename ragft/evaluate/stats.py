"""Statistics for `ragft compare`: confidence intervals, paired tests and the questions a difference needs.

Every strategy answers the same questions, so the comparison is *paired*: the unit of resampling and testing
is the question, never the single answer. Pure numpy/stdlib, deterministic for a seed.

- `bootstrap_cis`: 95% percentile intervals from a paired bootstrap over questions (Efron & Tibshirani 1993,
  ch. 13). One set of resampled question indices is shared by every strategy and metric. With `--repeats R`
  a question's value is the mean over its R answers, so the bootstrap resamples questions (clusters) and the
  interval carries both question-to-question and sampling (temperature) variation (cluster bootstrap,
  Field & Welsh 2007).
- `mcnemar_exact`: McNemar's test on per-question correctness, exact form: given the b + c discordant
  questions (one right, the other wrong), b ~ Binomial(b + c, 1/2) under "no difference"; two-sided
  p = min(1, 2 P(X <= min(b, c))).
- `sign_flip_test`: paired permutation test on per-question differences of any score (F1, or correctness
  averaged over repeats): under "no difference" each question's difference is as likely +d as -d.
  Exact enumeration up to 2^16 sign patterns, else `n_perm` seeded random flips (p = (1 + hits) / (1 + n_perm),
  Phipson & Smyth 2010). For 0/1 correctness without repeats it reproduces the exact McNemar p.
- `mcnemar_n_needed`: Connor (1987), "Sample size for testing differences in proportions for the
  paired-sample design", Biometrics 43:207-211 (also Lachin 1992):
      n = ( z_{1-a/2} sqrt(psi) + z_{1-beta} sqrt(psi - delta^2) )^2 / delta^2
  with psi = p10 + p01 (discordant share) and delta = p10 - p01, estimated from the observed table.
- `decide`: the recommendation rule built on these (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from statistics import NormalDist
from typing import Any

import numpy as np

ALPHA = 0.05
POWER = 0.80
N_BOOT = 2000
N_PERM = 10_000
COST_ORDER = {"base": 0, "rag": 1, "ft": 2, "hybrid": 3}  # final tie-break: the simpler setup
DECISION_METRIC = "answer_correctness"


# --------------------------------------------------------------------------- intervals
def _question_means(values: np.ndarray) -> np.ndarray:
    """(questions, repeats) -> (questions,) mean over the defined (non-NaN) repeats; NaN when none is defined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        defined = ~np.isnan(values)
        sums = np.where(defined, values, 0.0).sum(axis=1)
        counts = defined.sum(axis=1)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def bootstrap_indices(n_questions: int, seed: int, n_boot: int = N_BOOT) -> np.ndarray:
    """(n_boot, n_questions) resampled question indices; the same draw is used for every strategy (paired)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_questions, size=(n_boot, n_questions))


def bootstrap_ci(values: np.ndarray, idx: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of the mean of `values` (per question, NaN = undefined) over resamples `idx`.

    A resample's mean is over its defined values; resamples with none defined are dropped. None when fewer
    than two questions have a defined value (no spread to estimate)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = _question_means(values)
    if int((~np.isnan(values)).sum()) < 2:
        return None
    sample = values[idx]  # (n_boot, n)
    defined = ~np.isnan(sample)
    counts = defined.sum(axis=1)
    means = np.where(defined, sample, 0.0).sum(axis=1)[counts > 0] / counts[counts > 0]
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_cis(per_question: Mapping[str, Mapping[str, np.ndarray]], seed: int, n_boot: int = N_BOOT
                  ) -> dict[str, dict[str, list[float]]]:
    """{strategy: {metric: [low, high]}} for every metric with at least two defined questions.

    `per_question[strategy][metric]` is an array (questions,) or (questions, repeats) with NaN for undefined.
    All arrays share the question axis, and one resampling of it serves every strategy and metric."""
    n = next((len(a) for m in per_question.values() for a in m.values()), 0)
    if n == 0:
        return {s: {} for s in per_question}
    idx = bootstrap_indices(n, seed, n_boot)
    out: dict[str, dict[str, list[float]]] = {}
    for strategy, metrics in per_question.items():
        out[strategy] = {}
        for metric, values in metrics.items():
            ci = bootstrap_ci(values, idx)
            if ci is not None:
                # Rounded outwards: the shown interval must still contain the estimate (with batched answers
                # every question of a batch has the same latency share, so an interval can be a single value).
                out[strategy][metric] = [sig4(ci[0], ROUND_FLOOR), sig4(ci[1], ROUND_CEILING)]
    return out


def sig4(x: float, rounding: str = ROUND_HALF_EVEN) -> float:
    """`x` to 4 significant digits (costs per question are tiny; scores are in 0..1); `rounding` is a decimal
    rounding mode (ROUND_FLOOR / ROUND_CEILING for the bounds of an interval)."""
    d = Decimal(repr(float(x)))
    if not d.is_finite() or d == 0:
        return float(x)
    return float(d.quantize(Decimal(1).scaleb(d.adjusted() - 3), rounding=rounding))


# --------------------------------------------------------------------------- paired tests
def binom_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), exact (integer arithmetic)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (only A right) and c (only B right)."""
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * binom_cdf_half(min(b, c), n))


def sign_flip_test(diff: np.ndarray, seed: int = 0, n_perm: int = N_PERM) -> float:
    """Two-sided paired permutation p-value for mean(diff) = 0 (NaN differences are left out)."""
    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    d = d[np.abs(d) > 1e-12]
    if d.size == 0:
        return 1.0
    observed = abs(d.sum()) - 1e-9
    if d.size <= 16:  # exact: every sign pattern
        signs = ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1) * 2 - 1
        return float(np.mean(np.abs(signs @ d) >= observed))
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_perm, 2000):
        m = min(2000, n_perm - start)
        signs = rng.integers(0, 2, size=(m, d.size)) * 2 - 1
        hits += int((np.abs(signs @ d) >= observed).sum())
    return (1 + hits) / (1 + n_perm)


def mcnemar_n_needed(p10: float, p01: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Questions at which a paired difference with these discordant rates is significant with `power`
    (Connor 1987; see the module docstring). None when there is no difference (p10 == p01)."""
    delta, psi = p10 - p01, p10 + p01
    if abs(delta) < 1e-12 or psi <= 0:
        return None
    z_a, z_b = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    n = (z_a * math.sqrt(psi) + z_b * math.sqrt(max(psi - delta**2, 0.0))) ** 2 / delta**2
    # The normal approximation fails at the extreme (every question discordant, one way): the exact test
    # cannot reject with fewer than `min_discordant(alpha)` discordant questions, so expect at least that many.
    return max(math.ceil(n), math.ceil(min_discordant(alpha) / psi))


def min_discordant(alpha: float = ALPHA) -> int:
    """Fewest discordant questions at which the two-sided exact McNemar test can reach p < alpha (6 at 0.05)."""
    d = 1
    while mcnemar_exact(d, 0) >= alpha:
        d += 1
    return d


def mcnemar_exact_power(n: int, p10: float, p01: float, alpha: float = ALPHA) -> float:
    """Exact power of the two-sided exact McNemar test at n questions (sums over the discordant count);
    used by the tests to check `mcnemar_n_needed` independently of its formula."""
    psi = p10 + p01
    if psi <= 0:
        return 0.0
    share = p10 / psi
    power = 0.0
    for d in range(1, n + 1):
        p_d = math.comb(n, d) * psi**d * (1 - psi) ** (n - d)
        if p_d < 1e-15:
            continue
        reject = sum(math.comb(d, b) * share**b * (1 - share) ** (d - b) for b in range(d + 1) if mcnemar_exact(b, d - b) < alpha)
        power += p_d * reject
    return power


@dataclass(frozen=True)
class PairTest:
    """The best strategy against one other, on the same questions."""

    other: str
    diff: float  # mean decision metric, best minus other
    b: int  # questions only the best got right
    c: int  # questions only the other got right
    p_value: float  # exact McNemar (sign-flip permutation when repeats make correctness non-binary)
    p_f1: float | None  # paired permutation test on F1
    n_needed: int | None
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        return {"other": self.other, "diff": round(self.diff, 4), "best_only": self.b, "other_only": self.c,
                "p_value": round_p(self.p_value), "p_f1": None if self.p_f1 is None else round_p(self.p_f1),
                "n_needed": self.n_needed, "significant": self.significant}


def pair_test(best: np.ndarray, other: np.ndarray, f1_best: np.ndarray | None, f1_other: np.ndarray | None,
              name: str, seed: int = 0, alpha: float = ALPHA) -> PairTest:
    """Paired tests of `best` against `other`: per-question correctness arrays (questions,) or (questions,
    repeats), NaN where a question failed for either side (those questions are left out of the pair)."""
    a, o = np.asarray(best, float), np.asarray(other, float)
    binary = a.ndim == 1 or a.shape[1] == 1
    a, o = (_question_means(a), _question_means(o)) if a.ndim == 2 else (a, o)
    keep = ~(np.isnan(a) | np.isnan(o))
    a, o = a[keep], o[keep]
    n = int(keep.sum())
    diff = float((a - o).mean()) if n else 0.0
    binary = binary and bool(np.all(np.isin(a, (0.0, 1.0))) and np.all(np.isin(o, (0.0, 1.0))))
    if binary:
        b, c = int(((a == 1) & (o == 0)).sum()), int(((a == 0) & (o == 1)).sum())
        p = mcnemar_exact(b, c)
        p10, p01 = (b / n, c / n) if n else (0.0, 0.0)
    else:  # correctness averaged over repeats: discordance is fractional
        d = a - o
        b, c = int((d > 0).sum()), int((d < 0).sum())
        p = sign_flip_test(d, seed)
        p10, p01 = (float(d[d > 0].sum()) / n, float(-d[d < 0].sum()) / n) if n else (0.0, 0.0)
    p_f1 = None
    if f1_best is not None and f1_other is not None:
        fa, fo = np.asarray(f1_best, float), np.asarray(f1_other, float)
        if fa.ndim == 2:
            fa, fo = _question_means(fa), _question_means(fo)
        p_f1 = sign_flip_test(fa - fo, seed)
    return PairTest(name, diff, b, c, p, p_f1, mcnemar_n_needed(p10, p01, alpha), diff > 0 and p < alpha)


# --------------------------------------------------------------------------- decision
@dataclass
class Decision:
    """`compare --json` -> `decision` (the exact field names are the contract); `tests` go to `significance`."""

    recommended: str | None
    runner_up: str | None
    metric: str
    significant: bool
    p_value: float | None
    n_questions: int
    n_needed: int | None
    reason: str
    best: str | None = None
    tests: list[PairTest] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    verdict: str | None = None
    """How far to trust the choice. "significant": it beats the runner-up. "undecided": the pair is not
    separated, the leader is ahead by at least `MEANINGFUL_LEAD` and fewer questions were asked than `n_needed`
    (rag right on 5 of 6, base on none: p = 0.06; the cheaper base stays the choice until more questions say
    otherwise). "tied": not separated, and the lead is smaller than that (or there is none). None when there is
    no runner-up."""

    def to_dict(self) -> dict[str, Any]:
        return {"recommended": self.recommended, "runner_up": self.runner_up, "metric": self.metric,
                "significant": self.significant, "p_value": None if self.p_value is None else round_p(self.p_value),
                "n_questions": self.n_questions, "n_needed": self.n_needed, "verdict": self.verdict,
                "reason": self.reason}

    def significance(self) -> dict[str, Any]:
        return {"best": self.best, "metric": self.metric, "alpha": ALPHA, "power": POWER,
                "tests": [t.to_dict() for t in self.tests], "excluded": self.excluded}


MEANINGFUL_LEAD = 0.05
"""A lead in mean correctness (5 points) that a user would act on. A gap that is not significant and smaller than
this reads "indistinguishable" (`Decision.verdict` "tied"): a gap of a few answers in 200 (p = 0.75) needed ~3,900
questions to decide (docs/benchmarks.md, ## Compare), which nobody should run for it. A larger one reads "too few to
tell" ("undecided")."""


def round_p(p: float) -> float:
    """A p-value for JSON: 4 significant digits, never rounded to 0 (7.6e-06 stays 7.6e-06; `round(p, 4)` had
    written 0.0 beside the terminal's "p = 7.6e-06")."""
    return float(f"{p:.4g}")


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p < 0.01 else f"{p:.2f}"


def decide(
    correct: Mapping[str, np.ndarray],
    f1: Mapping[str, np.ndarray],
    costs: Mapping[str, float | None],
    answerable: np.ndarray | None = None,
    abstained: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
    alpha: float = ALPHA,
) -> Decision:
    """Pick the strategy to run, with the evidence.

    1. Candidates: every strategy with a defined decision metric, except one that answers none of the
       answerable questions (it abstains on all of them): silence must not win, however many unanswerable
       questions the set holds. (If every strategy is like that, none is excluded.)
    2. The best is the highest mean correctness (ties: higher F1, then cheaper, then simpler).
    3. Each other candidate is tested against the best (exact McNemar on correctness, permutation on F1).
       Those not significantly worse at `alpha` stay in the running; among them the cheapest per 1k
       questions wins, then the simpler setup (base < rag < ft < hybrid).
    4. `runner_up` is the strongest alternative to the choice: the second best when the best was chosen
       (then `significant` says whether the best beats it), else the best itself (then `significant` is false
       by construction: the choice is not significantly worse). `p_value`/`n_needed` are for that pair.
    """
    metric = DECISION_METRIC
    means = {s: float(np.nanmean(_question_means(v) if np.ndim(v) == 2 else v))
             for s, v in correct.items() if np.any(~np.isnan(np.asarray(v, float)))}
    n_questions = len(next(iter(correct.values()))) if correct else 0
    if not means:
        return Decision(None, None, metric, False, None, n_questions, None, "no strategy produced a scored answer")
    excluded: dict[str, str] = {}
    if answerable is not None and abstained is not None and answerable.any():
        for s in means:
            ab = np.asarray(abstained[s], float)
            ab = _question_means(ab) if ab.ndim == 2 else ab
            if np.all(ab[answerable] >= 1.0):
                excluded[s] = "abstains on every answerable question"
        if len(excluded) == len(means):
            excluded = {}
    pool = {s: m for s, m in means.items() if s not in excluded}
    f1_mean = {s: float(np.nanmean(_question_means(f1[s]) if np.ndim(f1[s]) == 2 else f1[s])) if s in f1 else 0.0 for s in pool}

    def cost(s: str) -> float:
        c = costs.get(s)
        return c if c is not None and math.isfinite(c) else math.inf

    ranked = sorted(pool, key=lambda s: (-round(pool[s], 9), -round(f1_mean[s], 9), cost(s), COST_ORDER.get(s, 9)))
    best = ranked[0]
    tests = [pair_test(correct[best], correct[s], f1.get(best), f1.get(s), s, seed, alpha) for s in ranked[1:]]
    by_name = {t.other: t for t in tests}
    tied = [best] + [t.other for t in tests if not t.significant]
    chosen = min(tied, key=lambda s: (cost(s), COST_ORDER.get(s, 9)))
    if len(ranked) == 1:
        why = f"only {best} was scored" + (f" ({', '.join(f'{s}: {r}' for s, r in excluded.items())})" if excluded else "")
        return Decision(best, None, metric, False, None, n_questions, None, why, best, tests, excluded)
    if chosen == best:
        runner = ranked[1]
        t = by_name[runner]
        if t.significant:
            reason = (f"{best} beats {runner} at n = {n_questions} (p = {_fmt_p(t.p_value)}, {metric} "
                      f"{pool[best]:.3f} vs {pool[runner]:.3f})")
        else:
            cheaper = "the cheaper" if cost(best) < cost(runner) else "the simpler" if cost(best) == cost(runner) else "the better"
            reason = f"{_undecided(best, runner, t, pool, metric, n_questions)}; choosing {best}, {cheaper}"
    else:
        runner, t = best, by_name[chosen]
        why = "the cheaper" if cost(chosen) < cost(best) else "the simpler"
        reason = f"{_undecided(best, chosen, t, pool, metric, n_questions)}; choosing {chosen}, {why}"
    worse = [x.other for x in tests if x.significant and not (chosen == best and x.other == runner)]
    if worse:
        reason += f"; {', '.join(worse)} significantly worse than {best}"
    if excluded:
        reason += "; not a candidate: " + ", ".join(f"{s} ({r})" for s, r in excluded.items())
    significant = chosen == best and t.significant
    verdict = "significant" if significant else "undecided" if _too_few(t, pool[best] - pool[t.other], n_questions) else "tied"
    return Decision(chosen, runner, metric, significant, t.p_value, n_questions, t.n_needed, reason, best, tests, excluded,
                    verdict)


def _undecided(best: str, other: str, t: PairTest, means: Mapping[str, float], metric: str, n: int) -> str:
    """Why a pair that the test does not separate is not separated: too few questions for a meaningful lead
    (`Decision.verdict` "undecided": the lead is named with its means, so "base" chosen at 0/6 against rag's 5/6
    does not read as "rag is no better"), or a lead too small to matter ("indistinguishable", "tied")."""
    if _too_few(t, means[best] - means[other], n):
        return (f"{best} leads {other} ({metric} {means[best]:.3f} vs {means[other]:.3f}) but n = {n} is too few to "
                f"tell (p = {_fmt_p(t.p_value)}){_more(t)}")
    return f"{best} and {other} are indistinguishable at n = {n} (p = {_fmt_p(t.p_value)}){_more(t)}"


def _too_few(t: PairTest, lead: float, n: int) -> bool:
    """The pair `t` is not separated only for want of questions: a meaningful lead (`MEANINGFUL_LEAD`) that more
    questions than the `n` asked would separate."""
    return not t.significant and lead >= MEANINGFUL_LEAD - 1e-12 and t.n_needed is not None and t.n_needed > n


def _more(t: PairTest) -> str:
    if t.n_needed is None:
        return "; they differ on no question, so no number of questions would separate them"
    return f"; about {t.n_needed} questions would separate them"


def as_matrix(rows: Sequence[Sequence[float | None]]) -> np.ndarray:
    """(questions, repeats) float array from per-question lists of per-repeat values (None -> NaN)."""
    width = max((len(r) for r in rows), default=1) or 1
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            if v is not None and isinstance(v, (int, float)) and math.isfinite(v):
                out[i, j] = float(v)
    return out
