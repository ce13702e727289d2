"""Typed records that cross module boundaries. JSON output is these serialised with `to_dict()`.

Kept free of heavy imports (no torch, no numpy) so the CLI starts fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class Progress(Protocol):
    """The progress callback long operations take (ingest, reembed, store copy): `done` of `total` units,
    called with 0 first. Multi-phase work (eval, compare) calls `(phase, done, total)` instead, which the
    CLI's progress bars accept too; training calls `(step, total, loss, tokens_per_s)` (finetune/train.py)."""

    def __call__(self, done: int, total: int) -> None: ...


class _Serialisable:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Document(_Serialisable):
    """One ingested source file (or one live-source row set). `doc_id` is stable for a source path."""

    doc_id: str
    source: str
    title: str
    content_hash: str
    mtime: float | None = None
    groups: tuple[str, ...] = ()
    subject: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def view(self) -> "DocumentView":
        """The public view (what `ragft documents --json` and `GET /v1/documents` show)."""
        return DocumentView(doc_id=self.doc_id, source=self.source, title=self.title, groups=list(self.groups),
                            subject=self.subject, meta=dict(self.metadata.get("user") or {}))


@dataclass(frozen=True)
class DocumentView(_Serialisable):
    """A document as users see it: id, source, title, access groups, data subject and their own `--meta` tags;
    none of ragft's bookkeeping (hashes, mtimes, fingerprints, PII counts)."""

    doc_id: str
    source: str
    title: str
    groups: list[str]
    subject: str | None
    meta: dict[str, str]


@dataclass(frozen=True)
class Chunk(_Serialisable):
    """A retrievable span of a document. `chunk_id` is `"{doc_id}:{ordinal}"`."""

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    heading: str = ""
    n_tokens: int = 0


@dataclass(frozen=True)
class Hit(_Serialisable):
    """A chunk returned by retrieval, with the score of the mode that produced it (higher is better)."""

    doc_id: str
    chunk_id: str
    source: str
    score: float
    text: str


@dataclass
class FileFailure(_Serialisable):
    path: str
    error: str


@dataclass
class FileSkip(_Serialisable):
    path: str
    reason: str


@dataclass
class IngestReport(_Serialisable):
    """Result of `Workspace.ingest`: the JSON of `ragft ingest` (DESIGN.md contract)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[FileFailure] = field(default_factory=list)
    skipped: list[FileSkip] = field(default_factory=list)
    chunks: int = 0
    pii: dict[str, int] = field(default_factory=dict)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


@dataclass
class DeleteReport(_Serialisable):
    """Result of `delete`/`forget`: counts removed and adapters whose lineage included the data."""

    documents: int = 0
    chunks: int = 0
    tainted_adapters: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Citation(_Serialisable):
    n: int
    doc_id: str
    chunk_id: str
    source: str
    text: str


@dataclass
class Answer(_Serialisable):
    """Result of `Workspace.ask`: the JSON of `ragft ask`. `[n]` in `answer` refers to citations[n-1]."""

    answer: str
    strategy: str
    model: str
    abstained: bool = False
    citations: list[Citation] = field(default_factory=list)
    latency_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    retrieved: list[str] = field(default_factory=list)
