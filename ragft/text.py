"""Shared text primitives: word tokens, list items, English stopwords, month names, number words and irregular verb
forms, the plural fold, whitespace normalisation.

One home for what several modules need to agree on: the SQLite and PostgreSQL stores must turn a query into the
same terms (a search must not change with the backend), and citation checks must fold words the same way
everywhere. Pure functions, no imports beyond the standard library.
"""

from __future__ import annotations

import re
import unicodedata

WORD = re.compile(r"[^\W_]+", re.UNICODE)
"""A word token: a run of letters/digits (underscores split words, as the FTS5 unicode61 tokenizer does)."""

LIST_ITEM = re.compile(r"(?:[-*+\u2022\u2013]|\d{1,3}[.)])\s+\S")
"""The start of a list item: a bullet ("-", "*", "+", "\u2022", "\u2013") or a number ("1.", "2)"), then a space and
text. The loaders keep such a line on a line of its own; sentence splitting reads it as a sentence of its own."""


# English stopwords: the 33-word list of bm25s 0.3.16 (`bm25s.stopwords.STOPWORDS_EN`, MIT licence, (c) Xing Han
# Lu; the list is Lucene's classic English stop set, the one bm25s's SciFact baseline uses). Vendored as a constant:
# it was the only thing ragft imported from bm25s, which is therefore no runtime dependency.
ENGLISH_STOPWORDS: frozenset[str] = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
})

MONTHS: tuple[str, ...] = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                           "October", "November", "December")
"""Month names (dates in answer spans, finetune/spans.py; time answers, wellformed.py)."""
NUMBER_WORDS: frozenset[str] = frozenset({
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen",
    "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty",
    "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million", "billion", "trillion", "dozen",
})
"""Cardinal number words (quantities in answer spans, finetune/spans.py; count answers, wellformed.py)."""


IRREGULAR_FORMS: dict[str, str] = {
    form: base
    for base, forms in {
        "arise": "arose arisen", "be": "was were been", "bear": "bore borne born", "beat": "beaten",
        "become": "became", "begin": "began begun", "bind": "bound", "bite": "bit bitten", "blow": "blew blown",
        "break": "broke broken", "bring": "brought", "build": "built", "buy": "bought", "catch": "caught",
        "choose": "chose chosen", "come": "came", "dig": "dug", "do": "did done", "draw": "drew drawn",
        "drink": "drank drunk", "drive": "drove driven", "eat": "ate eaten", "fall": "fell fallen", "feed": "fed",
        "feel": "felt", "fight": "fought", "find": "found", "flee": "fled", "fly": "flew flown",
        "forbid": "forbade forbidden", "forget": "forgot forgotten", "freeze": "froze frozen", "get": "got gotten",
        "give": "gave given", "go": "went gone", "grow": "grew grown", "hang": "hung", "have": "had", "hear": "heard",
        "hide": "hid hidden", "hold": "held", "keep": "kept", "know": "knew known", "lay": "laid", "lead": "led",
        "leave": "left", "lend": "lent", "lie": "lay lain", "lose": "lost", "make": "made", "mean": "meant",
        "meet": "met", "pay": "paid", "ride": "rode ridden", "rise": "rose risen", "run": "ran", "say": "said",
        "see": "saw seen", "seek": "sought", "sell": "sold", "send": "sent", "shake": "shook shaken",
        "shine": "shone", "shoot": "shot", "sing": "sang sung", "sink": "sank sunk", "sit": "sat", "sleep": "slept",
        "speak": "spoke spoken", "spend": "spent", "stand": "stood", "steal": "stole stolen", "strike": "struck",
        "swim": "swam swum", "take": "took taken", "teach": "taught", "tear": "tore torn", "tell": "told",
        "think": "thought", "throw": "threw thrown", "understand": "understood", "wake": "woke woken",
        "wear": "wore worn", "win": "won", "write": "wrote written",
    }.items()
    for form in forms.split()
}
"""Past forms of common irregular English verbs -> the verb ("won" -> "win", "made" -> "make"): a stemmer leaves
them apart, so "He won the 1903 Nobel Prize" did not hold the "win" of "Why did he win the Nobel Prize?"."""


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
