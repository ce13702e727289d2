"""Live SQL sources: rows fetched from the database at answer time, offered to the model as citable context.

Safety (issue 5, OWASP LLM01/LLM05):
- Read-only connections. SQLite opens the file as a `mode=ro` URI and sets `PRAGMA query_only=ON`; PostgreSQL
  connects with `default_transaction_read_only=on` (every transaction is `READ ONLY`).
- No SQL text from the model or the user: queries are SQLAlchemy Core `select()` over reflected tables, question
  terms go in as bound `LIKE` parameters (with `%`/`_` escaped). Table and column names come from reflection.
- Bounded: at most `max_rows` rows per source and a per-query timeout (SQLite progress handler, PostgreSQL
  `statement_timeout`).
- The stored URL never holds a password; it is read from the environment variable named by `password_env`.

Each row becomes a `Hit` with `source = "sql:NAME/TABLE#pk"` and text `"TABLE pk: col=value, ..."`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.errors import ConfigError, StoreError
from ragft.sources.cells import Column, RowHit, format_value
from ragft.types import Hit

DEFAULT_MAX_ROWS = 5
DEFAULT_TIMEOUT_S = 5.0
MAX_TERMS = 8


@dataclass
class SqlSourceConfig:
    """What `sources.json` stores for one SQL source (no password, ever)."""

    name: str
    url: str
    tables: list[str] = field(default_factory=list)
    password_env: str = ""
    max_rows: int = DEFAULT_MAX_ROWS
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: str = "sql"
    groups: list[str] = field(default_factory=list)
    """Who may see this source's rows, like a document's groups: none = public, else callers sharing one."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "url": self.url, "tables": list(self.tables),
                "password_env": self.password_env, "max_rows": self.max_rows, "timeout_s": self.timeout_s,
                "groups": list(self.groups)}

    def visible_to(self, groups: set[str] | None) -> bool:
        """The document rule (store ACL): public, or no caller filter (operator), or a shared group. Fails closed
        for a caller with an empty group set."""
        return not self.groups or groups is None or bool(groups & set(self.groups))


def check_url(url: str) -> str:
    """Validate a SQLAlchemy URL for storage: parseable, a supported backend, no password in it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a SQLAlchemy URL: {url!r} ({exc}); e.g. sqlite:///path/to.db or "
                          "postgresql+psycopg://user@host/db") from None
    if parsed.password:
        raise ConfigError("the source URL contains a password; remove it from the URL and pass "
                          "--password-env VAR naming an environment variable that holds it")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported SQL backend {parsed.get_backend_name()!r}; allowed: sqlite, postgresql")
    if parsed.get_backend_name() == "sqlite" and not parsed.database:
        raise ConfigError("a SQLite source needs a file path: sqlite:///path/to.db (in-memory databases are not live)")
    return url


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlSource:
    """One registered SQL database. Cheap constructor; connects and reflects on first query."""

    def __init__(self, config: SqlSourceConfig) -> None:
        self.config = config
        self.name = config.name
        self._engine = None
        self._tables: list[Any] | None = None

    # ------------------------------------------------------------------ connection
    def _make_engine(self):  # type: ignore[no-untyped-def]
        from sqlalchemy import create_engine, event
        from sqlalchemy.engine import make_url

        url = make_url(self.config.url)
        backend = url.get_backend_name()
        if backend == "sqlite":
            path = url.database or ""
            if not os.path.exists(path):
                raise StoreError(f"SQL source {self.name!r}: database file {path} not found; fix it with "
                                 f"`ragft sources remove {self.name}` then add-sql again")
            ro = url.set(drivername="sqlite+pysqlite", database=f"file:{os.path.abspath(path)}?mode=ro",
                         query={"uri": "true"})
            engine = create_engine(ro, poolclass=_null_pool())

            @event.listens_for(engine, "connect")
            def _read_only(dbapi_conn, _record):  # type: ignore[no-untyped-def]
                dbapi_conn.execute("PRAGMA query_only=ON")

            return engine
        if self.config.password_env:
            password = os.environ.get(self.config.password_env)
            if password is None:
                from ragft.errors import MissingKeyError

                raise MissingKeyError(f"SQL source {self.name!r}: environment variable {self.config.password_env} "
                                      "is not set; export it with the database password")
            url = url.set(password=password)
        timeout_ms = int(self.config.timeout_s * 1000)
        return create_engine(
            url, poolclass=_null_pool(),
            connect_args={"options": f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}",
                          "connect_timeout": max(1, int(self.config.timeout_s))},
        )

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        if self._engine is None:
            self._engine = self._make_engine()
        return self._engine

    def tables(self) -> list[Any]:
        """Reflected `sqlalchemy.Table`s: the configured ones, or every table when none were named."""
        if self._tables is None:
            from sqlalchemy import MetaData
            from sqlalchemy.exc import SQLAlchemyError

            meta = MetaData()
            try:
                self._check_table_names()
                meta.reflect(self.engine, only=self.config.tables or None)
            except SQLAlchemyError as exc:
                raise StoreError(f"SQL source {self.name!r}: cannot read the schema ({exc.__class__.__name__}: "
                                 f"{str(exc).splitlines()[0]}); check the URL and --table names") from None
            self._tables = [meta.tables[t] for t in (self.config.tables or sorted(meta.tables))]
        return self._tables

    def _check_table_names(self) -> None:
        """StoreError (as any schema problem here) naming the tables that exist when a configured one does not
        ("invntory"): SQLAlchemy's message shows the engine's internal address instead."""
        from sqlalchemy import inspect

        if not self.config.tables:
            return
        found = inspect(self.engine).get_table_names()
        missing = [t for t in self.config.tables if t not in found]
        if missing:
            raise StoreError(f"SQL source {self.name!r}: no table {', '.join(missing)}; the database has "
                              f"{', '.join(found) or 'no tables'} (--table takes these names)")

    def describe(self) -> dict[str, list[str]]:
        """{table: [column names]}: what `sources list` shows."""
        return {t.name: [c.name for c in t.columns] for t in self.tables()}

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # ------------------------------------------------------------------ querying
    def query(self, question: str) -> list[Hit]:
        """Rows relevant to `question`: rows whose text columns contain question terms, most matches first."""
        from sqlalchemy import String, Text, or_, select
        from sqlalchemy.exc import OperationalError, SQLAlchemyError

        terms = _terms(question)
        if not terms:
            return []
        scored: list[tuple[int, int, Hit]] = []
        for order, table in enumerate(self.tables()):
            text_cols = [c for c in table.columns if isinstance(c.type, (String, Text))]
            if not text_cols:
                continue
            clauses = [c.ilike(f"%{_like_escape(t)}%", escape="\\") for c in text_cols for t in terms]
            stmt = select(table).where(or_(*clauses)).limit(self.config.max_rows * 4)
            try:
                rows = self._run(stmt)
            except OperationalError as exc:
                raise StoreError(f"SQL source {self.name!r}: query on {table.name} failed or exceeded "
                                 f"{self.config.timeout_s:g} s ({str(exc.orig).splitlines()[0]})") from None
            except SQLAlchemyError as exc:
                raise StoreError(f"SQL source {self.name!r}: query on {table.name} failed ({exc})") from None
            for row in rows:
                hit = self._row_hit(table, dict(row._mapping), terms)
                low = hit.text.lower()
                matched = sum(1 for t in terms if t in low)
                scored.append((matched, -order, hit))
        scored.sort(key=lambda s: (-s[0], -s[1]))
        return [h for _, _, h in scored[: self.config.max_rows]]

    def _run(self, stmt):  # type: ignore[no-untyped-def]
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                deadline = time.monotonic() + self.config.timeout_s
                raw = conn.connection.dbapi_connection
                raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
                try:
                    return conn.execute(stmt).fetchall()
                finally:
                    raw.set_progress_handler(None, 0)
            return conn.execute(stmt).fetchall()

    def _row_hit(self, table, values: dict[str, Any], terms: Sequence[str] = ()) -> Hit:  # type: ignore[no-untyped-def]
        pk_cols = [c.name for c in table.primary_key.columns] or [next(iter(table.columns)).name]
        key = ",".join(str(values[c]) for c in pk_cols)
        # Columns the question names ("... in stock?" -> stock) come first: the 135M model copies the first
        # plausible number, and with the table's order it answered the price (129.00) for a stock of 3 or 7.
        asked = {t.lower() for t in terms}
        ordered = sorted(values.items(), key=lambda cv: 0 if cv[0].lower().rstrip("s") in asked or cv[0].lower() in asked else 1)
        rendered = ", ".join(f"{col}={_fmt(val)}" for col, val in ordered)
        ident = f"sql:{self.name}/{table.name}"
        # A RowHit carries the typed values too: the table-cell rule (cells.py) reads the asked cell from them.
        return RowHit(doc_id=ident, chunk_id=f"{ident}#{key}", source=f"{ident}#{key}", score=0.0,
                      text=f"{table.name} {key}: {rendered}", table=table.name, key=key,
                      columns=tuple(Column(c.name, _kind(c.type)) for c in table.columns),
                      values=tuple(values[c.name] for c in table.columns), key_columns=tuple(pk_cols))


_fmt = format_value


def _kind(sql_type: Any) -> str:
    """The cell rule's coarse type of a column: int | number | text | date | other."""
    from sqlalchemy import Date, DateTime, Float, Integer, Numeric, String, Text

    if isinstance(sql_type, Integer):
        return "int"
    if isinstance(sql_type, (Float, Numeric)):
        return "number"
    if isinstance(sql_type, (String, Text)):
        return "text"
    if isinstance(sql_type, (Date, DateTime)):
        return "date"
    return "other"


def _null_pool():  # type: ignore[no-untyped-def]
    """No pooled connections: every answer opens a fresh read-only connection and so sees the latest commit."""
    from sqlalchemy.pool import NullPool

    return NullPool


def _terms(question: str) -> list[str]:
    """Search terms from the question: content words (plural-folded), longest first, at most MAX_TERMS."""
    from ragft.citations import content_words

    terms = sorted((w for w in content_words(question) if len(w) >= 3), key=lambda w: (-len(w), w))
    return terms[:MAX_TERMS]


def query_sources(sources: Sequence[SqlSource], question: str) -> list[Hit]:
    """Rows from every source for `question` (each source bounded by its own max_rows)."""
    hits: list[Hit] = []
    for src in sources:
        hits.extend(src.query(question))
    return hits


def absolute_sqlite_url(url: str) -> str:
    """A SQLite URL with a relative file path, made absolute against the current folder, after checking the file.

    Registered sources are opened at answer time, possibly from another folder (`ragft ask` elsewhere, the
    server): a relative path would then point nowhere. A missing file is refused here, at registration, with a
    message about registering (the source is not registered yet, so there is nothing to remove).
    """
    if not url.startswith("sqlite"):
        return url
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - the registry's own check reports a malformed URL
        return url
    path = parsed.database or ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return url
    full = Path(path).expanduser().resolve()
    if not full.is_file():
        raise ConfigError(f"SQLite database {path} not found (looked for {full}); create it first or pass its path, "
                          f"e.g. sqlite:///{full} (three slashes, then the absolute path)")
    return parsed.set(database=str(full)).render_as_string(hide_password=False)

