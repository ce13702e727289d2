"""The composition root: a `Workspace` opens the store, models, sources and audit log of one folder.

Everything is built lazily (opening a workspace to list adapters must not load a model), and every
collaborator can be injected (tests pass a tiny generator or a fake embedder). CLI commands and server
routes each call one method here; nothing below imports the CLI or the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragft.config import Settings, default_workspace, load_settings
from ragft.errors import ConfigError
from ragft.types import DeleteReport, Hit, IngestReport

if TYPE_CHECKING:
    from ragft.models.base import Embedder, Generator
    from ragft.store.base import Store

DB_FILE = "ragft.db"


class Workspace:
    """One knowledge base folder: `ragft.toml`, the store, adapters/, audit log.

    Args:
        path: the folder; created on first use. Default: `$RAGFT_WORKSPACE`, else `./ragft-workspace`.
        settings: override the settings read from `ragft.toml`.
        store, embedder, generator: inject collaborators instead of building them from the settings.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        settings: Settings | None = None,
        *,
        store: "Store | None" = None,
        embedder: "Embedder | None" = None,
        generator: "Generator | None" = None,
    ) -> None:
        self.path = Path(path) if path is not None else default_workspace()
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"workspace {self.path} exists and is not a folder; pass -w DIR with a folder path")
        self.path.mkdir(parents=True, exist_ok=True)
        self.settings = settings if settings is not None else load_settings(self.path)
        self._store = store
        self._embedder = embedder
        self._generator = generator

    # ----------------------------------------------------------------- collaborators (lazy)
    @property
    def store(self) -> "Store":
        if self._store is None:
            from ragft.store import open_store

            self._store = open_store(self.path, self.settings.store)
        return self._store

    @property
    def embedder(self) -> "Embedder":
        if self._embedder is None:
            from ragft.models.embedder import load_embedder

            self._embedder = load_embedder(self.settings.embedder)
        return self._embedder

    @property
    def generator(self) -> "Generator":
        if self._generator is None:
            from ragft.models.registry import load_generator

            self._generator = load_generator(self.settings.generator)
        return self._generator

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- knowledge base
    def ingest(
        self,
        paths: Sequence[str | Path],
        groups: Iterable[str] = (),
        subject: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestReport:
        """Ingest files/folders (recursive). Unchanged content is a no-op; changed content replaces old chunks."""
        from ragft.ingest import ingest_paths

        return ingest_paths(self, [Path(p) for p in paths], groups=tuple(groups), subject=subject, progress=progress)

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        user: str | None = None,
        groups: Iterable[str] | None = None,
    ) -> list[Hit]:
        """Top-k chunks for `query`; with `user`/`groups` only chunks those groups may see."""
        from ragft.retrieval import retrieve

        return retrieve(self, query, k=k, mode=mode, groups=self.resolve_groups(user, groups))

    def resolve_groups(self, user: str | None, groups: Iterable[str] | None) -> set[str] | None:
        """The caller's groups: None (no filter) when neither a user nor groups are given.

        A user name resolves through the governance user table; an unknown user fails closed.
        """
        resolved: set[str] | None = None
        if user is not None:
            from ragft.governance.users import UserRegistry

            resolved = set(UserRegistry(self.path).groups_of(user))
        if groups is not None:
            resolved = (resolved or set()) | {g for g in groups if g}
        return resolved

    def delete(self, doc_id: str) -> DeleteReport:
        """Remove one document with its chunks, full-text rows and vectors."""
        from ragft.ingest import delete_documents

        return delete_documents(self, [doc_id])
