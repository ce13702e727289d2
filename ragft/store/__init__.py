"""Storage backends behind one `Store` protocol (base.py): SQLite (default) and PostgreSQL + pgvector."""

from ragft.store.base import Store

__all__ = ["Store"]
