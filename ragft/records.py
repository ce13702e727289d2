"""A copied record is cut to what the question asks of it: the field that names the record and the fields asked.

The loaders write a CSV row as `column: value; column: value` and a JSON record as `key: value` lines
(documents/loaders.py), and the bundled model under the copy rule often copies a whole row: "When does the store
open?" was answered with all six fields of a store ("store: Northwind Utrecht; city: Utrecht; address: Oudegracht
201; opening hours: Mon-Sat 10:00-18:00; phone desk: yes; repair workshop: no"). The answer is one of them; the
first field says which record it is. `focus_record` keeps those two, as they stand in the cited text, the way
`answer.focus_copy` cuts a long copied sentence to the clause that answers.

A field is asked when its name shares a word stem with what the question asks about (`asked`:
`wellformed.asked_topic`: "opening hours" for "open"). Its name, not its value: a value shares the question's
words when it names the record ("name: Ember gas stove" for "What does the Ember gas stove weigh?", "city:
Utrecht" for "When does the Utrecht store open?"), which is not what is asked of it. A copy with fewer than three
fields, or with no asked field besides the first, is left whole: there is nothing to cut, or no field name says
what the question asks ("weight_kg" does not share a stem with "weigh"); so is the answer to a "where" question,
whose place a field name rarely says ("city", "address"). Pure string rules, no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragft.citations import content_words, split_trailing_markers, stems

_FIELD = re.compile(r"^(?P<key>[^:\n;]{1,40}):[ \t]*(?P<value>\S.*)$")
_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)
MIN_FIELDS = 3
"""A copy of fewer fields is left whole: "store: Lille; city: Lille" is already short."""


def _fields(source: str) -> list[str]:
    """The `key: value` fields of `source`, one per line or per `; `-separated part, whitespace normalised."""
    out = []
    for part in re.split(r"\n|;\s+", source):
        m = _FIELD.match(" ".join(part.split()))
        if m is not None:
            out.append(f"{m['key']}: {m['value']}")
    return out


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
    asked_fields = [f for f in rest if stems(content_words(f.partition(":")[0])) & wanted]
    if not asked_fields or len(asked_fields) == len(rest):
        return answer
    text = "; ".join([first, *asked_fields])
    return f"{text} {markers}" if markers else text
