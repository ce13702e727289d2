"""SqliteStore: the shared store contract plus SQLite specifics (migrations, pragmas, erasure bytes, threads)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ragft.config import StoreSettings
from ragft.errors import ConfigError, StoreError
from ragft.store import open_store
from ragft.store.base import Store
from ragft.store.migrations import MIGRATIONS, migrate
from ragft.store.sqlite import SqliteStore, fts_query, top_k_indices
from tests.store_contract import StoreContract, make_doc, put, run_writer_processes, unit


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        s = SqliteStore(tmp_path / "ragft.db")
        yield s
        s.close()


def test_open_store_defaults_to_sqlite_file_in_workspace(tmp_path):
    store = open_store(tmp_path, StoreSettings())
    try:
        assert isinstance(store, Store)
        assert (tmp_path / "ragft.db").exists()
    finally:
        store.close()


def test_open_store_postgres_not_available_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="postgres"):
        open_store(tmp_path, StoreSettings(backend="postgres"))


def test_migrations_on_blank_db_create_expected_columns(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    assert migrate(conn) == [m.__name__ for m in MIGRATIONS]
    assert migrate(conn) == []  # idempotent
    cols = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in ("documents", "chunks", "doc_groups", "meta")}
    assert cols["documents"] == ["doc_id", "source", "title", "content_hash", "mtime", "groups", "subject", "metadata"]
    assert cols["chunks"] == ["id", "chunk_id", "doc_id", "ordinal", "text", "heading", "n_tokens", "acl", "vector"]
    assert cols["doc_groups"] == ["doc_id", "grp"]
    assert cols["meta"] == ["key", "value"]
    assert [r[0] for r in conn.execute("SELECT name FROM _ragft_migrations")] == ["m001_initial", "m002_planner_statistics"]
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()  # no later schema change
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'chunks_fts'").fetchone()


def test_migrate_rechecks_under_the_write_lock(tmp_path):
    """Two processes opening a brand-new store: the second read "nothing applied", then the first applied m001
    before the second got the write lock. The second must skip it, not fail with "table documents already exists"."""
    path = tmp_path / "x.db"

    class Rows(list):
        """The fetched rows of a statement: iterable and `fetchone`, the two ways migrate reads a result."""

        def fetchone(self):  # type: ignore[no-untyped-def]
            return self[0] if self else None

    class RacingConn:
        """Runs a whole migrate on another connection right after this one read the applied set."""

        def __init__(self) -> None:
            self.conn = sqlite3.connect(path, isolation_level=None)
            self.raced = False

        def execute(self, sql, params=()):  # type: ignore[no-untyped-def]
            rows = Rows(self.conn.execute(sql, params).fetchall())  # read before the race: no open cursor
            if sql.startswith("SELECT name FROM _ragft_migrations") and not self.raced:
                self.raced = True
                other = sqlite3.connect(path, isolation_level=None)
                assert migrate(other) == [m.__name__ for m in MIGRATIONS]
                other.close()
            return rows

    racing = RacingConn()
    assert migrate(racing) == []  # type: ignore[arg-type]
    assert racing.raced
    assert [r[0] for r in racing.conn.execute("SELECT name FROM _ragft_migrations")] == [m.__name__ for m in MIGRATIONS]
    racing.conn.close()


def test_closing_a_store_after_writes_leaves_the_schema_unchanged(tmp_path):
    """`close` runs PRAGMA optimize; if that created the planner's statistics table it would change the schema under
    every other process's open connection, and a concurrent writer then failed with "no such table: chunks"
    (2% of two-writer runs). The table exists from the migration, so closing changes only rows."""
    path = tmp_path / "ragft.db"
    other = sqlite3.connect(path, isolation_level=None)
    writer = SqliteStore(path)
    version = other.execute("PRAGMA schema_version").fetchone()[0]
    for d in range(30):
        put(writer, f"doc{d}", [f"word {d} {i}" for i in range(3)])
    writer.close()
    assert other.execute("PRAGMA schema_version").fetchone()[0] == version
    other.close()


def test_pragmas(tmp_path):
    store = SqliteStore(tmp_path / "ragft.db")
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    store.close()


def test_not_a_database_is_a_store_error(tmp_path):
    bad = tmp_path / "ragft.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        SqliteStore(bad)


def test_erased_text_leaves_no_bytes_after_compact(tmp_path):
    """The auditor's check (notes/security.md): grep the raw .db and -wal for a canary after delete+compact."""
    path = tmp_path / "ragft.db"
    store = SqliteStore(path)
    canary = "zqxcanaryzqx"
    for i in range(30):  # enough rows for several pages and FTS segments
        put(store, f"keep{i}", [f"ordinary filler text number {i} " * 20], seed=i)
    put(store, "victim", [f"{canary} secret payload {canary}", f"more {canary}"], subject="alice")
    store.delete_documents(["victim"])
    store.compact()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("ragft.db")]
    assert files
    for p in files:
        assert canary.encode() not in p.read_bytes(), p.name
    assert store.stats()["documents"] == 30
    store.close()


def test_second_connection_sees_writes(tmp_path):
    """Another process (CLI ingest while the server runs) changes the file: the dense cache must notice."""
    a = SqliteStore(tmp_path / "ragft.db")
    b = SqliteStore(tmp_path / "ragft.db")
    put(a, "x", ["one"], seed=1)
    vy = make_doc("y", ["t"], seed=2)[2][0]
    assert [h.doc_id for h in b.search_dense(vy, 5)] == ["x"]
    put(a, "y", ["two"], seed=2)
    assert [h.doc_id for h in b.search_dense(vy, 1)] == ["y"]
    a.delete_documents(["y"])
    assert [h.doc_id for h in b.search_dense(vy, 5)] == ["x"]
    a.close()
    b.close()


def test_dimension_change_is_refused(tmp_path):
    store = SqliteStore(tmp_path / "ragft.db")
    put(store, "a", ["text"])
    doc, chunks, _ = make_doc("b", ["text"])
    with pytest.raises(StoreError, match="re-embed"):
        store.replace_document(doc, chunks, np.ones((1, 3), np.float32) / np.sqrt(3))
    with pytest.raises(StoreError, match="re-embed"):
        store.search_dense(np.ones(3, np.float32), 3)
    store.close()


def test_concurrent_searches_and_writes_from_threads(tmp_path):
    store = SqliteStore(tmp_path / "ragft.db")
    for i in range(20):
        put(store, f"d{i}", [f"common word {i}"], seed=i)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for j in range(50):
                assert store.search_bm25("common", 5)
                assert len(store.search_dense(unit(j), 5)) == 5
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def writer() -> None:
        try:
            for j in range(30):
                put(store, f"w{j}", [f"common written {j}"], seed=100 + j)
                store.delete_documents([f"w{j}"])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert store.stats() == {"documents": 20, "chunks": 20}
    store.close()


def test_generation_is_not_writable_via_meta(tmp_path):
    store = SqliteStore(tmp_path / "ragft.db")
    with pytest.raises(StoreError):
        store.set_meta("generation", "0")
    store.close()


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Return policy", '"return" OR "policy"'),
        ('say "hi" AND bye', '"say" OR "hi" OR "bye"'),  # AND is a stopword-free token but lowercased: 'and' dropped
        ("the of and", '"the" OR "of" OR "and"'),  # only stopwords: keep them rather than search nothing
        ("café naïve café", '"café" OR "naïve"'),
        ("***", None),
    ],
)
def test_fts_query_quotes_terms(text, expected):
    assert fts_query(text) == expected


def test_top_k_indices_respects_mask_and_ties():
    scores = np.array([0.5, 0.9, 0.9, 0.1, 0.7], dtype=np.float32)
    assert top_k_indices(scores, 2).tolist() == [1, 2]
    assert top_k_indices(scores, 10).tolist() == [1, 2, 4, 0, 3]
    mask = np.array([True, False, False, True, False])
    assert top_k_indices(scores, 5, mask).tolist() == [0, 3]
    assert top_k_indices(scores, 0).tolist() == []
    assert top_k_indices(scores, 3, np.zeros(5, bool)).tolist() == []


@pytest.mark.parametrize("group", ['a b', 'x"y', "ÄÖü", "OR", "aclpublic", "NEAR(", "*"])
def test_odd_group_names_filter_inside_fts(tmp_path, group):
    """The ACL runs inside the FTS MATCH; odd names (quotes, FTS keywords, the public token itself) stay exact."""
    store = SqliteStore(tmp_path / "ragft.db")
    put(store, "secret", ["shared term"], groups=(group,))
    put(store, "pub", ["shared term"])
    put(store, "other", ["shared term"], groups=("zzz",))
    assert {h.doc_id for h in store.search_bm25("shared", 10, {group})} == {"secret", "pub"}
    assert {h.doc_id for h in store.search_bm25("shared", 10, set())} == {"pub"}
    # the FTS index alone (no SQL re-check) already filters
    from ragft.store.sqlite import match_expression

    rows = store._conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (match_expression("shared", set()),)).fetchall()
    assert len(rows) == 1
    store.close()


# ---------------------------------------------------------------------- two writer processes (issue 12)
def test_two_processes_ingesting_into_one_file_lose_nothing(tmp_path):
    """Two `ragft ingest` runs on one workspace at once: SQLite serialises the writers (WAL + busy timeout), so
    every document of both lands, whole, and search sees them all."""
    from functools import partial

    path = tmp_path / "ragft.db"
    parent = SqliteStore(path)
    try:
        put(parent, "seed", ["first write sets the vector dim"])
        results = run_writer_processes(partial(SqliteStore, str(path)), ["alpha", "beta"], 40)
        assert sorted(results) == [("ok", "alpha"), ("ok", "beta")]
        assert parent.stats() == {"documents": 81, "chunks": 1 + 80 * 3}
        assert {c.doc_id for c in parent.iter_chunks()} == {"seed"} | {f"{p}{d}" for p in ("alpha", "beta") for d in range(40)}
        assert [h.doc_id for h in parent.search_bm25("beta", 200)].count("beta0") == 3
    finally:
        parent.close()


def test_closing_while_another_process_holds_the_write_lock_does_not_fail(tmp_path):
    """`close` runs PRAGMA optimize, which needs the write lock once the tables changed; when another writer holds it
    (two ingests at once) the optimisation is skipped, the close is not an error: everything was already written."""
    path = tmp_path / "ragft.db"
    store = SqliteStore(path)
    for d in range(30):
        put(store, f"doc{d}", [f"word {d} {i}" for i in range(3)])
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        store._conn.execute("PRAGMA busy_timeout=0")  # fail at once instead of after the 30 s busy timeout
        store.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
    reopened = SqliteStore(path)
    assert reopened.stats()["documents"] == 30
    reopened.close()


def test_a_new_store_opens_while_another_process_holds_its_write_lock(tmp_path):
    """`PRAGMA journal_mode=WAL` on a new database does not wait on the busy timeout: it failed at once with
    "database is locked" while another connection held the write lock (two `accelerate launch` ranks opening a
    new workspace together). Opening now waits for the lock like every other statement."""
    path = tmp_path / "ragft.db"
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE held (x)")
    other.execute("BEGIN IMMEDIATE")  # a new file, still in rollback-journal mode, write-locked
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store = SqliteStore(path)
        assert store.list_documents() == []
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        release.join()
        other.close()


def test_concurrent_processes_open_a_new_store(tmp_path):
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    for trial in range(10):
        path = tmp_path / f"t{trial}" / "ragft.db"
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_store_after, args=(path, barrier, results)) for _ in range(4)]
        for p in procs:
            p.start()
        got = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert got == ["ok"] * 4, got


def _open_store_after(path, barrier, results) -> None:  # type: ignore[no-untyped-def]
    barrier.wait()
    try:
        SqliteStore(path).list_documents()
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test process
        results.put(repr(exc))


def test_the_dense_search_multiplies_on_one_blas_thread(tmp_path, monkeypatch):
    """`dense_scores`: the query's product runs with numpy's BLAS pool at one thread (its workers would otherwise
    spin beside the model's next prefill) and gives the numbers of the unrestricted product; the search uses it."""
    import ragft.store.sqlite as mod
    from threadpoolctl import ThreadpoolController

    def numpy_blas_threads() -> int:
        """The thread count of numpy's own BLAS, the library its `@` calls. Others may be loaded too, in any
        order (scipy bundles its own OpenBLAS), so the first one listed is not necessarily numpy's."""
        infos = ThreadpoolController().select(user_api="blas").info()
        own = [i["num_threads"] for i in infos if Path(i["filepath"]).parent.name == "numpy.libs"]
        assert len(own) == 1, infos
        return own[0]

    threads: list[int] = []

    class Recording(np.ndarray):
        def __matmul__(self, other):  # type: ignore[no-untyped-def]
            threads.append(numpy_blas_threads())
            return np.asarray(self) @ other

    import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS beside numpy's, as the suite's other tests may)

    before = numpy_blas_threads()
    matrix = np.stack([unit(i) for i in range(300)])
    q = unit(7)
    got = mod.dense_scores(matrix.view(Recording), q)
    assert threads == [1] and np.array_equal(np.asarray(got), matrix @ q)
    assert numpy_blas_threads() == before  # restored for everything else

    class Slow(np.ndarray):  # a product long enough that concurrent searches overlap (the sleep frees the GIL)
        def __matmul__(self, other):  # type: ignore[no-untyped-def]
            time.sleep(0.01)
            return np.asarray(self) @ other

    slow = matrix.view(Slow)
    workers = [threading.Thread(target=lambda: [mod.dense_scores(slow, q) for _ in range(5)]) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert numpy_blas_threads() == before  # concurrent searches restore it too

    calls: list[int] = []
    real = mod.dense_scores
    monkeypatch.setattr(mod, "dense_scores", lambda m, v: calls.append(m.shape[0]) or real(m, v))
    store = SqliteStore(tmp_path / "s.db")
    put(store, "x", ["one", "two"])
    assert [h.doc_id for h in store.search_dense(unit(0), 1)] == ["x"] and calls == [2]
    store.close()

