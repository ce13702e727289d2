"""Row/column questions from tables: CSV rows, `key: value` records and `a | b | c` table rows.

The loaders (ragft/documents/loaders.py) write a CSV row and a JSON record as `column: value; column: value`, and
an HTML/docx/Markdown table row without a header as `cell | cell | cell`; a workspace ingested before pipeline
version 3 has JSON records as one `key: value` line each, which read as records too. A table cell is the
cleanest answer span a document has: the row names the thing, the column names the attribute, so the question
"What is the <column> for <first column> <row key>?" is answerable from the row and does not contain the value.

Pipe tables carry no column names on their rows: the header is the first row of a run of rows with the same
number of cells, and a run may continue into the next chunk of the same document (`TableState` carries it).
Yes/no cells and cells that repeat the row key are skipped (a yes/no answer cannot be quoted as a span for RAFT,
and a repeated key would be given away by the question).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CSV_PAIR = re.compile(r"^\s*([^:;|]{1,40}?):\s+(.+?)\s*$")
_RECORD_LINE = re.compile(r"^([A-Za-z][\w .-]{0,39}):\s+(.+?)\s*$")
_SKIP_VALUES = {"yes", "no", "true", "false", "-", "n/a", "none", "null", ""}
MAX_VALUE_WORDS = 8


@dataclass(frozen=True)
class TableCell:
    """One cell as a question: `question` about `row`, answered by `answer` (a span of `row`)."""

    question: str
    answer: str
    row: str


@dataclass
class TableState:
    """The open pipe-table header of a document, carried across its chunks (in ordinal order)."""

    header: list[str] = field(default_factory=list)


def _clean_label(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).strip(" .:")


def _question(column: str, key_column: str, key: str) -> str:
    key_column = _clean_label(key_column)
    column = _clean_label(column)
    lead = f"{key_column.lower()} {key}" if key_column and key_column.lower() != key.lower() else key
    last = column.split()[-1].lower() if column.split() else ""
    verb = "are" if last.endswith("s") and not last.endswith(("ss", "us", "is")) else "is"
    return f"What {verb} the {column.lower()} for {lead}?"


def _usable(value: str, key: str) -> bool:
    v = value.strip()
    return (v.lower() not in _SKIP_VALUES and 1 <= len(v.split()) <= MAX_VALUE_WORDS
            and v.lower() != key.lower() and v.lower() not in key.lower() and key.lower() not in v.lower())


def _pairs_row(cells: list[tuple[str, str]], row: str) -> list[TableCell]:
    """Cells of one `column: value` row; the first column is the row key."""
    if len(cells) < 2:
        return []
    key_column, key = cells[0]
    if not key or len(key.split()) > 8:
        return []
    return [TableCell(_question(col, key_column, key), value, row) for col, value in cells[1:]
            if col and _usable(value, key)]


def _name_values(parts: list[str], pattern: re.Pattern[str]) -> list[tuple[str, str]] | None:
    """(name, value) of every part by `pattern` (groups 1 and 2), or None when one part does not match: a row
    is a table row only if all of it is."""
    cells = []
    for part in parts:
        m = pattern.match(part)
        if not m:
            return None
        cells.append((m.group(1).strip(), m.group(2).strip()))
    return cells


def csv_row_cells(line: str) -> list[TableCell]:
    """`store: Northwind Ghent; city: Ghent; address: Veldstraat 44` -> one question per usable cell."""
    cells = _name_values([p for p in line.split(";") if p.strip()], _CSV_PAIR)
    if cells is None:
        return []
    names = [c for c, _ in cells]
    if len(set(names)) != len(names) or any(": " in v for _, v in cells):
        return []  # two rows glued together (a chunk's overlap tail before its first row): which key is unclear
    return _pairs_row(cells, line) if len(cells) >= 2 else []


def record_cells(lines: list[str]) -> list[TableCell]:
    """A paragraph of `key: value` lines (a JSON record): the first line is the record's key."""
    cells = _name_values(lines, _RECORD_LINE)
    return _pairs_row(cells, "\n".join(lines)) if cells is not None else []


def pipe_row_cells(row: list[str], header: list[str], line: str) -> list[TableCell]:
    if len(row) != len(header) or len(row) < 2:
        return []
    key = row[0]
    return [TableCell(_question(header[j], header[0], key), row[j], line) for j in range(1, len(row))
            if header[j] and _usable(row[j], key)]


def table_cells(text: str, state: TableState | None = None) -> list[TableCell]:
    """Every row/column question in a chunk's text, in reading order."""
    state = state if state is not None else TableState()
    out: list[TableCell] = []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in para.strip().splitlines() if ln.strip()]
        if not lines:
            continue
        if len(lines) == 1 and " | " in lines[0]:
            cells = [c.strip() for c in lines[0].split(" | ")]
            if state.header and len(cells) == len(state.header):
                out.extend(pipe_row_cells(cells, state.header, lines[0]))
            elif not any(ch.isdigit() for ch in lines[0]):
                state.header = cells  # a new run starts with its header row (names, no figures)
            # else: a row that does not fit the open header (e.g. two rows glued by a chunk's overlap): skipped
            continue
        state.header = []
        if len(lines) == 1 and ";" in lines[0]:
            out.extend(csv_row_cells(lines[0]))
        elif len(lines) >= 2:
            out.extend(record_cells(lines))
    return out
