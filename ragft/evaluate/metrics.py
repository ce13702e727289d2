"""QA metrics for `ragft compare`: pure functions over strings and numbers, no model, no I/O.

Normalisation follows the SQuAD v1.1 evaluation script (Rajpurkar et al. 2016): lowercase, drop punctuation,
drop the articles a/an/the, collapse whitespace. Unicode text is NFKC-folded first so that full-width digits,
ligatures and non-breaking spaces compare equal to their plain forms, and punctuation means every Unicode
character whose category starts with "P" (the SQuAD script only strips ASCII punctuation, which leaves
"«Paris»" unequal to "Paris").

Every function here returns None when the metric is undefined for its input (for example citation accuracy
of an answer without citations): callers average only the defined values and report how many there were,
so an undefined score is never silently counted as 0.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
YES_NO = frozenset({"yes", "no"})


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation (see module docstring)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall over the normalised bags of words (SQuAD F1).

    Two empty answers agree (1.0); one empty and one not share nothing (0.0).
    """
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _contains_run(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def max_correct_length(gold_tokens: int) -> int:
    """Longest prediction (in normalised tokens) that may still earn contains-gold credit."""
    return max(20, 5 * gold_tokens)


def answer_correct(prediction: str, gold: str) -> float:
    """Lenient correctness for short gold answers, as 1.0/0.0.

    Small models rarely answer with the bare span ("1832"); they say "He began his career in 1832.".
    The rule, on normalised tokens:
    - exact match is correct;
    - a yes/no gold answer is correct when the first "yes" or "no" in the prediction is the gold one
      ("Yes, he did." is correct for "yes"; "No." is not);
    - otherwise the gold tokens must appear as one contiguous run in the prediction, and the prediction
      must be short: at most max(20, 5 x gold length) tokens, so pasting a whole passage earns nothing.
    """
    if exact_match(prediction, gold):
        return 1.0
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not ref or not pred:
        return 0.0
    if len(ref) == 1 and ref[0] in YES_NO:
        first = next((t for t in pred if t in YES_NO), None)
        return float(first == ref[0])
    if len(pred) > max_correct_length(len(ref)):
        return 0.0
    return float(_contains_run(pred, ref))


def text_contains_answer(text: str, gold: str) -> bool | None:
    """Whether `text` contains the gold answer as a normalised token run; None when that is no evidence.

    A yes/no or empty gold answer says nothing about which passage supports it, hence None.
    """
    ref = answer_tokens(gold)
    if not ref or (len(ref) == 1 and ref[0] in YES_NO):
        return None
    return _contains_run(answer_tokens(text), ref)


def citation_accuracy(
    cited: Sequence[tuple[str, str]],
    gold: str,
    gold_doc_id: str | None = None,
) -> float | None:
    """Share of citations that point at gold evidence. `cited` holds (doc_id, chunk text) per citation.

    A citation is correct when it belongs to the gold document (if the QA row names one), else when its
    chunk contains the gold answer. None when there are no citations or nothing to check against.
    """
    if not cited:
        return None
    if gold_doc_id:
        return sum(doc_id == gold_doc_id for doc_id, _ in cited) / len(cited)
    verdicts = [text_contains_answer(text, gold) for _, text in cited]
    if any(v is None for v in verdicts):
        return None
    return sum(bool(v) for v in verdicts) / len(verdicts)


def retrieval_recall(
    retrieved: Sequence[tuple[str, str]],
    gold: str,
    gold_doc_id: str | None = None,
) -> float | None:
    """Recall@k of one question: 1.0 when gold evidence is among the k retrieved (doc_id, chunk text) pairs.

    Gold evidence is the gold document when known, else any chunk containing the gold answer ("answer
    recall", as in DPR, Karpukhin et al. 2020). Retrieving nothing is a miss (0.0); None only when there is
    no way to check (a yes/no gold answer without a doc_id).
    """
    if gold_doc_id:
        return float(any(doc_id == gold_doc_id for doc_id, _ in retrieved))
    if text_contains_answer("", gold) is None:
        return None
    return float(any(text_contains_answer(text, gold) for _, text in retrieved))


def is_finite(value: float | None) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def mean_defined(values: Iterable[float | None]) -> tuple[float | None, int]:
    """Mean of the finite values and how many there were; (None, 0) when there are none.

    NaN and None are left out of the mean rather than counted as 0; callers report the count.
    """
    xs = [float(v) for v in values if is_finite(v)]
    return (sum(xs) / len(xs) if xs else None), len(xs)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear-interpolated percentile (numpy's default) of the finite values; None for an empty list."""
    xs = sorted(float(v) for v in values if is_finite(v))
    if not xs:
        return None
    pos = (len(xs) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def cost_per_1k(
    *,
    mean_seconds: float | None,
    mean_tokens_in: float | None,
    mean_tokens_out: float | None,
    remote: bool,
    hour_usd: float,
    input_token_usd: float,
    output_token_usd: float,
) -> float | None:
    """Estimated $ for 1,000 questions.

    Local generator: the machine is paid by the hour, so cost = $/h x measured seconds per question x 1000.
    Remote (API) generator: cost = tokens in x $/input token + tokens out x $/output token, per question x 1000.
    None when the needed measurement is missing (every question failed).
    """
    if remote:
        if mean_tokens_in is None or mean_tokens_out is None:
            return None
        return 1000.0 * (mean_tokens_in * input_token_usd + mean_tokens_out * output_token_usd)
    if mean_seconds is None:
        return None
    return 1000.0 * mean_seconds * hour_usd / 3600.0


def training_cost(train_seconds: float | None, hour_usd: float) -> float | None:
    """One-off $ to train an adapter: recorded training seconds x $/h; None when not recorded."""
    if not is_finite(train_seconds):
        return None
    return float(train_seconds) * hour_usd / 3600.0  # type: ignore[arg-type]
