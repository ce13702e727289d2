"""Faithfulness: the share of an answer's claims that the context given to the model supports.

Two checkers share one small protocol (`ClaimChecker`):
- `OverlapChecker` (default, offline, deterministic): a claim is one answer sentence; it is supported when at
  least `threshold` of its content words (stopwords and citation markers removed, plurals folded by
  `ragft.text.fold_plural`) occur in the context. Crude next to an NLI model, but it needs no weights, never calls out, and catches
  the failure that matters most for small models: stating things that are not in the sources.
- `LlmJudge` (optional, off by default): asks an OpenAI-compatible generator "is this claim supported by
  this context? yes/no" per claim, as RAGAS-style faithfulness does (Es et al. 2023).

A sentence without content words ("Yes.") makes no checkable claim and is skipped; an answer with no
checkable claim, or a strategy with no context (base, ft), has undefined faithfulness (None), never 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ragft.errors import ConfigError
from ragft.evaluate.metrics import normalize_answer
from ragft.text import ENGLISH_STOPWORDS, fold_plural

if TYPE_CHECKING:
    from ragft.evaluate.seams import EvalWorkspace
    from ragft.models.base import Generator

_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

# Function words that carry no checkable content: the shared English list (`ragft.text`) plus pronouns,
# auxiliaries, quantifiers and "source"/"answer" (a short list on purpose: content words must stay).
STOPWORDS = ENGLISH_STOPWORDS | frozenset(
    """
    the of to from onto were been being am do does did has have had having its those here he she them his her
    we us our you your i me my yes than too very can could would shall should may might must which who whom
    whose what when where why how all any both each few more most other some only own same also just about so
    over under again further once up down out off per via according source sources answer
    """.split()
)


def content_words(text: str) -> list[str]:
    """Normalised words of `text` that are not stopwords, plurals folded (`ragft.text.fold_plural`, the fold
    citation checks use: "cities" and "city" are one word)."""
    return [fold_plural(w) for w in normalize_answer(_CITATION.sub(" ", text)).split() if w not in STOPWORDS]


def split_claims(answer: str) -> list[str]:
    """Answer sentences that contain at least one content word."""
    parts = _SENTENCE_END.split(_CITATION.sub("", answer or "").strip())
    return [p.strip() for p in parts if p.strip() and content_words(p)]


@dataclass(frozen=True)
class Faithfulness:
    """Per-answer result: `score` = supported / claims, None when there is nothing to check."""

    score: float | None
    claims: int
    supported: int
    unsupported: tuple[str, ...] = ()


class ClaimChecker(Protocol):
    name: str

    def supported(self, claim: str, context: str) -> bool:
        """Whether `context` supports `claim`."""
        ...


class OverlapChecker:
    """Lexical support: share of the claim's content words present in the context >= threshold."""

    name = "overlap"

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.threshold = threshold
        self._vocab_cache: tuple[str, frozenset[str]] | None = None

    def _vocab(self, context: str) -> frozenset[str]:
        # The same context is checked against every claim of an answer: tokenise it once.
        if self._vocab_cache is None or self._vocab_cache[0] != context:
            self._vocab_cache = (context, frozenset(content_words(context)))
        return self._vocab_cache[1]

    def supported(self, claim: str, context: str) -> bool:
        words = content_words(claim)
        if not words:
            return True
        vocab = self._vocab(context)
        return sum(w in vocab for w in words) / len(words) >= self.threshold


class LlmJudge:
    """Asks a (remote) generator whether a claim is supported; the first yes/no of its reply decides."""

    name = "llm"
    PROMPT = (
        "Context:\n{context}\n\nClaim: {claim}\n\n"
        "Is the claim fully supported by the context? Reply with one word: yes or no."
    )

    def __init__(self, generator: "Generator", max_context_chars: int = 6000) -> None:
        self.generator = generator
        self.max_context_chars = max_context_chars

    def supported(self, claim: str, context: str) -> bool:
        prompt = self.PROMPT.format(context=context[: self.max_context_chars], claim=claim)
        reply = self.generator.generate([{"role": "user", "content": prompt}], max_tokens=4, temperature=0.0)
        words = normalize_answer(reply).split()
        return next((w for w in words if w in ("yes", "no")), "no") == "yes"


def faithfulness(answer: str, contexts: Sequence[str], checker: ClaimChecker) -> Faithfulness:
    """Score one answer against the texts given to the model (retrieved chunks) or cited by it."""
    context = "\n".join(c for c in contexts if c)
    claims = split_claims(answer)
    if not context.strip() or not claims:
        return Faithfulness(None, len(claims), 0)
    unsupported = tuple(c for c in claims if not checker.supported(c, context))
    supported = len(claims) - len(unsupported)
    return Faithfulness(supported / len(claims), len(claims), supported, unsupported)


def make_checker(ws: "EvalWorkspace") -> ClaimChecker:
    """The claim checker `compare.faithfulness` selects (`overlap`, or `llm` with the judge it names)."""
    cfg = ws.settings.compare
    if cfg.faithfulness == "overlap":
        return OverlapChecker(cfg.support_threshold)
    if not cfg.judge_model or not cfg.judge_base_url:
        raise ConfigError("compare.faithfulness = \"llm\" needs compare.judge_model and compare.judge_base_url in ragft.toml")
    from ragft.config import GeneratorSettings
    from ragft.models.registry import load_generator

    judge = load_generator(
        GeneratorSettings(kind="openai", model=cfg.judge_model, base_url=cfg.judge_base_url, api_key_env=cfg.judge_api_key_env)
    )
    return LlmJudge(judge)
