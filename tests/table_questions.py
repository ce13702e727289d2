"""The labelled table questions (tests/fixtures/table_questions.json) as a real SQLite database.

One builder for the table-cell rule's test (tests/test_sources.py) and its benchmark (benchmarks/answers.py
--tables), so both read the same tables the same way.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

TABLE_QUESTIONS = Path(__file__).parent / "fixtures" / "table_questions.json"


def build_table_db(db: Path, fixture: Path = TABLE_QUESTIONS) -> list[dict[str, Any]]:
    """Create every table of `fixture` (its schema, then its rows) in the SQLite file `db`; return the labelled
    questions ({"q", "table", "key", "column"}; column None when the rule should leave the question alone)."""
    spec = json.loads(Path(fixture).read_text(encoding="utf-8"))
    con = sqlite3.connect(db)
    try:
        for name, t in spec["tables"].items():
            con.execute(t["schema"])
            con.executemany(f"INSERT INTO {name} VALUES ({','.join('?' * len(t['rows'][0]))})", t["rows"])
        con.commit()
    finally:
        con.close()
    return spec["questions"]
