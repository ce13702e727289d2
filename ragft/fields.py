"""The `key: value` fields of a record as ragft writes it (a CSV or table row "store: Lille; city: Lille", a JSON
object's "phone.number: 123", one per line or `; `-separated), and the record's values alone.

Why a module of its own: answer ranking and citation attribution (`answer.score_items`, `citations.attribute`)
read a record's values, and `records` cuts copied records to their fields; `citations` is what `records` builds on,
so the parsing both need lives below both.
"""

from __future__ import annotations

import re

_FIELD = re.compile(r"^(?P<key>[^:\n;]{1,40}):[ \t]*(?P<value>\S.*)$")


def fields(source: str) -> list[str]:
    """The `key: value` fields of `source`, one per line or per `; `-separated part, whitespace normalised."""
    out = []
    for part in re.split(r"\n|;\s+", source):
        m = _FIELD.match(" ".join(part.split()))
        if m is not None:
            out.append(f"{m['key']}: {m['value']}")
    return out


def record_values(text: str) -> str:
    """`text` without its field names when it is a record of two fields or more ("store: Northwind Rotterdam;
    city: Rotterdam" -> "Northwind Rotterdam; Rotterdam"), else `text`: what a record is about, as opposed to
    what it holds (a field name says the second: "city" does not make a shop row about a warehouse). Callers
    may test `record_values(t) is t` to skip work for prose."""
    found = fields(text)
    if len(found) < 2:
        return text
    return "; ".join(f.partition(": ")[2] for f in found)
