"""The embedded default store: one SQLite file with documents, chunks, an FTS5 (BM25) index and vectors.

Why this shape (measured, see docs/benchmarks.md "## Retrieval" and notes/stack.md):
- Dense search is a numpy matrix product over all chunk vectors, kept in memory and loaded lazily from the
  `chunks.vector` blobs; numpy top-k was ~20x faster than a sqlite-vec KNN here. The matrix is rebuilt when
  the `generation` counter in `meta` changes; every write transaction bumps it, so a change made by another
  process (CLI ingest while the server runs) is seen too.
- BM25 is FTS5's `bm25()` with the porter tokenizer. User text never reaches FTS5 syntax: the query is cut
  into word tokens, stopwords dropped, each token quoted, and the tokens OR-ed.
- ACL: a chunk is visible when its document has no groups (public) or shares one with the caller. The
  filter is a SQL predicate inside the FTS query and a boolean mask applied to the dense score vector, in
  both cases *before* top-k, so a selective filter still yields min(k, visible) hits.
- Erasure: `secure_delete=ON` zeroes freed pages; `compact()` merges FTS segments, VACUUMs and truncates
  the WAL so no erased bytes remain (notes/security.md).

Thread-safety: one connection (`check_same_thread=False`) guarded by a re-entrant lock; the server's worker
threads serialise on it. Each search runs inside one read transaction (a consistent WAL snapshot).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragft.text import query_terms
from ragft.errors import StoreError
from ragft.store.migrations import migrate
from ragft.store.base import CHUNK_COLUMNS, chunk_from_row
from ragft.types import Chunk, Document, Hit

# Visible when the document is public (no groups) or shares a group with the caller (JSON list parameter).
_ACL_SQL = (
    "(NOT EXISTS (SELECT 1 FROM doc_groups g WHERE g.doc_id = c.doc_id)"
    " OR EXISTS (SELECT 1 FROM doc_groups g WHERE g.doc_id = c.doc_id"
    " AND g.grp IN (SELECT value FROM json_each(?))))"
)

PUBLIC_ACL_TOKEN = "aclpublic"


def acl_token(group: str) -> str:
    """The FTS token standing for `group`: 'acl' + decimal digits of its SHA-256 (letters+digits only, so the
    tokenizer keeps it whole, and a trailing digit so the porter stemmer leaves it alone)."""
    return "acl" + str(int.from_bytes(hashlib.sha256(group.encode("utf-8")).digest()[:12], "big"))


def acl_tokens(groups: Iterable[str]) -> str:
    """What a chunk's `acl` column holds: its document's group tokens, or the public token."""
    tokens = sorted(acl_token(g) for g in set(groups))
    return " ".join(tokens) if tokens else PUBLIC_ACL_TOKEN


def match_expression(query: str, groups: set[str] | None) -> str | None:
    """The full MATCH: query terms over heading/text, AND (for a filtered caller) one of the caller's ACL tokens."""
    terms = fts_query(query)
    if terms is None:
        return None
    expr = "{heading text} : (" + terms + ")"
    if groups is not None:
        allowed = [PUBLIC_ACL_TOKEN] + sorted(acl_token(g) for g in groups)
        expr += " AND acl : (" + " OR ".join(f'"{t}"' for t in allowed) + ")"
    return expr


def fts_query(text: str, drop_stopwords: bool = True) -> str | None:
    """An FTS5 MATCH expression that ORs the quoted word tokens of `text`, or None if nothing is left.

    Quoting makes every token a literal string: `NEAR`, `AND`, `*`, `:` or `"` in user text have no effect.
    Stopwords are dropped unless that would leave nothing (a query of only stopwords still searches).
    """
    terms = query_terms(text, drop_stopwords)
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


@dataclass
class _DenseIndex:
    """All chunk vectors of one store generation, with what the ACL mask needs.

    Shapes: N chunks with vectors, D dims. `matrix` (N, D) float32; `ids` (N,) chunk table ids;
    `group_key` (N,) index into `group_sets` (the distinct group sets of documents; () = public).
    """

    generation: str
    ids: np.ndarray
    matrix: np.ndarray
    group_key: np.ndarray
    group_sets: list[frozenset[str]]

    def visible(self, groups: set[str] | None) -> np.ndarray | None:
        """Boolean mask (N,) of chunks the caller may see, or None for no filter."""
        if groups is None:
            return None
        allowed = np.array([not gs or bool(gs & groups) for gs in self.group_sets], dtype=bool)
        if allowed.size == 0:
            return np.zeros(len(self.ids), dtype=bool)
        return allowed[self.group_key]


_BLAS_LOCK = threading.Lock()
"""The BLAS pool's size is the process's: concurrent searches set and restore it one at a time (interleaved, a
search could restore another's 1 as the size for good)."""


@functools.cache
def _blas() -> Any:
    """numpy's BLAS thread pool (threadpoolctl finds it once: the lookup walks the loaded libraries)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def dense_scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """`matrix @ query` on one BLAS thread (the same numbers as on several).

    Why: OpenBLAS's worker threads busy-wait for a while after each call, and a query's search runs right before
    its generation: the model's next prefill then shared the cores with them. Measured 2026-12-01 (2 cores,
    224-token prefill of the bundled SmolLM2): 144 ms back to back, 227 ms right after a 3,000 x 384 `@`, 153 ms
    after the same on one thread; a whole hybrid search before it, 237 ms against 161 ms. The product is
    memory-bound, so one thread costs little: 0.18 against 0.10 ms at 3,000 chunks, 12 against 7 ms at 100,000."""
    with _BLAS_LOCK, _blas().limit(limits=1):
        return matrix @ query


def top_k_indices(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k highest `scores` among `mask`-ed entries, best first (ties: lower index first).

    The mask is applied before selection, so the result always has min(k, mask.sum()) entries.
    """
    candidates = np.arange(scores.shape[0]) if mask is None else np.flatnonzero(mask)
    if k <= 0 or candidates.size == 0:
        return np.empty(0, dtype=np.int64)
    sub = scores[candidates]
    if k < sub.size:
        part = np.argpartition(-sub, k - 1)[:k]
    else:
        part = np.arange(sub.size)
    order = np.lexsort((candidates[part], -sub[part]))
    return candidates[part][order]


OPEN_TIMEOUT_S = 30.0
"""How long opening the store waits for other processes' locks (sqlite3's busy timeout, and `_enable_wal`)."""


def _enable_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """`PRAGMA journal_mode=WAL`, retried while another connection holds the write lock, up to `timeout_s`.

    Why: switching a new database to WAL does not wait on the busy timeout; while another process holds a write
    lock (the ranks of `accelerate launch` open a new workspace at the same moment, and one is already migrating
    it) it fails at once with "database is locked". Once the file is in WAL mode the pragma is a no-op."""
    deadline = time.monotonic() + timeout_s
    pause = 0.01
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


class SqliteStore:
    """`Store` on one SQLite file. Construct with the database path; the schema is migrated on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False,
                                         timeout=OPEN_TIMEOUT_S)
            _enable_wal(self._conn, OPEN_TIMEOUT_S)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA secure_delete=ON")
            migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the store ({exc}); is it a ragft database?") from exc
        self._lock = threading.RLock()
        self._dense: _DenseIndex | None = None

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE) that also bumps the generation counter."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same snapshot."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    # ------------------------------------------------------------------ documents
    def get_document(self, doc_id: str) -> Document | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT doc_id, source, title, content_hash, mtime, groups, subject, metadata"
                " FROM documents WHERE doc_id = ?",
                (doc_id,),
            ).fetchone()
        return _document(row) if row else None

    def list_documents(self, subject: str | None = None) -> list[Document]:
        sql = "SELECT doc_id, source, title, content_hash, mtime, groups, subject, metadata FROM documents"
        params: tuple = ()
        if subject is not None:
            sql += " WHERE subject = ?"
            params = (subject,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY doc_id", params).fetchall()
        return [_document(r) for r in rows]

    def replace_document(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        vecs = np.asarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 and not (len(chunks) == 0 and vecs.size == 0):
            raise StoreError(f"document {doc.doc_id}: vectors must be a 2-D array (chunks x dim), got shape {vecs.shape}")
        if len(chunks) != (vecs.shape[0] if vecs.ndim == 2 else 0):
            raise StoreError(f"document {doc.doc_id}: {len(chunks)} chunks but {vecs.shape[0]} vectors; pass one vector per chunk")
        for ch in chunks:
            if ch.doc_id != doc.doc_id:
                raise StoreError(f"chunk {ch.chunk_id} has doc_id {ch.doc_id!r}, expected {doc.doc_id!r}")
        groups = sorted({g for g in doc.groups})
        if any(not isinstance(g, str) or not g.strip() for g in groups):
            raise StoreError(f"document {doc.doc_id}: group names must be non-empty strings, got {list(doc.groups)}")
        if vecs.ndim == 2 and len(chunks):
            self._check_dim(vecs.shape[1])
        try:
            with self._write() as conn:
                conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc.doc_id,))
                conn.execute(
                    "INSERT INTO documents(doc_id, source, title, content_hash, mtime, groups, subject, metadata)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(doc_id) DO UPDATE SET source=excluded.source, title=excluded.title,"
                    " content_hash=excluded.content_hash, mtime=excluded.mtime, groups=excluded.groups,"
                    " subject=excluded.subject, metadata=excluded.metadata",
                    (
                        doc.doc_id, doc.source, doc.title, doc.content_hash, doc.mtime,
                        json.dumps(groups), doc.subject, json.dumps(doc.metadata, default=str),
                    ),
                )
                conn.execute("DELETE FROM doc_groups WHERE doc_id = ?", (doc.doc_id,))
                conn.executemany("INSERT INTO doc_groups(doc_id, grp) VALUES (?, ?)", [(doc.doc_id, g) for g in groups])
                acl = acl_tokens(groups)
                conn.executemany(
                    "INSERT INTO chunks(chunk_id, doc_id, ordinal, text, heading, n_tokens, acl, vector)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (ch.chunk_id, doc.doc_id, ch.ordinal, ch.text, ch.heading, ch.n_tokens, acl,
                         np.ascontiguousarray(vecs[i], dtype="<f4").tobytes())
                        for i, ch in enumerate(chunks)
                    ],
                )
                if vecs.ndim == 2 and len(chunks):
                    conn.execute(
                        "INSERT INTO meta(key, value) VALUES ('vector_dim', ?) ON CONFLICT(key) DO NOTHING",
                        (str(vecs.shape[1]),),
                    )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"document {doc.doc_id}: {exc} (chunk ids must be unique across documents)") from exc

    def _check_dim(self, dim: int) -> None:
        stored = self.get_meta("vector_dim")
        if stored is not None and int(stored) != dim:
            raise StoreError(
                f"vectors have {dim} dims but this store holds {stored}-dim vectors; the embedder changed: "
                "re-embed the workspace (re-ingest into a new workspace) or switch the embedder back"
            )

    def delete_documents(self, doc_ids: Iterable[str]) -> tuple[int, int]:
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return (0, 0)
        with self._write() as conn:
            arg = json.dumps(ids)
            n_chunks = conn.execute(
                "DELETE FROM chunks WHERE doc_id IN (SELECT value FROM json_each(?))", (arg,)
            ).rowcount
            n_docs = conn.execute(
                "DELETE FROM documents WHERE doc_id IN (SELECT value FROM json_each(?))", (arg,)
            ).rowcount
        return (n_docs, n_chunks)

    # ------------------------------------------------------------------ search
    def search_bm25(self, query: str, k: int, groups: set[str] | None = None) -> list[Hit]:
        match = match_expression(query, groups)
        if match is None or k <= 0:
            return []
        # Top-k inside FTS5 first (the ACL is part of the MATCH, so it is applied before the LIMIT), then
        # join only those k rows; joining every match before sorting cost ~2x on SciFact.
        # bm25 column weights: heading 1, text 1, acl 0 (ACL tokens never score).
        sql = (
            "SELECT c.doc_id, c.chunk_id, d.source, -f.s AS score, c.text FROM ("
            " SELECT rowid AS id, bm25(chunks_fts, 1.0, 1.0, 0.0) AS s FROM chunks_fts"
            " WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?) f"
            " JOIN chunks c ON c.id = f.id JOIN documents d ON d.doc_id = c.doc_id"
        )
        params: list = [match, int(k)]
        if groups is not None:  # defence in depth: the same rule in SQL (never removes a row if the index is right)
            sql += " WHERE " + _ACL_SQL
            params.append(json.dumps(sorted(groups)))
        sql += " ORDER BY f.s, c.id"
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [Hit(doc_id=r[0], chunk_id=r[1], source=r[2], score=float(r[3]), text=r[4]) for r in rows]

    def search_dense(self, vector: np.ndarray, k: int, groups: set[str] | None = None) -> list[Hit]:
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if k <= 0:
            return []
        with self._read() as conn:
            index = self._dense_index(conn)
            if index.matrix.shape[0] == 0:
                return []
            if q.shape[0] != index.matrix.shape[1]:
                raise StoreError(
                    f"query vector has {q.shape[0]} dims, the store holds {index.matrix.shape[1]}-dim vectors; "
                    "the embedder changed: re-embed the workspace or switch the embedder back"
                )
            scores = dense_scores(index.matrix, q)  # (N,)
            picked = top_k_indices(scores, k, index.visible(groups))
            if picked.size == 0:
                return []
            ids = [int(i) for i in index.ids[picked]]
            # Re-apply the ACL in SQL too (fails closed if the snapshot and the index ever disagreed).
            sql = (
                "SELECT c.id, c.doc_id, c.chunk_id, d.source, c.text FROM chunks c"
                " JOIN documents d ON d.doc_id = c.doc_id WHERE c.id IN (SELECT value FROM json_each(?))"
            )
            params: list = [json.dumps(ids)]
            if groups is not None:
                sql += " AND " + _ACL_SQL
                params.append(json.dumps(sorted(groups)))
            rows = {r[0]: r for r in conn.execute(sql, params)}
        score_of = dict(zip(ids, scores[picked].tolist()))
        return [
            Hit(doc_id=rows[i][1], chunk_id=rows[i][2], source=rows[i][3], score=float(score_of[i]), text=rows[i][4])
            for i in ids
            if i in rows
        ]

    def _dense_index(self, conn: sqlite3.Connection) -> _DenseIndex:
        """The in-memory vector matrix for the current generation (rebuilt when it changed)."""
        generation = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        if self._dense is not None and self._dense.generation == generation:
            return self._dense
        doc_key: dict[str, int] = {}
        group_sets: list[frozenset[str]] = []
        set_index: dict[frozenset[str], int] = {}
        for doc_id, groups_json in conn.execute("SELECT doc_id, groups FROM documents"):
            gs = frozenset(json.loads(groups_json))
            if gs not in set_index:
                set_index[gs] = len(group_sets)
                group_sets.append(gs)
            doc_key[doc_id] = set_index[gs]
        rows = conn.execute("SELECT id, doc_id, vector FROM chunks WHERE vector IS NOT NULL ORDER BY id").fetchall()
        dim = int(conn.execute("SELECT value FROM meta WHERE key = 'vector_dim'").fetchone()[0]) if rows else 0
        # Mid re-embed (another model, another dim) some rows may not fit: leave them out rather than fail.
        rows = [r for r in rows if len(r[2]) == dim * 4]
        matrix = np.empty((len(rows), dim), dtype=np.float32)
        for i, (_, _, blob) in enumerate(rows):
            matrix[i] = np.frombuffer(blob, dtype="<f4")
        self._dense = _DenseIndex(
            generation=generation,
            ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            matrix=matrix,
            group_key=np.fromiter((doc_key[r[1]] for r in rows), dtype=np.int64, count=len(rows)),
            group_sets=group_sets,
        )
        return self._dense

    # ------------------------------------------------------------------ chunks, stats, meta
    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        ids = list(chunk_ids)
        if not ids:
            return []
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks"
                " WHERE chunk_id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            ).fetchall()
        by_id = {r[0]: chunk_from_row(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def iter_chunks(self, doc_ids: Sequence[str] | None = None) -> Iterator[Chunk]:
        """All chunks (optionally of some documents) in document order: for dataset building."""
        sql = f"SELECT {CHUNK_COLUMNS} FROM chunks"
        params: tuple = ()
        if doc_ids is not None:
            sql += " WHERE doc_id IN (SELECT value FROM json_each(?))"
            params = (json.dumps(list(doc_ids)),)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY doc_id, ordinal", params).fetchall()
        for r in rows:
            yield chunk_from_row(r)

    def chunk_groups(self, chunk_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        ids = list(chunk_ids)
        if not ids:
            return {}
        with self._lock:
            rows = self._conn.execute(
                "SELECT c.chunk_id, d.groups FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
                " WHERE c.chunk_id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            ).fetchall()
        return {r[0]: tuple(json.loads(r[1])) for r in rows}

    def stats(self) -> dict[str, int]:
        with self._read() as conn:
            docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return {"documents": int(docs), "chunks": int(chunks)}

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        if key == "generation":
            raise StoreError("meta key 'generation' is managed by the store; choose another key")
        with self._lock:
            self._conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, str(value)),
            )

    # ------------------------------------------------------------------ maintenance
    def compact(self) -> None:
        """Merge FTS5 segments (drops tokens of deleted rows), VACUUM, truncate the WAL."""
        with self._lock:
            self._conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA optimize")
                except sqlite3.OperationalError:
                    # Best effort: another process holding the write lock (two `ragft ingest` runs at once) made
                    # this fail with "database is locked" after everything was written; closing must not.
                    pass
                finally:
                    self._conn.close()
                    self._conn = None  # type: ignore[assignment]
                    self._dense = None


def _document(row: tuple) -> Document:
    return Document(
        doc_id=row[0],
        source=row[1],
        title=row[2],
        content_hash=row[3],
        mtime=row[4],
        groups=tuple(json.loads(row[5])),
        subject=row[6],
        metadata=json.loads(row[7]),
    )
