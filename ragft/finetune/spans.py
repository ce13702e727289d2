"""Answer spans first: rule-based candidate answers in a passage and template questions around them.

Why: asking a 135M generator for a free-form quiz question and its answer yields almost nothing usable (measured:
1 usable pair from 102 chunks of a mixed-format corpus; docs/benchmarks.md "## QA synthesis"). Choosing the
answer first with deterministic rules makes the yield a property of the text, not of the model: every sentence
with a date, a quantity, a name or a defined term gives a candidate, and the question is built around it.

Span kinds, in the order candidates are preferred (`KIND_ORDER`):
- `date`     "7 January 1943", "July 10 1856", "2026-11-01"        -> "on what date" / "what date"
- `year`     "1893" (1500-2099, not part of a longer number)          -> "in what year"
- `quantity` "48 hours", "three weeks", "4.95 EUR", "$5", "45%"      -> "how many hours" / "how much" / "what percentage"
- `entity`   capitalised multi-word names not opening the sentence   -> "what place" after in/at/from, "whom" after by, else "what"
- `subject`  the subject of a defining sentence ("X is a/an/the ...") -> "What is a ...?" / "Who was ...?"
- `number`   any other number                                        -> "what number"

A template question replaces the span in its sentence (cut to the clause holding it when the sentence is long)
by the wh-phrase, in place: "Gift cards are valid for how many years from the date of purchase?". In-place
("echo") questions keep every word of context, so they are answerable from the passage, and they never contain
the answer. Everything here is pure string code: same text, same candidates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragft.text import MONTHS, NUMBER_WORDS

KIND_ORDER = ("date", "year", "quantity", "entity", "subject", "number")
MAX_QUESTION_WORDS = 30
MIN_SENTENCE_WORDS = 5

_MONTHS = "|".join([*MONTHS, "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec"])
_NUMBER_WORDS = "|".join(sorted(NUMBER_WORDS, key=lambda w: (-len(w), w)))  # longest first: "sixty" before "six"
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\s+(?:{_MONTHS})\.?,?\s+\d{{4}}|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}|(?:{_MONTHS})\s+\d{{4}})\b"
)
_YEAR = re.compile(r"(?<![\w.,:/-])(1[5-9]\d{2}|20\d{2})(?![\w.,:/-]\d|\d)"
                   r"|\b(?:in|since|from|until|by|around|after|before) (1[0-4]\d{2})(?![\w.,:/-]\d|\d)", re.IGNORECASE)
_CURRENCY = re.compile(r"(?:[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion|thousand))?"
                       r"|\b\d[\d,]*(?:\.\d+)?\s?(?:EUR|USD|GBP|euros?|dollars?|pounds)\b)")
_PERCENT = re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|per ?cent\b|percent\b)")
_QUANTITY = re.compile(rf"(?<![\w-])(?:\d[\d,]*(?:\.\d+)?|(?i:{_NUMBER_WORDS}))(?:[- ](?i:{_NUMBER_WORDS}))?\s+"
                       r"([a-z][a-z-]{2,}(?:\s[a-z]{3,}s\b)?)\b")
_NUMBER = re.compile(r"(?<![\w.:/-])\d[\d,]*(?:\.\d+)?(?![\w:/-]|\.\d)")
_NAME_WORD = r"(?:[A-Z][a-z][\w’-]*|[A-Z]{2,}[a-z]*)"
_ENTITY = re.compile(rf"(?<![\w'’-]){_NAME_WORD}(?:\s+(?:(?:of|de|da|van|von|the|and|&|la|le|du|del)\s+)?{_NAME_WORD})*(?![\w'’-])")
_DEFINITION = re.compile(r"^((?:The |A |An )?[A-Z][^,;:()]{1,60}?)\s+(is|are|was|were)\s+(?:a|an|the|one of)\b")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_CLAUSE_SPLIT = re.compile(r";\s+|:\s+|,\s+(?=(?:and|but|which|while|so|although|whereas|where|who)\b)")
_PRONOUN_START = re.compile(r"^(?:he|she|it|they|this|these|those|his|her|its|their|that|there)\b", re.IGNORECASE)
# Units after a number that make it a count, not an identifier ("page 3", "Oudegracht 201" are numbers).
_NOT_UNITS = {"and", "or", "the", "of", "to", "in", "on", "at", "for", "by", "with", "from", "was", "were", "is", "are",
              "a", "an", "as", "than", "that", "which", "who", "per", "am", "pm"}
_TIME_UNITS = {"second", "minute", "hour", "day", "week", "month", "year", "decade", "century"}
_PLACE_PREPS = {"in", "at", "from", "near", "into"}
_PERSON_HINTS = re.compile(r"\b(?:he|she|his|her|born|died|married)\b", re.IGNORECASE)
_STOP_ENTITIES = {"The", "A", "An", "This", "That", "These", "Those", "It", "He", "She", "They", "We", "You", "I", "If",
                  "In", "On", "At", "For", "But", "And", "Or", "As", "Yes", "No", "Our", "Your", "Its", "There", "Every",
                  "Each", "All", "Some", "Many", "Most", "After", "Before", "During", "When", "While", "Since", "From",
                  "To", "With", "By", "Do", "Does", "Can", "Is", "Are", "What", "Who", "How", "Why", "Where"}
# After a single-word name, a lowercase word outside this list makes the name a modifier ("Serbian epic poems",
# "Swiss mathematician"): not an answer on its own.
_FOLLOWERS = {"in", "on", "at", "of", "and", "or", "to", "for", "with", "from", "by", "as", "but", "was", "is", "were",
              "are", "had", "has", "have", "who", "which", "that", "where", "when", "a", "an", "the", "after", "before",
              "until", "during", "since", "while", "into", "under", "over", "near"}
_DAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Mon", "Tue", "Wed", "Thu",
         "Fri", "Sat", "Sun"}


@dataclass(frozen=True)
class AnswerSpan:
    """A candidate answer: `text` at `start:end` of `sentence`, of a `kind` in KIND_ORDER."""

    sentence: str
    start: int
    end: int
    kind: str

    @property
    def text(self) -> str:
        return self.sentence[self.start : self.end]


def sentences(text: str) -> list[str]:
    """Sentences of `text` (split at . ! ? before a capital or digit, and at line breaks), whitespace-normalised."""
    out = []
    for part in _SENTENCE_SPLIT.split(text):
        s = _LABEL.sub("", " ".join(part.split()))
        if s:
            out.append(s)
    return out


_LABEL = re.compile(r"^(?:[A-Z]{2,}\s+)+(?=[A-Z][a-z])")  # "PATIENTS AND METHODS The ..." (abstract section labels)
_RECORD_LINE = re.compile(r"^[\w .-]{1,40}:\s")
_JUNK = re.compile(r"\bISBN\b|\bpp?\.?\s\d|</?\w+>|\bref\b|https?://|\bwww\.|\| |[\\{}^]")
_BRACKETS = {"(": ")", "[": "]", "{": "}"}


def balanced(text: str) -> bool:
    """Brackets nest and close, and straight double quotes come in pairs."""
    stack: list[str] = []
    for ch in text:
        if ch in _BRACKETS:
            stack.append(_BRACKETS[ch])
        elif ch in _BRACKETS.values() and (not stack or stack.pop() != ch):
            return False
    return not stack and text.count('"') % 2 == 0


def usable_sentence(sentence: str) -> bool:
    """A whole prose sentence worth a question: capital (or digit/quote) start, end punctuation, balanced,
    5-60 words, not a `key: value` record line, a table row or a reference-list entry (those are handled by
    `ragft.finetune.tables` or carry no question worth asking)."""
    words = sentence.split()
    if not MIN_SENTENCE_WORDS <= len(words) <= 60:
        return False
    if not (sentence[0].isupper() or sentence[0].isdigit()) or sentence[-1] not in ".!?":
        return False
    if _RECORD_LINE.match(sentence) or _JUNK.search(sentence):
        return False
    if sum(w[0].isupper() for w in words) > len(words) / 2:  # titles, reference-list entries, name lists
        return False
    return balanced(sentence)


def _overlaps(a: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(a[0] < e and s < a[1] for s, e in taken)


def candidate_spans(sentence: str) -> list[AnswerSpan]:
    """Answer candidates in one sentence, non-overlapping, most specific kind first (dates before years, ...)."""
    if not usable_sentence(sentence):
        return []
    found: list[AnswerSpan] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, kind: str) -> None:
        while end > start and sentence[end - 1] in ".,;:":
            end -= 1
        if end > start and not _overlaps((start, end), taken):
            taken.append((start, end))
            found.append(AnswerSpan(sentence, start, end, kind))

    for m in _DATE.finditer(sentence):
        add(m.start(), m.end(), "date")
    for m in _YEAR.finditer(sentence):
        g = 1 if m.group(1) else 2
        add(m.start(g), m.end(g), "year")
    for rx in (_CURRENCY, _PERCENT):
        for m in rx.finditer(sentence):
            add(m.start(), m.end(), "quantity")
    for m in _QUANTITY.finditer(sentence):
        unit = m.group(1).lower()
        count = m.group(0)[: m.start(1) - m.start()].strip().lower()
        if not unit.endswith("s") and count not in ("1", "one", "a"):  # "a four year term": an adjective, not a count
            continue
        if count in ("1", "one", "a") and unit.rstrip("s") not in _TIME_UNITS:
            continue  # "in one case", "one molecule of": "one" is a determiner there, not a count worth asking
        if count == "one" and unit.endswith("s"):
            continue
        if unit not in _NOT_UNITS and not _overlaps((m.start(), m.end()), taken):
            add(m.start(), m.end(), "quantity")
    d = _DEFINITION.match(sentence)
    if d and len(d.group(1).split()) <= 6 and d.group(1).split()[0] not in _STOP_ENTITIES - {"The", "A", "An"}:
        add(d.start(1), d.end(1), "subject")
    for m in _ENTITY.finditer(sentence):
        start, text = m.start(), m.group(0)
        words = text.split()
        while words and (words[0] in _STOP_ENTITIES or words[0] in _DAYS):  # "The Tesla Papers" keeps "Tesla Papers"
            start += len(words[0]) + 1
            words = words[1:]
        if not words or words[0] in _DAYS or re.fullmatch(_MONTHS, words[0]):
            continue
        if start == 0 and len(words) < 2:  # a capitalised sentence opener is not a name
            continue
        if len(words) > 6:
            continue
        end = start + len(" ".join(words))
        nxt = re.match(r"\s+([a-z]+)", sentence[end:])
        if start > 0 and len(words) == 1 and nxt and nxt.group(1) not in _FOLLOWERS:
            continue
        if start > 0 and sentence[start - 1] in "\"“'":
            continue  # a quoted label ("Start a return"): the name is the whole quote, not its first word
        if re.search(r"\d\s*$", sentence[:start]) or any(len(w) >= 6 and w.isupper() for w in words):
            continue  # a unit after a number ("10 Hz"), or a section label in capitals ("CONCLUSION")
        if nxt and nxt.group(1) not in _FOLLOWERS and " and " in sentence[start:end]:
            end = start + sentence[start:end].index(" and ")  # "the Soviet Union and Western powers"
        add(start, end, "entity")
    numbers = list(_NUMBER.finditer(sentence))
    if len(numbers) <= 3:  # a run of figures (statistics, coordinates) makes a bare number unaskable
        for m in numbers:
            if sentence[: m.start()].count("(") == sentence[: m.start()].count(")"):  # not inside brackets
                add(m.start(), m.end(), "number")
    found.sort(key=lambda s: (KIND_ORDER.index(s.kind), s.start))
    return found


_CLAUSE_OPENER = re.compile(r"(?:and|but|or|which|while|so|although|whereas|where|who|that)\b", re.IGNORECASE)


def _clause(sentence: str, start: int, end: int) -> tuple[str, int, int] | None:
    """The clause of a long sentence that holds [start, end), with the span's offsets in it."""
    if len(sentence.split()) <= MAX_QUESTION_WORDS - 2:
        return sentence, start, end
    bounds = [0]
    for m in _CLAUSE_SPLIT.finditer(sentence):
        bounds.append(m.end())
    bounds.append(len(sentence) + 1)
    for lo, hi in zip(bounds, bounds[1:]):
        if lo <= start and end <= hi:
            piece = sentence[lo:hi].rstrip(" ;:,")
            if lo > 0 and _CLAUSE_OPENER.match(piece):
                return None  # "which dominated ...": a clause that cannot stand as a question
            return piece, start - lo, end - lo
    return sentence, start, end


def _wh_phrase(span: AnswerSpan, before: str, sentence: str) -> tuple[str, bool]:
    """(wh-phrase, replaces the preposition before the span) for `span`."""
    prev = before.split()[-1].lower() if before.split() else ""
    text = span.text
    if span.kind == "date":
        if re.fullmatch(rf"(?:{_MONTHS})\s+\d{{4}}", text):
            return ("in what month", True) if prev == "in" else ("what month", False)
        return ("on what date", True) if prev == "on" else ("what date", False)
    if span.kind == "year":
        return ("in what year", True) if prev == "in" else ("what year", False)
    if span.kind == "quantity":
        if _PERCENT.fullmatch(text):
            return "what percentage", False
        if _CURRENCY.fullmatch(text):
            return "how much", False
        m = _QUANTITY.fullmatch(text)
        unit = m.group(1).lower() if m else ""
        if unit and not unit.endswith("s"):
            unit += "s"  # "one term" -> "how many terms"
        return (f"how many {unit}" if unit else "how many"), False
    if span.kind == "subject":
        return ("Who" if _PERSON_HINTS.search(sentence) else "What"), False
    if span.kind == "entity":
        if span.start == 0:
            return ("Who" if _PERSON_HINTS.search(sentence) else "What"), False
        if prev == "by":
            return "whom", False
        if prev in _PLACE_PREPS:
            return "what place", False
        if prev == "the":
            return "what", True
        return "what", False
    return "what number", False


def template_question(span: AnswerSpan) -> str | None:
    """The sentence with the span replaced in place by a wh-phrase, as a question; None when it does not fit."""
    cut = _clause(span.sentence, span.start, span.end)
    if cut is None:
        return None
    clause, start, end = cut
    before, after = clause[:start], clause[end:]
    wh, eats_prev = _wh_phrase(AnswerSpan(clause, start, end, span.kind), before, span.sentence)
    if eats_prev:
        before = re.sub(r"\S+\s*$", "", before)
    before = before.rstrip()
    after = re.sub(r"[\s.!?;:,]+$", "", after)
    question = (f"{before} {wh}" if before else wh[:1].upper() + wh[1:]) + after + "?"
    question = " ".join(question.split()).replace("( ", "(").replace("[ ", "[")
    question = question[:1].upper() + question[1:]
    words = question.split()
    if not 4 <= len(words) <= MAX_QUESTION_WORDS or not balanced(question):
        return None
    return question


def wh_phrase(span: AnswerSpan) -> str:
    """The wh-phrase the template uses for `span` ("in what year", "how many weeks", "what place")."""
    before = span.sentence[: span.start]
    return _wh_phrase(span, before, span.sentence)[0]


def starts_with_pronoun(sentence: str) -> bool:
    """A sentence opening with he/she/it/they/this...: its question needs the passage to be understood."""
    return bool(_PRONOUN_START.match(sentence))
