"""Is an answer a well-formed answer, or a fragment? One rule shared by answering and evaluation.

Tiny generators under copy-constrained decoding sometimes stop mid-phrase: `1 [1]` for a who/what question,
`Tesla was born ( [1][2]`, `The largest polar bear on record was a (p ) ( ) ( )`. The answer path must never
return such a fragment (it falls back or abstains), and the evaluation metrics must never give one credit
(faithfulness and citation accuracy score it 0). Both ask `degenerate_reason`, so the two can never disagree.

Pure string rules, no model:
- nothing left once citation markers are removed, or no letter or digit at all;
- unbalanced or empty brackets (`(`, `( )`, `[`), an unclosed double quote (`The European immigrants' "`), or
  more bracket/punctuation characters than word characters;
- ends on a word that cannot end an English phrase (an article, a preposition, a conjunction);
- a lone number (or a number and a marker) answering a who/where question, or a what/which question that does not
  ask for a quantity, a date or a code; a bare number without a unit for a "how long" question.
- an answer that only repeats words of the question (`Tesla was born` for "When was Tesla born?"): it names
  nothing the question did not, so it answers nothing (a choice question, "X or Y?", may answer with its words).
A bare "Yes"/"No" is well-formed.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NUMBER = re.compile(r"^[\d.,:/%$€£-]+$")
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}")
DANGLING_ENDINGS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "from", "into", "onto", "than", "as",
    "and", "or", "but", "nor", "that", "which", "whose", "whom", "its", "their", "his", "her", "our", "my", "your",
    "about", "between", "during", "under", "over", "via", "per", "because", "if", "while", "whereas",
})
# A what/which question that mentions one of these asks for a quantity, a date or a code: a number can answer it.
QUANTITY_CUES = frozenset({
    "year", "years", "date", "day", "days", "month", "months", "age", "old", "number", "numbers", "many", "much",
    "population", "percent", "percentage", "price", "cost", "costs", "fee", "rate", "size", "height", "length",
    "width", "weight", "depth", "area", "distance", "temperature", "speed", "time", "hours", "minutes", "score",
    "amount", "total", "count", "stock", "quantity", "code", "id", "version", "long", "tall", "big", "far", "high",
    "deep", "capacity", "volume", "duration", "period", "window", "limit", "maximum", "minimum", "degrees", "point",
    "century", "decade", "when", "budget", "salary", "balance", "dose", "dosage", "mg", "level", "ratio",
})


def strip_markers(text: str) -> str:
    """`text` without `[n]` citation markers, whitespace-normalised."""
    return " ".join(_MARKER.sub(" ", text).split())


def _brackets_balanced(text: str) -> bool:
    stack: list[str] = []
    for ch in text:
        if ch in _PAIRS:
            stack.append(ch)
        elif ch in _CLOSERS:
            if not stack or stack.pop() != _CLOSERS[ch]:
                return False
    return not stack


def _question_words(question: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(question)]


def _wants_entity(question: str) -> bool:
    """True for who/where questions, and what/which questions that do not ask for a quantity, date or code."""
    qw = _question_words(question)
    if not qw:
        return False
    if {"who", "whom", "whose", "where"} & set(qw[:3]):
        return True
    if qw[0] in ("what", "which") or (len(qw) > 1 and qw[1] in ("what", "which")):
        return not (QUANTITY_CUES & set(qw))
    return False


def _asks_duration(question: str) -> bool:
    """"How long ..." asks for a duration or a length: a bare number without its unit does not answer it."""
    qw = _question_words(question)
    return any(a == "how" and b == "long" for a, b in zip(qw, qw[1:]))


def _only_repeats(answer_words: list[str], question: str) -> bool:
    """True when every content word of the answer is a word of the question (and the question is no choice)."""
    from ragft.citations import content_words

    qwords = _question_words(question)
    if "or" in qwords:
        return False
    own = content_words(" ".join(answer_words))
    return bool(own) and own <= content_words(question)


def degenerate_reason(answer: str, question: str = "") -> str | None:
    """Why `answer` is a fragment rather than an answer to `question`, or None when it is well-formed."""
    text = strip_markers(answer)
    words = _WORD.findall(text)
    if not words:
        return "no words once citation markers are removed"
    if [w.lower() for w in words] in (["yes"], ["no"]):
        return None
    if _EMPTY_BRACKETS.search(text) or not _brackets_balanced(text):
        return "unbalanced or empty brackets"
    if text.count('"') % 2 or text.count("\u201c") != text.count("\u201d"):
        return "an unclosed quotation mark"
    word_chars = sum(len(w) for w in words)
    other_chars = sum(1 for ch in text if not ch.isspace() and not (ch.isalnum() or ch == "_"))
    if other_chars > word_chars:
        return "more punctuation than words"
    if len(words) > 1 and words[-1].lower() in DANGLING_ENDINGS and text.rstrip()[-1:].isalnum():
        return f"ends on {words[-1]!r}, mid-phrase"
    if question and _only_repeats(words, question):
        return "repeats the question without answering it"
    if len(words) == 1 and _NUMBER.match(text.strip(" .")):
        if _wants_entity(question):
            return "a lone number for a question that asks for a name, place or thing"
        if _asks_duration(question):
            return "a number without a unit for a how-long question"
    return None


def is_degenerate(answer: str, question: str = "") -> bool:
    """True when `answer` is a fragment (see `degenerate_reason`)."""
    return degenerate_reason(answer, question) is not None
