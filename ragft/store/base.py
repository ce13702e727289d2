"""The `Store` protocol: documents, chunks, full-text (BM25) and dense vectors, with ACL groups.

Contract every backend keeps (tests/store_contract.py runs the same tests against each):
- `replace_document` is one transaction: the document row, all its chunks, their full-text rows and vectors
  appear together or not at all; old chunks of the same doc_id are removed in the same transaction.
- Group filtering happens inside the query, before top-k: `groups=None` means "no filter" (admin/CLI without
  --user); a set means "public chunks (document without groups) plus chunks whose groups intersect the set".
  An empty set therefore sees only public chunks. Never filter after top-k.
- Scores: higher is better. BM25 scores are positive; dense scores are cosine similarities (vectors normalised).
- Deleting removes every trace (rows, full-text index entries, vectors) in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ragft.errors import EmbedderMismatchError
from ragft.types import Chunk, Document, Hit

if TYPE_CHECKING:
    import numpy as np

    from ragft.models.base import Embedder

EMBEDDER_META_KEY = "embedder"
"""Store meta key holding the name of the embedder the vectors came from (set on first ingest, by reembed)."""


CHUNK_COLUMNS = "chunk_id, doc_id, ordinal, text, heading, n_tokens"
"""The chunk columns, in the order `chunk_from_row` reads them (same in every backend)."""


def chunk_from_row(r: Sequence) -> Chunk:
    """A Chunk from a row selected as CHUNK_COLUMNS."""
    return Chunk(chunk_id=r[0], doc_id=r[1], ordinal=r[2], text=r[3], heading=r[4], n_tokens=r[5])


@runtime_checkable
class Store(Protocol):
    def get_document(self, doc_id: str) -> Document | None:
        """The document, or None."""
        ...

    def list_documents(self, subject: str | None = None) -> list[Document]:
        """All documents, or those of one data subject."""
        ...

    def replace_document(self, doc: Document, chunks: Sequence[Chunk], vectors: "np.ndarray") -> None:
        """Insert or replace `doc` with `chunks` (vectors[i] belongs to chunks[i]) atomically."""
        ...

    def delete_documents(self, doc_ids: Iterable[str]) -> tuple[int, int]:
        """Delete documents with all their chunks; returns (documents, chunks) removed."""
        ...

    def search_bm25(self, query: str, k: int, groups: set[str] | None = None) -> list[Hit]:
        """Top-k chunks by BM25 over the chunk text."""
        ...

    def search_dense(self, vector: "np.ndarray", k: int, groups: set[str] | None = None) -> list[Hit]:
        """Top-k chunks by cosine similarity to a normalised query vector."""
        ...

    def get_chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the given order; unknown ids are left out."""
        ...

    def iter_chunks(self, doc_ids: Sequence[str] | None = None) -> Iterator[Chunk]:
        """All chunks (optionally of some documents) in document order: for re-embedding and dataset building."""
        ...

    def chunk_groups(self, chunk_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Groups of the document of each chunk (for re-checking access on every path, e.g. citations)."""
        ...

    def stats(self) -> dict[str, int]:
        """{"documents": n, "chunks": n}."""
        ...

    def get_meta(self, key: str) -> str | None:
        """Workspace-level key/value (e.g. the embedder model name)."""
        ...

    def set_meta(self, key: str, value: str) -> None: ...

    def compact(self) -> None:
        """Make deletions physical: no erased bytes left in free pages, FTS segments or the WAL."""
        ...

    def close(self) -> None: ...


def check_embedder(store: "Store", embedder: "Embedder") -> None:
    """Vectors from one model searched or extended with another are silently wrong: refuse it (ingest, dense search)."""
    stored = store.get_meta(EMBEDDER_META_KEY)
    if stored is not None and stored != embedder.name:
        raise EmbedderMismatchError(
            f"this workspace was embedded with {stored!r} but the configured embedder is {embedder.name!r}; "
            "run `ragft reembed` to re-embed every chunk with the configured model, or set embedder.model back in ragft.toml"
        )
