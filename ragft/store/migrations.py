"""Numbered schema migrations for the SQLite store (STYLE.md §10).

Each migration is a function `mNNN_name(conn)`; `MIGRATIONS` lists them in order. `migrate(conn)` applies
the ones not yet recorded in `_ragft_migrations`, each in its own transaction. Never edit a shipped
migration: add the next one. The PostgreSQL backend keeps its own list with the same names.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone

Migration = Callable[[sqlite3.Connection], None]


def m001_initial(conn: sqlite3.Connection) -> None:
    """Documents, chunks (+ float32 vector blob), FTS5 index over chunk text, ACL join table, meta."""
    conn.executescript(
        """
        CREATE TABLE documents (
            doc_id       TEXT PRIMARY KEY,
            source       TEXT NOT NULL,
            title        TEXT NOT NULL DEFAULT '',
            content_hash TEXT NOT NULL,
            mtime        REAL,
            groups       TEXT NOT NULL DEFAULT '[]',   -- JSON list, mirrored in doc_groups for queries
            subject      TEXT,
            metadata     TEXT NOT NULL DEFAULT '{}'    -- JSON object
        );
        CREATE INDEX documents_subject ON documents(subject);

        -- id is the join key to the FTS index and the dense matrix.
        CREATE TABLE chunks (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: in-memory indexes key on it
            chunk_id TEXT NOT NULL UNIQUE,
            doc_id   TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
            ordinal  INTEGER NOT NULL,
            text     TEXT NOT NULL,
            heading  TEXT NOT NULL DEFAULT '',
            n_tokens INTEGER NOT NULL DEFAULT 0,
            acl      TEXT NOT NULL DEFAULT '',          -- ACL tokens of the document's groups (sqlite.acl_tokens)
            vector   BLOB                                -- float32, little-endian, L2-normalised
        );
        CREATE INDEX chunks_doc ON chunks(doc_id);

        -- External-content FTS5 over chunks(heading, text, acl); triggers keep it in step inside the same
        -- transaction as the chunk rows (so replace/delete stay atomic). The acl column lets the group
        -- filter run inside the MATCH, before FTS5's top-k (ORDER BY rank LIMIT k).
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            heading, text, acl, content='chunks', content_rowid='id', tokenize='porter unicode61'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, heading, text, acl) VALUES (new.id, new.heading, new.text, new.acl);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, heading, text, acl) VALUES ('delete', old.id, old.heading, old.text, old.acl);
        END;
        CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, heading, text, acl) VALUES ('delete', old.id, old.heading, old.text, old.acl);
            INSERT INTO chunks_fts(rowid, heading, text, acl) VALUES (new.id, new.heading, new.text, new.acl);
        END;

        CREATE TABLE doc_groups (
            doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
            grp    TEXT NOT NULL,
            PRIMARY KEY (doc_id, grp)
        ) WITHOUT ROWID;
        CREATE INDEX doc_groups_grp ON doc_groups(grp, doc_id);

        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- Bumped in every write transaction; readers compare it to invalidate in-memory indexes
        -- (works across processes, unlike an in-memory counter).
        INSERT INTO meta(key, value) VALUES ('generation', '0');
        """
    )


def m002_planner_statistics(conn: sqlite3.Connection) -> None:
    """Create the query planner's statistics table now, while the schema is being changed anyway.

    Why: `SqliteStore.close` runs `PRAGMA optimize`, whose first ANALYZE *creates* `sqlite_stat1` — a schema
    change. A second process that had already loaded the schema (two `ragft ingest` runs at once) then failed its
    next write with "no such table: chunks" (SQLite 3.40.1; 3 of 150 two-writer runs, 0 of 300 once the table
    existed before the writers opened). With the table made here, later optimizes only update its rows."""
    conn.executescript("ANALYZE;")


MIGRATIONS: list[Migration] = [m001_initial, m002_planner_statistics]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations in order; returns the names applied now."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _ragft_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM _ragft_migrations")}
    applied: list[str] = []
    for fn in MIGRATIONS:
        name = fn.__name__
        if name in done:
            continue
        # executescript commits any open transaction first; wrap explicitly so a failing migration
        # leaves no half schema and no record.
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Checked again under the write lock: another process opening a brand-new store at the same moment
            # may have applied it between the read above and the lock ("table documents already exists").
            if conn.execute("SELECT 1 FROM _ragft_migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("COMMIT")
                continue
            _run_in_tx(conn, fn)
            conn.execute(
                "INSERT INTO _ragft_migrations(name, applied_at) VALUES (?, ?)",
                (name, datetime.now(timezone.utc).isoformat()),
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def _run_in_tx(conn: sqlite3.Connection, fn: Migration) -> None:
    """Run a migration's statements inside the caller's open transaction.

    `executescript` would COMMIT first, so split the script ourselves: migrations call
    `conn.executescript`, which we intercept with a proxy that executes statement by statement.
    """
    fn(_TxConnection(conn))  # type: ignore[arg-type]


class _TxConnection:
    """Minimal proxy whose `executescript` runs statements one by one without committing."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def executescript(self, script: str) -> None:
        buf = ""
        for line in script.splitlines(keepends=True):
            stripped = line.split("--", 1)[0] if "--" in line else line
            buf += stripped
            if sqlite3.complete_statement(buf):
                if buf.strip():
                    self._conn.execute(buf)
                buf = ""
        assert not buf.strip(), f"incomplete SQL statement in migration: {buf!r}"

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)
