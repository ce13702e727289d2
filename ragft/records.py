"""A copied record is answered with what the question asks of it: the field that names the record and the fields
asked, from the record that holds them.

The loaders write a CSV row, a table row under a header row and a JSON record as `column: value; column: value`,
records apart by a blank line (documents/loaders.py); `key: value` lines (a JSON record ingested before pipeline
version 3) read the same. The bundled model under the
copy rule often copies a whole row: "When does the store open?" was answered with all six fields of a store
("store: Northwind Utrecht; city: Utrecht; address: Oudegracht 201; opening hours: Mon-Sat 10:00-18:00; phone
desk: yes; repair workshop: no"). The answer is one of them; the first field says which record it is.
`focus_record` keeps those two, as they stand in the cited text, the way `focus.focus_copy` cuts a long copied
sentence to the clause that answers. A copy that began after the first field's name ("Northwind Rotterdam; city:
Rotterdam; ..." of "store: Northwind Rotterdam; city: ...") is still named by that field.

A field is asked (`Asked.field`) when its name shares a word stem with what the question asks about
(`wellformed.asked_topic`: "opening hours" for "open"), one stem being the other plus at most two letters
("weigh" and "weight_kg": `same_stem`), or when its name is a word of the kind of answer the question's form asks
for (`KINDS`: "how long does X take" a time or duration, "how much does X cost" a price or fee, "how heavy" a
weight, "how often" an interval or frequency, "when" a date, time or hours). Its name, not its value: a value
shares the question's words when it names the record ("name: Ember gas stove" for "What does the Ember gas stove
weigh?", "city: Utrecht" for "When does the Utrecht store open?"), which is not what is asked of it. A "where"
question is left alone: a field name rarely says a place ("city", "address").

Before the cut, `pick_record` moves a copy to what is asked when it holds none of it:
- to the asked fields of its own record: "How much does store pickup cost?" copied the pickup row's time ("3
  business days"); the row's "Price: free" is what is asked;
- to the one other record of the cited text that has an asked field when its own has none: "What is the phone
  number of customer support?" was answered with the JSON file's header ("title: Customer support contacts
  updated: 2026-11-01"), which tied with the phone record on relevance.
Pure string rules, no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragft.citations import content_words, split_trailing_markers, stems
from ragft.fields import fields as _fields
from ragft.wellformed import asked_topic

_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)
MIN_FIELDS = 3
"""A copy of fewer fields is left whole: "store: Lille; city: Lille" is already short."""
MIN_STEM, MAX_EXTRA = 4, 2
"""`same_stem`: a stem of at least MIN_STEM letters matches one that extends it by at most MAX_EXTRA letters."""

KINDS: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = (
    (re.compile(r"^\W*how\s+(?:long|much\s+time)\b.*\b(?:take|takes|took|last|lasts|lasted)\b", re.IGNORECASE),
     frozenset({"time", "durat", "day", "hour", "week"})),
    (re.compile(r"\b(?:cost|costs|price|prices|priced|fee|fees|charge|charged|pay|paid)\b", re.IGNORECASE),
     frozenset({"price", "cost", "fee", "charg", "rate"})),
    (re.compile(r"\bhow\s+heavy\b", re.IGNORECASE), frozenset({"weight", "mass"})),
    (re.compile(r"^\W*how\s+often\b", re.IGNORECASE), frozenset({"interval", "frequenc"})),
    (re.compile(r"^\W*(?:when\b|(?:at|on|by)?\s*what\s+(?:time|date|day)\b)", re.IGNORECASE),
     frozenset({"date", "time", "hour", "day"})),
)
"""The kinds of answer a question's form asks for, each with the (Snowball-stemmed) field-name words that hold
one. A closed list: the words that name the kind are the ones `wellformed.asked_topic` takes out of the topic."""


def same_stem(a: str, b: str) -> bool:
    """True when two stems are equal, or the shorter (MIN_STEM letters or more) begins the longer and the longer
    has at most MAX_EXTRA letters more: Snowball leaves "weigh" and "weight" apart."""
    short, long_ = sorted((a, b), key=len)
    return a == b or (len(short) >= MIN_STEM and len(long_) - len(short) <= MAX_EXTRA and long_.startswith(short))


@dataclass(frozen=True)
class Asked:
    """What a question asks of a record: the stems of its topic (`words`), the field-name stems of the kind of
    answer its form asks for (`kinds`), and whether it asks "where"."""

    words: frozenset[str]
    kinds: frozenset[str]
    where: bool

    @classmethod
    def of(cls, question: str) -> Asked:
        kinds = frozenset(w for pattern, names in KINDS if pattern.search(question) for w in names)
        return cls(frozenset(stems(content_words(asked_topic(question)))), kinds, bool(_WHERE.search(question)))

    def field(self, field: str) -> bool:
        """True when the field's name holds what is asked (module docstring)."""
        names = stems(content_words(field.partition(":")[0]))
        return bool(names & self.kinds) or any(same_stem(n, w) for n in names for w in self.words)


def _records(source: str) -> list[list[str]]:
    """The records of `source` (blocks apart by a blank line; a block of several `;`-separated rows is one
    record per row), each as its fields; text without fields is no record."""
    out = []
    for block in re.split(r"\n\s*\n", source):
        lines = [line for line in block.split("\n") if line.strip()]
        rows = lines if len(lines) > 1 and all(len(_fields(line)) > 1 for line in lines) else [block]
        out.extend(fields for fields in map(_fields, rows) if fields)
    return out


def _with(markers: str, fields: Sequence[str]) -> str:
    text = "; ".join(fields)
    return f"{text} {markers}" if markers else text


def pick_record(question: str, answer: str, cited: Sequence[str]) -> str:
    """`answer`, or what is asked of the record it was copied from (module docstring): when the answer's fields
    or its text lie in exactly one record of the cited texts and it holds none of that record's asked fields
    (besides the first), the record's first field and its asked fields; when the record has none, the one other
    record of that text that has one, whole. The answer's citation markers are kept."""
    asked = Asked.of(question)
    body, markers = split_trailing_markers(answer)
    flat = " ".join(body.split())
    if asked.where or not flat:
        return answer
    holding = {tuple(rec): (records, rec) for records in map(_records, cited) for rec in records
               if any(f in flat or flat in f for f in rec)}  # a record two cited chunks overlap on counts once
    if len(holding) != 1:
        return answer
    records, copied = next(iter(holding.values()))
    own = [f for f in copied[1:] if asked.field(f)]
    if own:
        return answer if any(f in flat or flat in f for f in own) else _with(markers, [copied[0], *own])
    rivals = [rec for rec in records if rec is not copied and any(asked.field(f) for f in rec[1:])]
    return _with(markers, rivals[0]) if len(rivals) == 1 else answer


def _name_before(field: str, flat: str, cited: Sequence[str]) -> str | None:
    """The first field of the record that holds `field`, when `field` is not that first field and `flat` holds
    the first field's value, not its name, before `field`: a copy that began after "store:" in
    "store: Northwind Rotterdam; city: Rotterdam; ..." still names its record by the value it copied."""
    for record in (rec for source in cited for rec in _records(source) if field in rec[1:]):
        value = record[0].partition(":")[2].strip()
        at = flat.find(value) if value else -1
        if 0 <= at < flat.find(field) and record[0] not in flat:
            return record[0]
    return None


def focus_record(question: str, answer: str, cited: Sequence[str]) -> str:
    """`answer` cut to the record's first field (`_name_before` when the copy began after its name) and its asked
    fields (`Asked.field`), joined with "; ", its citation markers kept; `answer` itself for a "where" question,
    when it holds fewer than MIN_FIELDS fields of the cited texts, or when no field besides the first is asked, or
    every one is."""
    asked = Asked.of(question)
    if asked.where:
        return answer
    body, markers = split_trailing_markers(answer)
    flat = " ".join(body.split())
    held = sorted({(flat.find(f), f) for source in cited for f in _fields(source) if f in flat})
    if len(held) < MIN_FIELDS:
        return answer
    first, rest = held[0][1], [f for _, f in held[1:]]
    named = _name_before(first, flat, cited)
    if named is not None:  # the copy began inside its record's first field, after its name
        first, rest = named, [f for _, f in held]
    asked_fields = [f for f in rest if asked.field(f)]
    if not asked_fields or len(asked_fields) == len(rest):
        return answer
    return _with(markers, [first, *asked_fields])


def answer_record(question: str, answer: str, cited: Sequence[str]) -> str:
    """A copied record answer: moved to what is asked (`pick_record`), then cut to the record's name and the
    fields asked (`focus_record`)."""
    return focus_record(question, pick_record(question, answer, cited), cited)
