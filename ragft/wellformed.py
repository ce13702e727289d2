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
- a question ("How do I care for a down sleeping bag?", an FAQ's own question copied for "How do I wash a down
  sleeping bag?"): it asks, it does not answer;
- an answer that only repeats words of the question (`Tesla was born` for "When was Tesla born?"): it names
  nothing the question did not, so it answers nothing (a choice question, "X or Y?", may answer with its words).
A bare "Yes"/"No" is well-formed.

A well-formed answer can still be the wrong *kind* of answer: `23` (an age) for "When did Lincoln begin his political
career?". `answer_kind` names the kind a question's form asks for (a time, a count, a name, a place) and
`offers_kind` tells whether a text holds such a thing beyond the question's own words. The copy-constrained answer
path uses them to reject a copied span of the wrong kind and to prefer, among equally relevant sentences, the one
that holds the kind asked for (answer.py); they are not part of `degenerate_reason` (a wrong kind is a wrong answer,
not a fragment, and evaluation scores it as such).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

from ragft.citations import STOPWORDS, content_words, stems, strip_markers, words as citation_words
from ragft.text import ENGLISH_STOPWORDS, IRREGULAR_FORMS, MONTHS as MONTH_NAMES, NUMBER_WORDS as CARDINALS

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


def _only_repeats(answer: str, question: str) -> bool:
    """True when every content word of the answer, pronouns aside, is a word of the question (and the question is
    no choice): "He won the 1903 Nobel Prize in Physics." does not answer "Who won the 1903 Nobel Prize in
    Physics?", nor "She died in 1832." "Who died in 1832?"; the pronoun is all it adds."""
    qwords = _question_words(question)
    if "or" in qwords:
        return False
    own = content_words(answer) | (set(citation_words(answer)) & PRONOUNS)  # "He": a pronoun is no stopword here
    return bool(own) and own - PRONOUNS <= content_words(question)


PRONOUNS = frozenset({"he", "she", "it", "they", "him", "her", "them", "his", "hers", "its", "their", "theirs",
                      "we", "us", "our", "you", "your", "i", "me", "my", "this", "these", "those"})
"""Personal, possessive and demonstrative pronouns: they point at what the question asks for without naming it."""


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
    if text.rstrip().endswith("?"):
        return "a question, not an answer"
    if question and _only_repeats(text, question):
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


# ----------------------------------------------------------------------------- the kind of answer a question asks for
MONTHS = frozenset(m.lower() for m in MONTH_NAMES)
NUMBER_WORDS = CARDINALS | frozenset({"dozens", "hundreds", "thousands", "millions", "several", "twice", "once", "half"})
OPENERS = DANGLING_ENDINGS | ENGLISH_STOPWORDS | frozenset({
    "he", "she", "it", "they", "we", "i", "you", "this", "these", "those", "there", "after", "before", "when",
    "although", "though", "since", "however", "also", "then", "most", "many", "some", "all", "both", "each"})
"""Words that open a sentence without naming anything ("The", "He", "After"): a capital there is no name."""
_TIME_WORDS = frozenset({"century", "centuries", "decade", "decades", "bc", "bce", "ad", "ce"})
_YEAR = re.compile(r"^\d{3,4}s?$")
_TIME_QUESTION = re.compile(r"^(?:when\b|(?:in\s+|by\s+)?(?:what|which)\s+(?:year|century|decade|date|month)\b)")
_COUNT_QUESTION = re.compile(r"\bhow\s+(?:many|much|old|long|far|tall|big|high|large|deep)\b")


_KIND_FORM = re.compile(
    r"\bhow\s+[^\W_]+"
    r"|\b(?:what|which)\s+(?:kinds?|types?|sorts?)\s+of\b"
    r"|\b(?:what|which)\s+(?:year|century|decade|date|month|day|time|colou?r)\b",
    re.IGNORECASE)


_DURATION_FORM = re.compile(r"^\W*how\s+(?:long|much\s+time)\b", re.IGNORECASE)
_PRICE_FORM = re.compile(r"^\W*how\s+much\b(?!\s+time)", re.IGNORECASE)
_TAKE = re.compile(r"\b(?:take|takes|took|taken|taking)\b", re.IGNORECASE)
_COST = re.compile(r"\b(?:cost|costs|costing)\b", re.IGNORECASE)


def asked_topic(question: str) -> str:
    """The question without the words of its form that name the *kind* of answer rather than its topic: "how
    long/many/old", "what kind/type/sort of", "what year/date/colour", and the verb of "how long does X take" and
    "how much does X cost". A sentence that answers need not repeat them ("Darting and foot hold traps are the
    tools of choice" answers "What type of tools ...?", "died in 1908" answers "In what year did he die?",
    "Refunds go back ... within 5 business days" answers "How long do refunds take?"), so the relevance of a
    sentence as an answer is measured on the rest: with "take" kept, "Repairs under warranty take about three
    weeks" was as relevant to the refunds question as the refunds sentence."""
    rest = _KIND_FORM.sub(" ", question)
    if _DURATION_FORM.match(question):
        rest = _TAKE.sub(" ", re.sub(r"^\s*time\b", " ", rest, flags=re.IGNORECASE))  # "how much time"
    elif _PRICE_FORM.match(question):
        rest = _COST.sub(" ", rest)
    return rest


_TOKEN = re.compile(r"[^\W_][\w'\u2019.-]*")
_PARTICLES = frozenset({"de", "da", "di", "del", "der", "du", "van", "von", "la", "le", "of", "the"})


def named_phrases(question: str) -> list[frozenset[str]]:
    """The names a question is about: runs of capitalised words after its first word ("Picasso", "Paris",
    "Charles-Augustin de Coulomb", "Northern California's"), each as the set of its words, lower-cased and folded
    as `citations.words` folds them; function words and one-letter words ("I") are left out.

    Why: a sentence can share most of a question's words and still be about something else ("He spent six months
    at Paris for the 1919 Paris Peace Conference" for "When did Picasso make his first trip to Paris?"). A text
    that names none of a name's words ("Coulomb" names "Charles-Augustin de Coulomb") is not about it."""
    tokens = list(_TOKEN.finditer(question))
    runs: list[list[str]] = []
    run: list[str] = []
    prev_end = -1
    for i, m in enumerate(tokens):
        t = m.group(0)
        joined = prev_end >= 0 and not question[prev_end:m.start()].strip()  # only spaces since the last token
        bridge = (run and joined and t in _PARTICLES and i + 1 < len(tokens)
                  and tokens[i + 1].group(0)[:1].isupper())  # "Charles-Augustin de Coulomb"
        if i > 0 and (t[:1].isupper() or bridge) and (joined or not run):
            run.append(t)
        else:
            if run:
                runs.append(run)
            run = [t] if i > 0 and t[:1].isupper() else []
        prev_end = m.end()
    if run:
        runs.append(run)
    out: list[frozenset[str]] = []
    for parts in runs:
        caps = [t for t in parts if t[:1].isupper() and len(t.strip(".")) > 1]
        found = frozenset(w for t in caps for w in citation_words(t) if w not in STOPWORDS and len(w) > 1)
        if found:
            out.append(found)
    return out


_CLOCK_QUESTION = re.compile(r"\bwhat\s+time\b(?!\s+(?:period|periods|frame|span|zone|zones|limit|scale)\b)")
_CLOCK = re.compile(r"(?<![\w.:])\d{1,2}:\d{2}(?![\w:.]\d)|(?<![\w.])\d{1,2}\s*(?:a\.?m\.?|p\.?m\.?)(?!\w)"
                    r"|\b(?:noon|midday|midnight)\b", re.IGNORECASE)
"""A time of day: "9:00", "2 pm", "10 a.m.", "noon" ("18.30" is not read: "12.50" is as often a price)."""


def answer_kind(question: str) -> str | None:
    """The kind of answer the question's form asks for: "clock" (what time / by what time: a time of day), "time"
    (when / what year), "count" (how many / much / old / long ...), "name" (who), "place" (where), or None when
    the form does not say ("what is ...")."""
    q = " ".join(_question_words(question))
    if _CLOCK_QUESTION.search(q):
        return "clock"
    if _TIME_QUESTION.search(q):
        return "time"
    if _COUNT_QUESTION.search(q):
        return "count"
    first = q.split(" ", 1)[0] if q else ""
    if first in ("who", "whom", "whose"):
        return "name"
    if first == "where":
        return "place"
    return None


def offers_kind(text: str, question: str, lowercase: Collection[str] = ()) -> bool:
    """True when `text`, outside the question's own words, holds the kind of thing `answer_kind` asks for: a time
    of day for "what time" (`_CLOCK`, anywhere in `text`); a year, month, century or time of day for a time; a
    number (digits or words) for a count; a capitalised word for a name or place. True for questions whose form
    names no kind (nothing to check).

    A sentence's first word is capitalised anyway: it counts as a name only when it is no function word ("The",
    "He") and not one of the `lowercase` words (those its sources also write in lower case: "Payment is due ..."
    beside "a payment plan" names nobody)."""
    kind = answer_kind(question)
    if kind is None:
        return True
    plain = strip_markers(text)
    if kind == "clock":
        return _CLOCK.search(plain) is not None
    asked = set(_question_words(question))
    tokens = _WORD.findall(plain)
    new = [t for t in tokens if t.lower() not in asked]
    low = {t.lower() for t in new}
    if kind == "time":  # "When is the last meal?" -> "after 20:00": a time of day is a when too
        return (any(_YEAR.match(t) for t in low) or bool((MONTHS | _TIME_WORDS) & low)
                or _CLOCK.search(plain) is not None)
    if kind == "count":
        return any(ch.isdigit() for t in low for ch in t) or bool(NUMBER_WORDS & low)
    return any(t[:1].isupper() and (i > 0 or (t.lower() not in OPENERS and t.lower() not in lowercase))
               for i, t in enumerate(tokens) if t.lower() not in asked)


def lowercase_words(texts: Iterable[str]) -> frozenset[str]:
    """The words `texts` write in lower case somewhere (`offers_kind`'s test of a sentence's capitalised first
    word)."""
    return frozenset(w for text in texts for w in _WORD.findall(text) if w.islower())


_MONTH = "|".join([*MONTH_NAMES, *(m[:3] + r"\." for m in MONTH_NAMES)])
_MONTH_BEFORE = re.compile(rf"\b(?:{_MONTH})\s+(?:the\s+)?$")  # case kept: "may" is a verb, "May" a month
_MONTH_AFTER = re.compile(rf"^\s+(?:of\s+)?(?:{_MONTH})(?!\w)")


def day_of_a_date(span: str, texts: Sequence[str]) -> bool:
    """True when `span` is a bare number from 1 to 31 and the texts write it, wherever they hold it, as the day
    of a date ("31 March", "March 31st", "the 4th of July"): a count it is not. Why: "How many unused leave days
    can be carried over?" was answered "31" from "carried-over days expire on 31 March", beside the "5 unused
    days" asked for; a number passes the count check (`offers_kind`), so the copy stood."""
    if not re.fullmatch(r"\d{1,2}", span) or not 1 <= int(span) <= 31:
        return False
    seen = False
    for text in texts:
        for m in re.finditer(rf"(?<![\w.,:/-]){span}(?:st|nd|rd|th)?(?![\w:/-]|[.,]\d)", text):
            seen = True
            if not (_MONTH_BEFORE.search(text[max(0, m.start() - 20):m.start()])
                    or _MONTH_AFTER.match(text[m.end():m.end() + 20])):
                return False
    return seen


def beyond_names(question: str) -> set[str]:
    """Stems of the question's content words that are not words of its names (`named_phrases`): what it asks about
    the named thing ("die" in "When did Isaac Newton die?"). Pass `asked_topic(question)` to leave out the words
    that only name the kind of answer ("how long")."""
    named = {w for phrase in named_phrases(question) for w in phrase}
    return stems(content_words(question) - named)


def about_the_asked(asked: set[str], sentence: str) -> bool:
    """True when `sentence` holds one of the `asked` stems (`beyond_names`), or there are none (the question is
    all names). A past form of an irregular verb counts as its verb ("won" holds "win", `text.IRREGULAR_FORMS`).
    Why: a sentence that shares only the names is about the named thing, not about what is asked of it:
    "Isaac Newton was born on January 4, 1643" holds a date and two thirds of "When did Isaac Newton die?", and
    stood as its fallback answer when the sources hold no death date at all (docs/benchmarks.md, "Fallback
    sentences that hold what is asked")."""
    if not asked:
        return True
    said = set(citation_words(sentence))
    return bool(asked & stems(said | {IRREGULAR_FORMS[w] for w in said if w in IRREGULAR_FORMS}))
