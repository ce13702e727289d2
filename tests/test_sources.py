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
    reg.add_sql("shop", f"sqlite:///{db}", [])  # re-adding replaces, no duplicate
    assert len(reg.list()) == 1 and reg.list()[0]["tables"] == []
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
    with pytest.raises(StoreError, match="--table"):
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
    res = runner.invoke(app, ["sources", "list", "-w", ws, "--json"])
    assert [s["name"] for s in json.loads(res.stdout)["sources"]] == ["shop"]
    res = runner.invoke(app, ["sources", "list", "-w", ws])
    assert "shop" in res.stdout and "inventory" in res.stdout
    res = runner.invoke(app, ["sources", "remove", "nope", "-w", ws])
    assert res.exit_code == 2 and "no source named 'nope'" in res.stderr
    res = runner.invoke(app, ["sources", "remove", "shop", "-w", ws, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == {"removed": "shop"}
