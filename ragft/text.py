"""Shared text primitives: word tokens, English stopwords, the plural fold, whitespace normalisation.

One home for what several modules need to agree on: the SQLite and PostgreSQL stores must turn a query into the
same terms (a search must not change with the backend), and citation checks must fold words the same way
everywhere. Pure functions, no heavy imports (bm25s's stopword list is a plain Python module).
"""

from __future__ import annotations

import re
import unicodedata

WORD = re.compile(r"[^\W_]+", re.UNICODE)
"""A word token: a run of letters/digits (underscores split words, as the FTS5 unicode61 tokenizer does)."""


def _english_stopwords() -> frozenset[str]:
    """English stopwords: bm25s's list (the one its SciFact baseline uses)."""
    try:
        from bm25s.stopwords import STOPWORDS_EN

        return frozenset(STOPWORDS_EN)
    except ImportError:  # pragma: no cover - bm25s is a dependency; keep the stores importable without it
        return frozenset()


ENGLISH_STOPWORDS: frozenset[str] = _english_stopwords()


def query_terms(text: str, drop_stopwords: bool = True) -> list[str]:
    """Distinct lower-cased word tokens of `text` in first-seen order; stopwords dropped unless that leaves
    nothing (a query of only stopwords still searches). Both stores build their full-text query from this."""
    terms = list(dict.fromkeys(t.lower() for t in WORD.findall(text)))
    if drop_stopwords:
        kept = [t for t in terms if t not in ENGLISH_STOPWORDS]
        terms = kept or terms
    return terms


def fold_plural(word: str) -> str:
    """Plural fold so "widgets" matches "widget" and "policies" matches "policy"; deliberately cruder than a
    stemmer (no false merges). Expects a lower-cased word."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def normalise_text(text: str) -> str:
    """NFC, unix newlines, no trailing spaces, at most one blank line: formatting noise must not count as change."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
