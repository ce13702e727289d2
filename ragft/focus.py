"""A long sentence cut to the clause that answers: the fallback sentence (`focus_clause`) and a long copied answer
(`focus_copy`).

Why: the bundled model copies whole sentences, and a fallback sentence is a whole sentence too; a 40-word sentence
buries its answer. Pure string rules, no model; measured in docs/benchmarks.md (## Answers).
"""

from __future__ import annotations

import re

from ragft.citations import MARKER, lexical_relevance
from ragft.wellformed import asked_topic, degenerate_reason, offers_kind

FOCUS_WORDS = 20
"""A fallback sentence longer than this is cut to its most relevant clause and the clauses after it."""
RUN_ON = 2
"""A cut that lacks the asked kind of answer may take one more clause to reach it, up to RUN_ON times FOCUS_WORDS
words. Only one: three clauses on, "When did he die?" ran on through a pastor's remark to reach a month."""
_CLAUSE = re.compile(r"(?<=[,;])\s+")
_RELATIVE = re.compile(r"(?:who|whom|whose|which|where)\b", re.IGNORECASE)
"""A clause opening with a relative pronoun describes the noun that ends the clause before it."""


def focus_clause(question: str, sentence: str, max_words: int = FOCUS_WORDS, kind_of: str = "") -> str:
    """The part of `sentence` that answers: a sentence of at most `max_words` words stays whole; a longer one
    starts at its clause (split at , and ;) holding most of the question's words (the earliest on a tie) and
    keeps the following clauses while the total stays within `max_words` (facts tend to follow the words that
    introduce them: "born on 10 July 1856, in Smiljan"). When the cut lacks the kind of answer the question
    `kind_of` asks for (`wellformed.offers_kind`: a place for "where", a year for "when") and the next clause
    brings it, the cut takes that clause too, within RUN_ON times `max_words` ("Tesla was born precisely at
    midnight during an electrical storm, to a Serbian family in the village of Smiljan near Gospic" for "Where
    was Tesla born?").
    A relative clause ("..., who often use these traps to fit wolves with collars") is not started at: it
    describes the noun before it, which is what a question matching it asks for, so the cut starts at the clause
    that names that noun."""
    if len(sentence.split()) <= max_words:
        return sentence
    clauses = _CLAUSE.split(sentence)
    scores = [lexical_relevance(question, c) for c in clauses]
    start = max(range(len(clauses)), key=lambda i: (scores[i], -i))
    while start > 0 and _RELATIVE.match(clauses[start]):
        start -= 1  # "X, who did Y": the question matches "who did Y", the answer is X (the clause before)
    out = [clauses[start]]
    for c in clauses[start + 1:]:
        if len(" ".join([*out, c]).split()) > max_words:
            break
        out.append(c)
    longer = clauses[start:start + len(out) + 1]  # one clause more: the fact follows the words that introduce it
    if (kind_of and len(longer) > len(out) and not offers_kind(" ".join(out), kind_of)
            and offers_kind(" ".join(longer), kind_of) and len(" ".join(longer).split()) <= RUN_ON * max_words):
        out = longer
    text = " ".join(out).rstrip(",;")
    return _LEADING_JOIN.sub("", text) if start > 0 else text


_LEADING_JOIN = re.compile(r"^(?:and|but|or|while|whereas)\s+", re.IGNORECASE)
_TRAILING_MARKERS = re.compile(rf"^(?P<text>[^\[]*?\S)\s*(?P<markers>(?:{MARKER.pattern})+)$")


def focus_copy(question: str, answer: str) -> str:
    """A copied answer longer than FOCUS_WORDS cut to the clause that answers, as a fallback sentence is
    (`focus_clause`), its citation markers kept. Why: the bundled model copies whole sentences, and "The largest
    ethnic minorities are Hungarians, who make up 6.6% of the population and Roma, or Gypsies, who make up 2% of
    the population." buries the answer; the citation keeps the whole sentence. The cut runs on to the asked kind
    of answer (a year for "when") as a fallback's does, and stands only if it is well formed and still offers that
    kind whenever the whole copy did."""
    m = _TRAILING_MARKERS.match(answer.strip())
    if m is None:  # markers inside the text: it is not one copied sentence
        return answer
    body, markers = m["text"], m["markers"]
    focused = focus_clause(asked_topic(question), body, kind_of=question)
    if focused == body or degenerate_reason(focused, question) is not None:
        return answer
    if offers_kind(body, question) and not offers_kind(focused, question):
        return answer
    return f"{focused} {markers}"
