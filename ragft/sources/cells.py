"""Table-cell answers: when a question names one row of a live table and one of its columns, the answer IS that cell.

Why: given the row `stock=12, price=129.00`, the 135M generator chose between the two numbers by a near-tie of
logits; "How many Trail Runner shoes are in stock?" answered `129.00` depending on load and thread count. A value
read from the database must not be a model's choice, so this rule picks it deterministically and the model is not
called (the value is read at every question, so it is always fresh, and the row is cited).

The rule (pure functions over `RowHit`s, no database, no model):
- **Row**: the rows whose text values the question names. A text value is named when all its words occur in the
  question, or at least two and at least half of them do, or the value itself (a key such as `TR-100`) does
  (so "How many days ...?" does not name the "Day Backpack"). The row that names
  the most question words wins; among rows tied on that, the one row that has exactly one asked column (below);
  two rows still tied (two products named) is no answer.
- **Column**: the columns the question asks for, by name (`stock`, `unit_price` -> unit/price), by simple synonyms
  (`cost`/`how much` -> price, `available`/`left`/`quantity` -> stock, `earn` -> salary, ...) and by question form
  when nothing is named (`how many` -> the one integer count column, `how much` -> the one money column, `when` ->
  the one date/year column, `where` -> the one place column). Columns whose value the question quotes (the name it
  asks about) are not candidates. Exactly one column must remain.
- Anything else (no row, several rows, no column, several columns) returns None: the caller falls back to the model
  with the rows as ordinary context.

Measured on a labelled set of table questions (tests/fixtures/table_questions.json; benchmarks/answers.py
--part tables; docs/benchmarks.md ## Answers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragft.types import Hit

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Interchangeable words: a column whose name has a word of a group is asked for by any word of that group.
SYNONYM_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"stock", "inventory", "available", "availability", "left", "quantity", "qty", "onhand",
               "remaining", "instock"}),
    frozenset({"price", "cost", "costs", "expensive", "cheap", "charge", "fee", "amount"}),
    frozenset({"salary", "earn", "earns", "wage", "pay", "paid", "income"}),
    frozenset({"population", "inhabitant", "resident", "people"}),
    frozenset({"author", "wrote", "written", "writer"}),
    frozenset({"department", "dept", "team", "division"}),
    frozenset({"office", "location", "located", "city", "site", "based"}),
    frozenset({"year", "founded", "published", "built", "opened", "established", "released"}),
    frozenset({"page", "pages"}),
    frozenset({"email", "mail", "address"}),
    frozenset({"phone", "telephone", "call"}),
    frozenset({"capacity", "seat", "seats", "hold", "holds"}),
    frozenset({"weight", "weigh", "weighs", "heavy"}),
    frozenset({"rating", "rated", "score", "stars"}),
    frozenset({"manager", "boss", "manages", "managed", "head"}),
)
# Words that never identify a column on their own (they are in many names: unit_price, item_count, ...).
_WEAK = frozenset({"id", "name", "no", "nr", "code", "num", "the", "of", "is", "at"})
# Question forms that ask for a kind of value when no column is named.
_MONEY = frozenset({"price", "cost", "amount", "fee", "salary", "total", "balance", "revenue", "usd", "eur"})
_PLACE = frozenset({"city", "country", "office", "location", "address", "site", "region", "place", "room"})
_TIME = frozenset({"year", "date", "founded", "born", "published", "opened", "built", "established", "released"})


def fold(word: str) -> str:
    """The plural fold of citations.py, so "shoes" names "shoe" and "prices" names "price"."""
    from ragft.citations import _fold

    return _fold(word.lower())


def name_words(column: str) -> set[str]:
    """The words of a column name: `unit_price` -> {unit, price}, `startYear` -> {start, year}, folded."""
    return {fold(w) for w in _WORD.findall(_CAMEL.sub(" ", column).replace("_", " "))}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "int" | "number" | "text" | "date" | "other"


@dataclass(frozen=True)
class RowHit(Hit):
    """A live SQL row as a citable Hit, with the structured values the cell rule reads (never rendered twice)."""

    table: str = ""
    key: str = ""
    columns: tuple[Column, ...] = ()
    values: tuple[Any, ...] = ()
    key_columns: tuple[str, ...] = ()

    def value(self, column: str) -> Any:
        return self.values[[c.name for c in self.columns].index(column)]


@dataclass(frozen=True)
class CellAnswer:
    """The cell that answers a question: the row (to cite), the column and the value as rendered in the row."""

    row: RowHit
    column: str
    value: str


def format_value(value: Any) -> str:
    """How a cell is shown in answers and rows: floats with two decimals (129.00), others as str."""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.2f}"
    return str(value)


def _question_words(question: str) -> list[str]:
    return [fold(w) for w in _WORD.findall(question)]


def _named_words(question: str, row: RowHit) -> tuple[int, set[str]]:
    """(question words the row's text values name, the text columns the question quotes)."""
    qwords = set(_question_words(question))
    low = " ".join(question.lower().split())
    named: set[str] = set()
    quoted: set[str] = set()
    for col, val in zip(row.columns, row.values):
        if col.kind != "text" or val is None:
            continue
        text = str(val)
        vwords = {fold(w) for w in _WORD.findall(text)} - _WEAK
        if not vwords:
            continue
        hit = vwords & qwords
        whole = re.search(r"(?<![\w-])" + re.escape(text.lower()) + r"(?![\w-])", low) is not None
        # One shared word names a one-word value; a longer value needs two of its words and at least half of
        # them ("Trail Runner" names "Trail Runner shoes"; "days" does not name "Day Backpack").
        if whole or hit == vwords or (len(hit) >= 2 and len(hit) * 2 >= len(vwords)):
            named |= hit if not whole else vwords
            quoted.add(col.name)
    return len(named), quoted


def _is_money(col: Column) -> bool:
    return col.kind in ("number", "int") and bool(name_words(col.name) & _MONEY)


def _is_count(col: Column) -> bool:
    return col.kind == "int" and not (name_words(col.name) & (_MONEY | _TIME | {"id"}))


def asked_columns(question: str, row: RowHit, quoted: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """The columns of `row` the question asks for (see the module docstring); quoted columns excluded."""
    qlist = _question_words(question)
    qwords = set(qlist)
    cols = [c for c in row.columns if c.name not in quoted]
    named: list[str] = []
    for c in cols:
        words = name_words(c.name) - _WEAK
        if not words:
            continue
        cue = set(words)
        for group in SYNONYM_GROUPS:
            if words & group:
                cue |= group
        if cue & qwords:
            named.append(c.name)
    if len(named) > 1:  # "unit price" when both `unit` and `price` exist: prefer a column all of whose words match
        full = [n for n in named if (name_words(n) - _WEAK) <= qwords]
        if len(full) == 1:
            return full
    if named:
        return named
    pairs = set(zip(qlist, qlist[1:]))
    if ("how", "much") in pairs:
        return [c.name for c in cols if _is_money(c)]
    if ("how", "many") in pairs:
        return [c.name for c in cols if _is_count(c)]
    if qlist[:1] == ["when"] or ("what", "year") in pairs:
        return [c.name for c in cols if c.kind == "date" or name_words(c.name) & _TIME]
    if qlist[:1] == ["where"]:
        return [c.name for c in cols if c.kind == "text" and name_words(c.name) & _PLACE]
    return []


def cell_answer(question: str, rows: Sequence[Hit]) -> CellAnswer | None:
    """The single cell that answers `question` from `rows` (RowHits), or None (then the model answers)."""
    scored: list[tuple[int, RowHit, set[str]]] = []
    for r in rows:
        if isinstance(r, RowHit) and r.columns:
            n, quoted = _named_words(question, r)
            if n > 0:
                scored.append((n, r, quoted))
    if not scored:
        return None
    best = max(s[0] for s in scored)
    top = [s for s in scored if s[0] == best]
    # Among the rows named equally well, the ones that also have exactly one asked column ("Which country is
    # Lyon in?": the cities row, not the staff row whose office is Lyon). Still several: not ours to choose.
    answerable = {(r.doc_id, r.key): (r, cols) for _, r, quoted in top
                  if len(cols := asked_columns(question, r, quoted)) == 1}
    if len(answerable) != 1:
        return None
    row, cols = next(iter(answerable.values()))
    value = row.value(cols[0])
    if value is None:
        return None
    return CellAnswer(row=row, column=cols[0], value=format_value(value))
