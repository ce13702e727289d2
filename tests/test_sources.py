"""Live SQL sources: registration, read-only access, parameterised matching, live rows (real SQLite files)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ragft.errors import ConfigError, NotFoundError, StoreError
from ragft.sources import SourceRegistry, SqlSource, SqlSourceConfig


def make_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE inventory (sku TEXT PRIMARY KEY, name TEXT, stock INTEGER, price REAL)")
    con.execute("CREATE TABLE staff (id INTEGER PRIMARY KEY, name TEXT, notes TEXT)")
    con.executemany("INSERT INTO inventory VALUES (?,?,?,?)", [
        ("TR-1", "Trail Runner shoe", 12, 89.0),
        ("CB-2", "City Boot", 4, 120.5),
        ("WS-3", "Wool Socks 100% merino", 40, 12.0),
        ("RJ-4", "Rain Jacket", 0, 150.0),
    ])
    con.execute("INSERT INTO staff VALUES (1, 'Alice', 'secret salary 90k')")
    con.commit()
    con.close()
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    return make_db(tmp_path / "shop.sqlite")


def source(db: Path, tables=("inventory",), **kw) -> SqlSource:  # type: ignore[no-untyped-def]
    return SqlSource(SqlSourceConfig(name="shop", url=f"sqlite:///{db}", tables=list(tables), **kw))


def test_rows_matching_question_terms_become_citable_hits(db):
    hits = source(db).query("How many Trail Runner shoes are in stock?")
    assert hits[0].source == "sql:shop/inventory#TR-1"
    assert hits[0].doc_id == "sql:shop/inventory" and hits[0].chunk_id == "sql:shop/inventory#TR-1"
    # the column the question asks about ("in stock") comes first, the rest in table order
    assert hits[0].text == "inventory TR-1: stock=12, sku=TR-1, name=Trail Runner shoe, price=89.00"
    assert all("Boot" not in h.text for h in hits)


def test_only_configured_tables_are_queried(db):
    assert source(db).query("What is Alice's salary?") == []
    assert source(db, tables=()).query("What is Alice salary?")[0].source == "sql:shop/staff#1"


def test_like_wildcards_in_the_question_are_literal(db):
    # "%" and "_" from the user must not turn into wildcards that match every row
    assert source(db).query("___ %%% ___") == []
    hits = source(db).query("socks 100% merino")
    assert [h.chunk_id for h in hits] == ["sql:shop/inventory#WS-3"]


def test_sql_in_the_question_is_just_a_search_term(db):
    hits = source(db).query("boot'; DROP TABLE inventory; --")
    assert [h.chunk_id for h in hits] == ["sql:shop/inventory#CB-2"]
    assert sqlite3.connect(db).execute("SELECT count(*) FROM inventory").fetchone()[0] == 4


def test_connection_is_read_only(db):
    from sqlalchemy import text

    src = source(db)
    src.query("boot")
    with src.engine.connect() as conn, pytest.raises(Exception, match="readonly|read-only|query_only"):
        conn.execute(text("UPDATE inventory SET stock = 0"))
    assert sqlite3.connect(db).execute("SELECT stock FROM inventory WHERE sku='TR-1'").fetchone()[0] == 12


def test_rows_are_live_and_bounded(db):
    src = source(db, max_rows=2)
    con = sqlite3.connect(db)
    con.execute("UPDATE inventory SET stock = 7 WHERE sku = 'TR-1'")
    con.commit()
    assert "stock=7" in src.query("trail runner stock")[0].text
    con.executemany("INSERT INTO inventory VALUES (?,?,?,?)", [(f"X{i}", f"runner {i}", i, 1.0) for i in range(20)])
    con.commit()
    assert len(src.query("runner")) == 2


def test_registry_add_list_remove(tmp_path, db):
    reg = SourceRegistry(tmp_path)
    info = reg.add_sql("shop", f"sqlite:///{db}", ["inventory"])
    assert info["columns"] == {"inventory": ["sku", "name", "stock", "price"]}
    stored = json.loads((tmp_path / "sources.json").read_text())
    assert stored["sources"][0]["url"] == f"sqlite:///{db}" and stored["sources"][0]["tables"] == ["inventory"]
    assert [s["name"] for s in reg.list()] == ["shop"]
    assert info["replaced"] is False and info["previous"] is None
    again = reg.add_sql("shop", f"sqlite:///{db}", [])  # re-adding replaces, no duplicate, and says so
    assert len(reg.list()) == 1 and reg.list()[0]["tables"] == []
    assert again["replaced"] is True and again["previous"]["tables"] == ["inventory"]
    reg.remove("shop")
    assert reg.list() == []
    with pytest.raises(NotFoundError, match="sources list"):
        reg.remove("shop")


@pytest.mark.parametrize("url, message", [
    ("postgresql+psycopg://bob:hunter2@localhost/shop", "password"),
    ("mysql://localhost/shop", "allowed: sqlite, postgresql"),
    ("not a url", "SQLAlchemy URL"),
    ("sqlite://", "file path"),
])
def test_bad_urls_are_refused(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message):
        SourceRegistry(tmp_path).add_sql("x", url)


def test_unknown_table_and_missing_file_are_clear_errors(tmp_path, db):
    # the tables that exist, not SQLAlchemy's "not available in Engine(sqlite+pysqlite:///file%3A...)"
    with pytest.raises(StoreError, match=r"no table nope; the database has .*inventory.* \(--table takes"):
        SourceRegistry(tmp_path).add_sql("shop", f"sqlite:///{db}", ["nope"])
    with pytest.raises(StoreError, match="not found"):
        SourceRegistry(tmp_path).add_sql("shop", f"sqlite:///{tmp_path / 'missing.sqlite'}")
    assert not (tmp_path / "missing.sqlite").exists()  # read-only open never creates the file
    with pytest.raises(ConfigError, match="invalid"):
        SourceRegistry(tmp_path).add_sql("../evil", f"sqlite:///{db}")


def test_cli_sources_commands(tmp_path, db):
    from typer.testing import CliRunner

    from ragft.cli import app

    ws = str(tmp_path / "ws")
    runner = CliRunner()
    res = runner.invoke(app, ["sources", "add-sql", "shop", f"sqlite:///{db}", "--table", "inventory", "-w", ws, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["columns"]["inventory"][0] == "sku"
    res = runner.invoke(app, ["sources", "add-sql", "shop", f"sqlite:///{db}", "-w", ws])  # again, all tables
    assert res.exit_code == 0 and res.stdout.startswith("replaced source shop (tables were: inventory): "), res.output
    res = runner.invoke(app, ["sources", "add-sql", "shop", f"sqlite:///{db}", "--table", "inventory", "-w", ws])
    assert res.stdout.startswith("replaced source shop (tables were: all): "), res.output
    res = runner.invoke(app, ["sources", "list", "-w", ws, "--json"])
    assert [s["name"] for s in json.loads(res.stdout)["sources"]] == ["shop"]
    res = runner.invoke(app, ["sources", "list", "-w", ws])
    assert "shop" in res.stdout and "inventory" in res.stdout
    res = runner.invoke(app, ["sources", "remove", "nope", "-w", ws])
    assert res.exit_code == 2 and "no source named 'nope'" in res.stderr
    res = runner.invoke(app, ["sources", "remove", "shop", "-w", ws, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == {"removed": "shop"}


# --------------------------------------------------------------------------- table-cell rule (issue 25)
@pytest.fixture
def labelled_tables(tmp_path):  # type: ignore[no-untyped-def]
    from tests.table_questions import build_table_db

    db = tmp_path / "tables.sqlite"
    questions = build_table_db(db)
    src = SqlSource(SqlSourceConfig(name="bench", url=f"sqlite:///{db}"))
    yield src, questions
    src.close()


def test_the_table_cell_rule_never_picks_a_wrong_cell_on_the_labelled_questions(labelled_tables):
    from ragft.sources.cells import cell_answer

    src, questions = labelled_tables
    assert len(questions) >= 30 and len({q["table"] for q in questions}) >= 4
    wrong, missed = [], []
    for item in questions:
        got = cell_answer(item["q"], src.query(item["q"]))
        if got is None:
            if item["column"] is not None:
                missed.append(item["q"])
            continue
        if (got.row.table, got.row.key, got.column) != (item["table"], item["key"], item["column"]):
            wrong.append((item["q"], got.row.key, got.column))
    assert wrong == []  # a wrong cell is a confidently wrong answer: never
    assert missed == []  # every labelled cell question is answered by the rule (benchmarks/answers.py --part tables)


def test_cell_values_are_read_fresh_and_typed(db):
    from ragft.sources.cells import RowHit, cell_answer

    src = source(db)
    rows = src.query("How many Trail Runner shoes are in stock?")
    assert isinstance(rows[0], RowHit) and rows[0].value("stock") == 12
    assert cell_answer("How many Trail Runner shoes are in stock?", rows).value == "12"
    assert cell_answer("How much is the Trail Runner shoe?", src.query("How much is the Trail Runner shoe?")).value == "89.00"
    con = sqlite3.connect(db)
    con.execute("UPDATE inventory SET stock = 3 WHERE sku = 'TR-1'")
    con.commit()
    con.close()
    assert cell_answer("How many Trail Runner shoes are in stock?",
                       src.query("How many Trail Runner shoes are in stock?")).value == "3"
    # one shared common word does not name a row: "days" is not the "Day Backpack"
    assert cell_answer("How many days do I have to return an item?", [
        rows[0].__class__(**{**rows[0].__dict__, "values": ("DB-5", "Day Backpack", 21, 79.0)})]) is None
