"""Store administration: `ragft store copy --to DSN` (embedded SQLite -> PostgreSQL) and `ragft store migrate`.

The copy streams documents in batches (`iter_chunks` per batch, vectors read per batch) and writes each
document with `PostgresStore.replace_document`, i.e. one transaction per document. It is idempotent: a
document whose row is already identical in the target (same content hash, groups, subject, metadata) was
committed together with all its chunks, so it is skipped; an interrupted copy resumes where it stopped.
Vectors are copied, not recomputed, so no model is loaded.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragft.errors import ConfigError, StoreError
from ragft.types import Progress  # (documents done, total)

if TYPE_CHECKING:
    from ragft.config import StoreSettings
    from ragft.store.base import Store

# Meta keys the target store manages itself.
_LOCAL_META = {"generation", "vector_dim"}


@dataclass
class CopyReport:
    """Result of `ragft store copy`; `to_dict()` is its JSON."""

    documents: int
    chunks: int
    skipped: int
    seconds: float
    dsn: str
    config: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MigrateReport:
    """Result of `ragft store migrate`: the backend, the migrations this call applied, all applied so far."""

    backend: str
    applied: list[str]
    migrations: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_snippet(dsn: str, password_env: str = "RAGFT_PG_PASSWORD") -> str:
    """The `[store]` section that switches a workspace to this database (no password in it)."""
    from ragft.store.postgres import redact_dsn

    return (
        "[store]\n"
        'backend = "postgres"\n'
        f'dsn = "{redact_dsn(dsn)}"\n'
        f'password_env = "{password_env}"  # export {password_env}=... (leave empty for trust/peer auth or ~/.pgpass)\n'
    )


def _sqlite_vectors(db: sqlite3.Connection, chunk_ids: list[str]) -> dict[str, np.ndarray]:
    """Vectors of the given chunks from the SQLite store file (the protocol has no vector getter yet)."""
    out: dict[str, np.ndarray] = {}
    for start in range(0, len(chunk_ids), 500):
        part = chunk_ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for cid, blob in db.execute(f"SELECT chunk_id, vector FROM chunks WHERE chunk_id IN ({marks})", part):
            if blob is not None:
                out[cid] = np.frombuffer(blob, dtype="<f4")
    return out


def copy_store(
    src: "Store",
    src_db: Path,
    dsn: str,
    *,
    password: str | None = None,
    batch_docs: int = 64,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy every document, chunk, vector and meta key of the SQLite store `src` (file `src_db`) to `dsn`."""
    from ragft.store.postgres import PostgresStore, redact_dsn

    if batch_docs < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_docs}")
    started = time.perf_counter()
    dst = PostgresStore(dsn, password=password)
    vec_db = sqlite3.connect(f"file:{src_db}?mode=ro", uri=True)
    try:
        docs = src.list_documents()
        counts = {"documents": 0, "chunks": 0, "skipped": 0}
        if progress:
            progress(0, len(docs))
        # Into an empty database: one HNSW build at the end instead of one index insert per chunk.
        bulk = dst.deferred_vector_index() if dst.stats()["chunks"] == 0 else nullcontext()
        with bulk:
            _copy_batches(src, dst, vec_db, src_db, docs, batch_docs, progress, counts)
        for key, value in vec_db.execute("SELECT key, value FROM meta"):
            if key not in _LOCAL_META and dst.get_meta(key) != value:
                dst.set_meta(key, value)
    finally:
        vec_db.close()
        dst.close()
    return CopyReport(documents=counts["documents"], chunks=counts["chunks"], skipped=counts["skipped"],
                      seconds=round(time.perf_counter() - started, 2), dsn=redact_dsn(dsn), config=config_snippet(dsn))


def _copy_batches(src, dst, vec_db, src_db, docs, batch_docs, progress, counts) -> None:  # type: ignore[no-untyped-def]
    """The copy loop: per batch, read chunks and vectors once, then one transaction per changed document."""
    for start in range(0, len(docs), batch_docs):
        batch = docs[start : start + batch_docs]
        todo = [d for d in batch if dst.get_document(d.doc_id) != d]
        counts["skipped"] += len(batch) - len(todo)
        by_doc: dict[str, list] = {d.doc_id: [] for d in todo}
        if todo:
            for ch in src.iter_chunks([d.doc_id for d in todo]):
                by_doc[ch.doc_id].append(ch)
            vectors = _sqlite_vectors(vec_db, [c.chunk_id for cs in by_doc.values() for c in cs])
        for doc in todo:
            chunks = by_doc[doc.doc_id]
            missing = [c.chunk_id for c in chunks if c.chunk_id not in vectors]
            if missing:
                raise StoreError(f"document {doc.doc_id}: chunks {missing[:3]} have no vector in {src_db}; "
                                 "run `ragft reembed` on the workspace first, then copy again")
            vecs = np.stack([vectors[c.chunk_id] for c in chunks]) if chunks else np.zeros((0, 0), np.float32)
            dst.replace_document(doc, chunks, vecs)
            counts["documents"] += 1
            counts["chunks"] += len(chunks)
        if progress:
            progress(min(start + batch_docs, len(docs)), len(docs))


def migrate_store(path: Path, settings: "StoreSettings") -> MigrateReport:
    """Apply pending schema migrations of the workspace's store."""
    if settings.backend == "postgres":
        import psycopg

        from ragft.store.pg_migrations import applied_migrations, migrate
        from ragft.store.postgres import PostgresStore, redact_dsn, resolve_password

        if not settings.dsn:
            PostgresStore(settings.dsn)  # raises the ConfigError that explains the missing [store] dsn
        password = resolve_password(settings)
        try:
            with psycopg.connect(settings.dsn, autocommit=True, **({"password": password} if password else {})) as conn:
                applied = migrate(conn)
                names = applied_migrations(conn)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {redact_dsn(settings.dsn)}: {str(exc).strip()}") from exc
        return MigrateReport(backend="postgres", applied=list(applied), migrations=list(names))
    from ragft.store import DB_FILE
    from ragft.store.migrations import migrate as sqlite_migrate

    Path(path).mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(Path(path) / DB_FILE), isolation_level=None)
    try:
        applied = sqlite_migrate(conn)
        names = [r[0] for r in conn.execute("SELECT name FROM _ragft_migrations ORDER BY name")]
    finally:
        conn.close()
    return MigrateReport(backend="sqlite", applied=list(applied), migrations=list(names))
