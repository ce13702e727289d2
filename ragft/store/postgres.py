"""The scale-out store: PostgreSQL + pgvector behind the same `Store` protocol as the SQLite file.

Why this shape:
- One transaction per `replace_document` / `delete_documents` on a pooled connection (psycopg 3 +
  psycopg_pool). The document row is upserted first, so its row lock serialises concurrent replaces of the
  same document while different documents are written in parallel by any number of processes.
- Dense search is pgvector's HNSW index (`vector_cosine_ops`); score = 1 - cosine distance. The ACL is a
  WHERE on the chunk's own `groups` array, so with `hnsw.iterative_scan = relaxed_order` (pgvector >= 0.8)
  the index scan keeps going until k *visible* rows are found: a selective filter still yields k hits.
  relaxed_order may return rows slightly out of order, so the k rows are re-sorted by exact distance.
- Full text is a generated `tsvector` (english config) with a GIN index, ranked by BM25 computed in SQL with
  FTS5's formula (k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6), so scores and
  rankings track the SQLite backend (BEIR numbers in docs/benchmarks.md "## Store backends"). N and the
  average document length are cached per store object for `stats_ttl` seconds (refreshed at once after
  this object writes); per-term document frequencies are exact on every query.
- User text never reaches tsquery syntax: it is cut into word tokens like the SQLite backend does, stemmed
  by `to_tsvector`, and the resulting lexemes are quoted and OR-ed.
- Passwords never live in ragft.toml: the DSN must not carry one; it comes from the environment variable
  named by `[store] password_env` (or libpq's own PGPASSWORD / ~/.pgpass).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from contextlib import contextmanager
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from ragft.errors import ConfigError, StoreError
from ragft.store.pg_migrations import MIGRATION_LOCK, migrate
from ragft.store.base import CHUNK_COLUMNS, chunk_from_row
from ragft.text import query_terms
from ragft.types import Chunk, Document, Hit

if TYPE_CHECKING:
    from ragft.config import StoreSettings

# Visible when the document is public (no groups) or shares a group with the caller.
_ACL = "(cardinality(c.groups) = 0 OR c.groups && %(groups)s::text[])"
_K1, _B = 1.2, 0.75


def redact_dsn(dsn: str) -> str:
    """`dsn` without any password, in key=value form (safe to print and to store in ragft.toml)."""
    params = conninfo_to_dict(dsn)
    params.pop("password", None)
    return make_conninfo(**params)


def _bm25_sql(acl: bool) -> str:
    # ql: the query's lexemes (stemmed, PG stopwords removed); df: exact document frequency per lexeme
    # (over all chunks, as FTS5 does); cand: visible chunks matching any lexeme (GIN index); then BM25.
    return f"""
    WITH ql AS (SELECT DISTINCT t.lexeme FROM unnest(to_tsvector('english', %(q)s::text)) AS t),
    tq AS (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS q FROM ql),
    idf AS MATERIALIZED (  -- materialised: inlined, the counts would rerun for every candidate row
        SELECT ql.lexeme,
               (SELECT count(*) FROM chunks c WHERE c.tsv @@ quote_literal(ql.lexeme)::tsquery) AS n
        FROM ql
    ),
    w AS MATERIALIZED (
        SELECT lexeme, CASE WHEN (%(N)s - n + 0.5) / (n + 0.5) > 1
                            THEN ln((%(N)s - n + 0.5) / (n + 0.5)) ELSE 1e-6 END AS idf
        FROM idf
    ),
    cand AS MATERIALIZED (
        SELECT c.id, c.tsv, c.dl FROM chunks c WHERE c.tsv @@ (SELECT q FROM tq){' AND ' + _ACL if acl else ''}
    ),
    scored AS (
        SELECT cand.id,
               sum(w.idf * u.tf * {_K1 + 1} / (u.tf + {_K1} * (1 - {_B} + {_B} * cand.dl / %(avgdl)s))) AS score
        FROM cand
        CROSS JOIN LATERAL (
            SELECT t.lexeme, coalesce(array_length(t.positions, 1), 1) AS tf FROM unnest(cand.tsv) AS t
        ) AS u
        JOIN w ON w.lexeme = u.lexeme
        GROUP BY cand.id
        ORDER BY score DESC, cand.id
        LIMIT %(k)s
    )
    SELECT c.doc_id, c.chunk_id, d.source, s.score, c.text
    FROM scored s JOIN chunks c ON c.id = s.id JOIN documents d ON d.doc_id = c.doc_id
    ORDER BY s.score DESC, s.id
    """


def _dense_sql(acl: bool) -> str:
    # MATERIALIZED keeps the planner from merging the outer ORDER BY into the index scan; the outer sort
    # restores exact order after relaxed_order's iterative scan.
    return f"""
    WITH nn AS MATERIALIZED (
        SELECT c.id, c.embedding <=> %(v)s AS dist FROM chunks c
        WHERE c.embedding IS NOT NULL{' AND ' + _ACL if acl else ''}
        ORDER BY c.embedding <=> %(v)s
        LIMIT %(k)s
    )
    SELECT c.doc_id, c.chunk_id, d.source, 1 - nn.dist, c.text
    FROM nn JOIN chunks c ON c.id = nn.id JOIN documents d ON d.doc_id = c.doc_id
    ORDER BY nn.dist, nn.id
    """


_HNSW_INDEX = "CREATE INDEX IF NOT EXISTS chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops)"
_EMBEDDING_TYPMOD = "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'"


class PostgresStore:
    """`Store` on a PostgreSQL database with pgvector. The schema is migrated on open.

    Args:
        dsn: libpq connection string or URL, without a password.
        password: the password (resolved by `open_postgres_store` from `[store] password_env`), or None to
            leave it to libpq (PGPASSWORD, ~/.pgpass, trust/peer auth).
        pool_size: connections kept by this process (the server's worker threads share them).
        ef_search: HNSW candidate list size; raised to k for larger k (recall@100 needs >= 100).
        stats_ttl: seconds the BM25 corpus statistics (N, average length) may be reused across writes made
            by *other* processes; this object's own writes refresh them immediately.
    """

    def __init__(self, dsn: str, *, password: str | None = None, pool_size: int = 4, ef_search: int = 100,
                 stats_ttl: float = 5.0) -> None:
        if not dsn:
            raise ConfigError("store backend 'postgres' needs a DSN: set [store] dsn = \"postgresql://user@host/db\" in ragft.toml")
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"[store] dsn is not a valid PostgreSQL connection string: {exc}") from exc
        if params.get("password"):
            raise ConfigError(
                "[store] dsn contains a password; remove it and put the password in an environment variable "
                "named by [store] password_env (e.g. password_env = \"RAGFT_PG_PASSWORD\")"
            )
        self.dsn = dsn
        self.ef_search = int(ef_search)
        self.stats_ttl = float(stats_ttl)
        kwargs: dict[str, Any] = {"password": password} if password else {}
        try:
            with psycopg.connect(dsn, autocommit=True, **kwargs) as conn:
                migrate(conn)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {redact_dsn(dsn)}: {str(exc).strip()}") from exc
        self._pool = ConnectionPool(dsn, min_size=1, max_size=max(1, pool_size), kwargs=kwargs,
                                    configure=_configure, open=True, name="ragft-store")
        self._stats_lock = threading.Lock()
        self._stats: tuple[float, float, float] | None = None  # (monotonic time, N, avgdl)
        self._dim: int | None = None
        self._defer_index = False

    # ------------------------------------------------------------------ connections
    def _conn(self):  # type: ignore[no-untyped-def]
        if self._pool is None:
            raise StoreError("the PostgreSQL store is closed; open the workspace again")
        return self._pool.connection()

    # ------------------------------------------------------------------ documents
    def get_document(self, doc_id: str) -> Document | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT doc_id, source, title, content_hash, mtime, groups, subject, metadata"
                " FROM documents WHERE doc_id = %s", (doc_id,),
            ).fetchone()
        return _document(row) if row else None

    def list_documents(self, subject: str | None = None) -> list[Document]:
        sql = "SELECT doc_id, source, title, content_hash, mtime, groups, subject, metadata FROM documents"
        params: tuple = ()
        if subject is not None:
            sql += " WHERE subject = %s"
            params = (subject,)
        with self._conn() as conn:
            rows = conn.execute(sql + " ORDER BY doc_id", params).fetchall()
        return [_document(r) for r in rows]

    def replace_document(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        vecs = _check_write(doc, chunks, vectors)
        groups = sorted(set(doc.groups))
        if vecs.ndim == 2 and len(chunks):
            self._ensure_dim(vecs.shape[1])
        try:
            with self._conn() as conn, conn.transaction():
                # Upsert the document first: its row lock orders concurrent replaces of the same doc_id.
                conn.execute(
                    "INSERT INTO documents(doc_id, source, title, content_hash, mtime, groups, subject, metadata)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (doc_id) DO UPDATE SET source = excluded.source, title = excluded.title,"
                    " content_hash = excluded.content_hash, mtime = excluded.mtime, groups = excluded.groups,"
                    " subject = excluded.subject, metadata = excluded.metadata",
                    (doc.doc_id, doc.source, doc.title, doc.content_hash, doc.mtime, groups, doc.subject,
                     json.dumps(doc.metadata, default=str)),
                )
                conn.execute("DELETE FROM chunks WHERE doc_id = %s", (doc.doc_id,))
                if chunks:
                    with conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO chunks(chunk_id, doc_id, ordinal, text, heading, n_tokens, groups, embedding)"
                            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                            [(ch.chunk_id, doc.doc_id, ch.ordinal, ch.text, ch.heading, ch.n_tokens, groups, vecs[i])
                             for i, ch in enumerate(chunks)],
                        )
        except psycopg.errors.UniqueViolation as exc:
            raise StoreError(f"document {doc.doc_id}: {exc.diag.message_detail or exc} "
                             "(chunk ids must be unique across documents)") from exc
        self._stats = None

    def _ensure_dim(self, dim: int) -> None:
        """Type the vector column as vector(dim) and build the HNSW index on the first write with vectors.

        A different dim is refused unless `vector_dim` in meta already names it (re-embedding with a new
        model: `ragft reembed` sets it first); then the old vectors, unusable with the new model, are cleared.
        """
        if self._dim == dim:
            return
        with self._conn() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK + 1,))
            typed = conn.execute(_EMBEDDING_TYPMOD).fetchone()[0]
            row = conn.execute("SELECT value FROM meta WHERE key = 'vector_dim'").fetchone()
            declared = int(row[0]) if row else None
            if typed == dim:
                self._dim = dim
                return
            if declared is not None and declared != dim:
                raise StoreError(
                    f"vectors have {dim} dims but this store holds {declared}-dim vectors; the embedder changed: "
                    "re-embed the workspace (ragft reembed) or switch the embedder back"
                )
            conn.execute("DROP INDEX IF EXISTS chunks_embedding_hnsw")
            using = " USING NULL" if typed > 0 else ""
            conn.execute(f"ALTER TABLE chunks ALTER COLUMN embedding TYPE vector({int(dim)}){using}")
            if not self._defer_index:
                conn.execute(_HNSW_INDEX)
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('vector_dim', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(dim),),
            )
        self._dim = dim

    @contextmanager
    def deferred_vector_index(self) -> Iterator[None]:
        """Bulk load without maintaining the HNSW index, then build it once (measured ~5x faster ingest at
        100k chunks, docs/benchmarks.md). Dense searches meanwhile are exact sequential scans: correct, slower."""
        self._defer_index = True
        with self._conn() as conn:
            conn.execute("DROP INDEX IF EXISTS chunks_embedding_hnsw")
        try:
            yield
        finally:
            self._defer_index = False
            with self._conn() as conn:
                typed = conn.execute(_EMBEDDING_TYPMOD).fetchone()[0]
                if typed > 0:
                    conn.execute("SET maintenance_work_mem = '512MB'")
                    conn.execute(_HNSW_INDEX)

    def delete_documents(self, doc_ids: Iterable[str]) -> tuple[int, int]:
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return (0, 0)
        with self._conn() as conn, conn.transaction():
            n_chunks = conn.execute("DELETE FROM chunks WHERE doc_id = ANY(%s)", (ids,)).rowcount
            n_docs = conn.execute("DELETE FROM documents WHERE doc_id = ANY(%s)", (ids,)).rowcount
        self._stats = None
        return (n_docs, n_chunks)

    # ------------------------------------------------------------------ search
    def search_bm25(self, query: str, k: int, groups: set[str] | None = None) -> list[Hit]:
        terms = query_terms(query)
        if not terms or k <= 0:
            return []
        n, avgdl = self._corpus_stats()
        if n == 0:
            return []
        params = {"q": " ".join(terms), "N": n, "avgdl": max(avgdl, 1e-9), "k": int(k),
                  "groups": sorted(groups) if groups is not None else None}
        with self._conn() as conn:
            rows = conn.execute(_bm25_sql(groups is not None), params).fetchall()
        return [Hit(doc_id=r[0], chunk_id=r[1], source=r[2], score=float(r[3]), text=r[4]) for r in rows]

    def _corpus_stats(self) -> tuple[float, float]:
        """(number of chunks, average BM25 length), cached for `stats_ttl` seconds."""
        with self._stats_lock:
            now = time.monotonic()
            if self._stats is None or now - self._stats[0] > self.stats_ttl:
                with self._conn() as conn:
                    n, total = conn.execute("SELECT count(*), coalesce(sum(dl), 0) FROM chunks").fetchone()
                self._stats = (now, float(n), float(total) / n if n else 0.0)
            return self._stats[1], self._stats[2]

    def search_dense(self, vector: np.ndarray, k: int, groups: set[str] | None = None) -> list[Hit]:
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if k <= 0:
            return []
        with self._conn() as conn, conn.transaction():
            dim = conn.execute(_EMBEDDING_TYPMOD).fetchone()[0]
            if dim <= 0:
                return []  # no vector written yet
            if q.shape[0] != dim:
                raise StoreError(
                    f"query vector has {q.shape[0]} dims, the store holds {dim}-dim vectors; "
                    "the embedder changed: re-embed the workspace or switch the embedder back"
                )
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(min(1000, max(self.ef_search, k))),))
            params = {"v": q, "k": int(k), "groups": sorted(groups) if groups is not None else None}
            rows = conn.execute(_dense_sql(groups is not None), params).fetchall()
        return [Hit(doc_id=r[0], chunk_id=r[1], source=r[2], score=float(r[3]), text=r[4]) for r in rows]

    # ------------------------------------------------------------------ chunks, stats, meta
    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        ids = list(chunk_ids)
        if not ids:
            return []
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE chunk_id = ANY(%s)",
                (ids,),
            ).fetchall()
        by_id = {r[0]: chunk_from_row(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def iter_chunks(self, doc_ids: Sequence[str] | None = None) -> Iterator[Chunk]:
        """All chunks (optionally of some documents) in document order, streamed with a server-side cursor."""
        sql = f"SELECT {CHUNK_COLUMNS} FROM chunks"
        params: tuple = ()
        if doc_ids is not None:
            sql += " WHERE doc_id = ANY(%s)"
            params = (list(doc_ids),)
        with self._conn() as conn, conn.transaction(), conn.cursor(name="ragft_iter_chunks") as cur:
            cur.execute(sql + " ORDER BY doc_id, ordinal", params)
            for r in cur:
                yield chunk_from_row(r)

    def chunk_groups(self, chunk_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        ids = list(chunk_ids)
        if not ids:
            return {}
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT c.chunk_id, d.groups FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
                " WHERE c.chunk_id = ANY(%s)", (ids,),
            ).fetchall()
        return {r[0]: tuple(r[1]) for r in rows}

    def stats(self) -> dict[str, int]:
        with self._conn() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            docs = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
            chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return {"documents": int(docs), "chunks": int(chunks)}

    def get_meta(self, key: str) -> str | None:
        with self._conn() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, str(value)),
            )

    # ------------------------------------------------------------------ maintenance
    def compact(self) -> None:
        """VACUUM FULL rewrites tables and indexes so deleted rows leave no bytes in the data files, then a
        CHECKPOINT lets the server recycle WAL segments (needs pg_checkpoint; skipped without it). WAL
        archives, replicas and backups are the operator's to purge."""
        with self._conn() as conn:
            conn.commit()
            conn.autocommit = True
            try:
                conn.execute("VACUUM (FULL, ANALYZE) chunks, documents, meta")
                try:
                    conn.execute("CHECKPOINT")
                except psycopg.errors.InsufficientPrivilege:
                    pass
            finally:
                conn.autocommit = False

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None  # type: ignore[assignment]


def _configure(conn: psycopg.Connection) -> None:
    """Per pooled connection: the vector type adapter and the iterative HNSW scan (ACL before LIMIT)."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    conn.commit()


def _check_write(doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> np.ndarray:
    """The same input checks as the SQLite backend, before any SQL runs."""
    vecs = np.asarray(vectors, dtype=np.float32)
    if vecs.ndim != 2 and not (len(chunks) == 0 and vecs.size == 0):
        raise StoreError(f"document {doc.doc_id}: vectors must be a 2-D array (chunks x dim), got shape {vecs.shape}")
    if len(chunks) != (vecs.shape[0] if vecs.ndim == 2 else 0):
        raise StoreError(f"document {doc.doc_id}: {len(chunks)} chunks but {vecs.shape[0]} vectors; pass one vector per chunk")
    for ch in chunks:
        if ch.doc_id != doc.doc_id:
            raise StoreError(f"chunk {ch.chunk_id} has doc_id {ch.doc_id!r}, expected {doc.doc_id!r}")
    if any(not isinstance(g, str) or not g.strip() for g in doc.groups):
        raise StoreError(f"document {doc.doc_id}: group names must be non-empty strings, got {list(doc.groups)}")
    return vecs


def _document(row: tuple) -> Document:
    return Document(doc_id=row[0], source=row[1], title=row[2], content_hash=row[3], mtime=row[4],
                    groups=tuple(row[5]), subject=row[6], metadata=row[7])


def resolve_password(settings: "StoreSettings") -> str | None:
    """The password from the environment variable named by `[store] password_env` (None when unset)."""
    if not settings.password_env:
        return None
    value = os.environ.get(settings.password_env)
    if value is None:
        raise ConfigError(
            f"[store] password_env = {settings.password_env!r} but that environment variable is not set; "
            f"export {settings.password_env}=... before running ragft"
        )
    return value


def open_postgres_store(path: Path, settings: "StoreSettings") -> PostgresStore:
    """The workspace's PostgreSQL store from `[store]` settings (`path` is unused: the data is on the server)."""
    return PostgresStore(settings.dsn, password=resolve_password(settings), pool_size=settings.pool_size,
                         ef_search=settings.ef_search)
