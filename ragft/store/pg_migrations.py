"""Numbered schema migrations for the PostgreSQL store (STYLE.md §10), same names as the SQLite list.

Each migration is a function `mNNN_name(cur)` run inside one transaction together with its record in
`_ragft_migrations`; a transaction-scoped advisory lock makes concurrent openers (two ingesting processes,
a server and a CLI) apply each migration exactly once. Never edit a shipped migration: add the next one.

The vector column is created untyped (`vector`, no dimension): the dimension is the embedder's and only
known at the first write, when `PostgresStore` types the column and builds the HNSW index (see
`postgres.py:_ensure_dim`). That step is data, not schema, so it is not a migration.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from ragft.errors import StoreError

Migration = Callable[[psycopg.Cursor], None]

# pg_advisory_xact_lock key shared by every ragft process on the database ("ragft" in ASCII).
MIGRATION_LOCK = 0x7261676674


def m001_initial(cur: psycopg.Cursor) -> None:
    """Documents, chunks (+ pgvector column, generated tsvector), BM25 helper, meta."""
    cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
    cur.execute(
        """
        CREATE TABLE documents (
            doc_id       text PRIMARY KEY,
            source       text NOT NULL,
            title        text NOT NULL DEFAULT '',
            content_hash text NOT NULL,
            mtime        double precision,
            groups       text[] NOT NULL DEFAULT '{}',
            subject      text,
            metadata     jsonb NOT NULL DEFAULT '{}'
        )
        """
    )
    cur.execute("CREATE INDEX documents_subject ON documents(subject) WHERE subject IS NOT NULL")
    # Token count of a tsvector (sum of positions): BM25's document length. IMMUTABLE so a generated
    # column may use it; a generated column cannot reference another one, hence the repeated to_tsvector.
    cur.execute(
        """
        CREATE FUNCTION ragft_tsv_len(tsvector) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
        $$ SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0)::integer FROM unnest($1) AS t $$
        """
    )
    cur.execute(
        """
        CREATE TABLE chunks (
            id        bigserial PRIMARY KEY,
            chunk_id  text NOT NULL UNIQUE,
            doc_id    text NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
            ordinal   integer NOT NULL,
            text      text NOT NULL,
            heading   text NOT NULL DEFAULT '',
            n_tokens  integer NOT NULL DEFAULT 0,
            -- the document's groups, copied so the ACL predicate runs on the row the index scan returns
            groups    text[] NOT NULL DEFAULT '{}',
            embedding vector,
            tsv       tsvector GENERATED ALWAYS AS (to_tsvector('english', heading || ' ' || text)) STORED,
            dl        integer GENERATED ALWAYS AS (ragft_tsv_len(to_tsvector('english', heading || ' ' || text))) STORED
        )
        """
    )
    cur.execute("CREATE INDEX chunks_doc ON chunks(doc_id, ordinal)")
    cur.execute("CREATE INDEX chunks_tsv ON chunks USING gin(tsv)")
    cur.execute("CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)")


def m002_planner_statistics(cur: psycopg.Cursor) -> None:
    """Same name as the SQLite migration, which creates SQLite's planner-statistics table up front; here it only
    gathers the statistics of ragft's own tables (autovacuum keeps them fresh afterwards)."""
    cur.execute("ANALYZE documents, chunks, meta")


MIGRATIONS: list[Migration] = [m001_initial, m002_planner_statistics]


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations in order (each in its own transaction); returns the names applied now."""
    applied: list[str] = []
    for fn in MIGRATIONS:
        name = fn.__name__
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS _ragft_migrations"
                    " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                cur.execute("SELECT 1 FROM _ragft_migrations WHERE name = %s", (name,))
                if cur.fetchone() is not None:
                    continue
                fn(cur)
                cur.execute("INSERT INTO _ragft_migrations(name) VALUES (%s)", (name,))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise StoreError(
                f"migration {name}: insufficient privilege ({exc}); ask the database owner to run "
                "`CREATE EXTENSION vector` and grant CREATE on the schema, then rerun `ragft store migrate`"
            ) from exc
        except psycopg.errors.FeatureNotSupported as exc:
            raise StoreError(f"migration {name}: {exc}; the server needs pgvector >= 0.8 installed") from exc
        applied.append(name)
    return applied


def applied_migrations(conn: psycopg.Connection) -> list[str]:
    """Names recorded in `_ragft_migrations` (empty on a blank database)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('_ragft_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT name FROM _ragft_migrations ORDER BY name")
        return [r[0] for r in cur.fetchall()]
