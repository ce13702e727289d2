"""A copied record is cut to what the question asks of it: the field that names the record and the fields asked.

The loaders write a CSV row as `column: value; column: value` and a JSON record as `key: value` lines, records
apart by a blank line (documents/loaders.py), and the bundled model under the copy rule often copies a whole row:
"When does the store open?" was answered with all six fields of a store ("store: Northwind Utrecht; city:
Utrecht; address: Oudegracht 201; opening hours: Mon-Sat 10:00-18:00; phone desk: yes; repair workshop: no").
The answer is one of them; the first field says which record it is. `focus_record` keeps those two, as they
stand in the cited text, the way `answer.focus_copy` cuts a long copied sentence to the clause that answers.

A field is asked when its name shares a word stem with what the question asks about (`asked`:
`wellformed.asked_topic`: "opening hours" for "open"), or one stem is the other plus at most two letters
("weigh" and "weight_kg": `same_stem`). Its name, not its value: a value shares the question's words when it
names the record ("name: Ember gas stove" for "What does the Ember gas stove weigh?", "city: Utrecht" for "When
does the Utrecht store open?"), which is not what is asked of it. A copy with fewer than three fields, or with no
asked field besides the first, is left whole: there is nothing to cut, or no field name says what the question
asks; so is the answer to a "where" question, whose place a field name rarely says ("city", "address").

`pick_record` first moves a copy to the record that holds what is asked: "What is the phone number of customer
support?" was answered with the JSON file's header ("title: Customer support contacts updated: 2026-11-01"),
which tied with the phone record on relevance; no field of the header is asked, and the phone record is the one
record of the cited text with an asked field ("number"). Pure string rules, no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragft.citations import content_words, split_trailing_markers, stems

_FIELD = re.compile(r"^(?P<key>[^:\n;]{1,40}):[ \t]*(?P<value>\S.*)$")
_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)
MIN_FIELDS = 3
"""A copy of fewer fields is left whole: "store: Lille; city: Lille" is already short."""
MIN_STEM, MAX_EXTRA = 4, 2
"""`same_stem`: a stem of at least MIN_STEM letters matches one that extends it by at most MAX_EXTRA letters."""


def _fields(source: str) -> list[str]:
    """The `key: value` fields of `source`, one per line or per `; `-separated part, whitespace normalised."""
    out = []
    for part in re.split(r"\n|;\s+", source):
        m = _FIELD.match(" ".join(part.split()))
        if m is not None:
            out.append(f"{m['key']}: {m['value']}")
    return out


def _records(source: str) -> list[list[str]]:
    """The records of `source` (blocks apart by a blank line; a block of several `;`-separated rows is one
    record per row), each as its fields; text without fields is no record."""
    out = []
    for block in re.split(r"\n\s*\n", source):
        lines = [line for line in block.split("\n") if line.strip()]
        rows = lines if len(lines) > 1 and all(len(_fields(line)) > 1 for line in lines) else [block]
        out.extend(fields for fields in map(_fields, rows) if fields)
    return out


def same_stem(a: str, b: str) -> bool:
    """True when two stems are equal, or the shorter (MIN_STEM letters or more) begins the longer and the longer
    has at most MAX_EXTRA letters more: Snowball leaves "weigh" and "weight" apart."""
    short, long_ = sorted((a, b), key=len)
    return a == b or (len(short) >= MIN_STEM and len(long_) - len(short) <= MAX_EXTRA and long_.startswith(short))


def _asked(field: str, wanted: set[str]) -> bool:
    """True when the field's name shares a stem with the question's words (`same_stem`)."""
    return any(same_stem(n, w) for n in stems(content_words(field.partition(":")[0])) for w in wanted)


def pick_record(asked: str, answer: str, cited: Sequence[str]) -> str:
    """`answer`, or the record that holds what `asked` asks when the answer is copied from another record of the
    same cited text (module docstring): the answer's fields or its text lie in exactly one record, no field of it
    besides the first is asked, and exactly one other record of that text has an asked field besides its first.
    That record is returned whole, its fields joined with "; " and the answer's citation markers kept."""
    if _WHERE.search(asked):
        return answer
    body, markers = split_trailing_markers(answer)
    flat = " ".join(body.split())
    if not flat:
        return answer
    wanted = stems(content_words(asked))
    holding = {tuple(rec): (records, rec) for records in map(_records, cited) for rec in records
               if any(f in flat or flat in f for f in rec)}  # a record two cited chunks overlap on counts once
    if len(holding) != 1:
        return answer
    records, copied = next(iter(holding.values()))
    if any(_asked(f, wanted) for f in copied[1:]):
        return answer
    rivals = [rec for rec in records if rec is not copied and any(_asked(f, wanted) for f in rec[1:])]
    if len(rivals) != 1:
        return answer
    text = "; ".join(rivals[0])
    return f"{text} {markers}" if markers else text


def answer_record(asked: str, answer: str, cited: Sequence[str]) -> str:
    """A copied record answer: moved to the record that holds what is asked (`pick_record`), then cut to its
    name and the fields asked (`focus_record`)."""
    return focus_record(asked, pick_record(asked, answer, cited), cited)


def focus_record(asked: str, answer: str, cited: Sequence[str]) -> str:
    """`answer` cut to the record's first field and the fields whose name `asked` holds (by stem), joined with
    "; ", its citation markers kept; `answer` itself for a "where" question, when it holds fewer than MIN_FIELDS
    fields of the cited texts, or when no field besides the first is asked, or every one is."""
    if _WHERE.search(asked):
        return answer
    body, markers = split_trailing_markers(answer)
    flat = " ".join(body.split())
    held = sorted({(flat.find(f), f) for source in cited for f in _fields(source) if f in flat})
    if len(held) < MIN_FIELDS:
        return answer
    wanted = stems(content_words(asked))
    first, rest = held[0][1], [f for _, f in held[1:]]
    asked_fields = [f for f in rest if _asked(f, wanted)]
    if not asked_fields or len(asked_fields) == len(rest):
        return answer
    text = "; ".join([first, *asked_fields])
    return f"{text} {markers}" if markers else text
