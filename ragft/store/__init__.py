"""Storage backends behind one `Store` protocol (base.py): SQLite (default) and PostgreSQL + pgvector."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragft.errors import ConfigError
from ragft.store.base import Store

if TYPE_CHECKING:
    from ragft.config import StoreSettings

DB_FILE = "ragft.db"


def _open_sqlite(path: Path, settings: "StoreSettings") -> Store:
    from ragft.store.sqlite import SqliteStore

    return SqliteStore(Path(path) / DB_FILE)


def _open_postgres(path: Path, settings: "StoreSettings") -> Store:
    try:
        from ragft.store.postgres import open_postgres_store  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ConfigError(
            "store backend 'postgres' is not available yet in this build; set [store] backend = \"sqlite\" in ragft.toml"
        ) from exc
    return open_postgres_store(path, settings)


BACKENDS = {"sqlite": _open_sqlite, "postgres": _open_postgres}


def open_store(path: Path, settings: "StoreSettings") -> Store:
    """The workspace's store: `path/ragft.db` for SQLite, or the configured PostgreSQL database."""
    factory = BACKENDS.get(settings.backend)
    if factory is None:
        raise ConfigError(f"unknown store backend {settings.backend!r}; allowed: {', '.join(BACKENDS)}")
    return factory(Path(path), settings)


__all__ = ["BACKENDS", "DB_FILE", "Store", "open_store"]
