"""The ingestion pipeline: paths -> files -> loaded text -> (PII policy) -> chunks -> vectors -> store.

Guarantees (DESIGN.md, issue 2):
- One store transaction per document (`Store.replace_document`): a crash loses at most the documents not yet
  committed and never leaves half a document; re-running the same ingest completes the rest, and doc ids are
  stable per resolved source path, so nothing is duplicated.
- Unchanged content is a no-op. A document is unchanged when its content hash (sha256 of the normalised
  extracted text, its groups, its subject and the pipeline fingerprint: chunk size/overlap and PII policy)
  equals the stored one. A cheaper check comes first: same size, same mtime (ns) and same fingerprint means
  the file is not even read. Changed content replaces the old chunks atomically.
- Embedding is batched across documents (throughput) while commits stay per document (crash safety).
- Preparation overlaps embedding: a background thread (`_Prefetcher`) loads, scans and chunks the next files,
  at most `prefetch_flushes` flushes ahead, while the main thread embeds and commits in file order (torch
  releases the GIL in the forward pass). Results, commit order, progress and `failed` lines are the same as the
  sequential loop (`prefetch_flushes=0`); the thread is always joined, also on an error or Ctrl-C.
- With `[embedder] devices`, each flush is embedded by a pool of worker processes (`Embedder.parallel()`),
  stopped when the ingest ends. With `[embedder] bulk_dtype` resolving to bfloat16 (auto: a CPU with bfloat16
  units), flushes from the first one of 256+ chunks are embedded in bfloat16 (ragft/models/precision.py).
- Bad inputs never abort the batch: each gets one line in `failed` (or `skipped` for unsupported files met
  while walking a folder). Hidden files and folders (".git", ".DS_Store") are skipped silently.
- Chunks that read like instructions to the model (`governance.injection.flag_instructions`) are listed in
  `IngestReport.flagged` for review; the PII policy (`[pii]`, `governance.pii`) runs only when it is not "allow".
- The embedder's name is recorded in the store meta on first ingest; ingesting with another embedder raises
  EmbedderMismatchError pointing at `ragft reembed`.

`Ingestor` holds the collaborators (store, embedder factory, `[chunking]`/`[pii]` settings, batch size); the
Workspace builds one and audits what it reports.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragft.documents.chunking import chunk_blocks, embedding_text, fit_to_window
from ragft.documents.files import collect_files
from ragft.documents.loaders import Block, LoadedDocument, load_file
from ragft.errors import ConfigError, IngestError, NotFoundError
from ragft.governance.injection import flag_instructions
from ragft.governance.pii import apply_ingest_policy, policy_for
from ragft.store.base import EMBEDDER_META_KEY, check_embedder
from ragft.text import normalise_text
from ragft.types import Chunk, DeleteReport, Document, FileFailure, IngestReport, Progress

if TYPE_CHECKING:
    from ragft.config import ChunkingSettings, PiiSettings
    from ragft.models.base import Embedder
    from ragft.store.base import Store

__all__ = ["EMBEDDER_META_KEY", "Ingestor", "ReembedReport", "check_embedder", "check_user_metadata",
           "collect_files", "content_hash", "doc_id_for", "flush_size", "normalise_text"]

PIPELINE_VERSION = 3  # bump when loaders/chunking change output, so re-ingest re-chunks everything
# 2 (2026-12-03): PDF headings, tables under a header row as "name: cell" rows, Markdown emphasis marks dropped
# 3 (2026-12-03): list items keep their lines, a JSON record is one "key: value; ..." line, the overlap keeps lines


# ---------------------------------------------------------------------------- ids and hashes
def doc_id_for(path: Path) -> str:
    """Stable id of a source: the first 16 hex digits of sha256 of its resolved path."""
    return hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:16]


def content_hash(text: str, groups: Sequence[str], subject: str | None, fingerprint: str) -> str:
    payload = json.dumps(
        {"text": normalise_text(text), "groups": sorted(groups), "subject": subject, "pipeline": fingerprint},
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _check_groups(groups: Iterable[str]) -> tuple[str, ...]:
    cleaned = []
    for g in groups:
        name = str(g).strip()
        if not name:
            raise ConfigError("empty group name in --group; pass a non-empty name such as --group support")
        cleaned.append(name)
    return tuple(sorted(set(cleaned)))


RESERVED_METADATA_KEYS = frozenset({
    "groups", "group", "acl", "subject", "doc_id", "chunk_id", "source", "content_hash", "title", "mtime",
    "format", "size", "mtime_ns", "fingerprint", "pii", "flagged_chunks", "user",
})
"""Keys a user may not set in document metadata: access control and erasure come only from --group/--subject,
and ragft's own bookkeeping must not be overwritten (a common leak pattern: metadata replacing the ACL key)."""

_META_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def check_user_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """Validated user metadata (str -> str). Reserved or malformed keys are a ConfigError naming the key."""
    clean: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not _META_KEY.match(key):
            raise ConfigError(f"metadata key {key!r} is not allowed: use 1-64 letters, digits, '_', '.', '-', starting with a letter")
        if key.lower() in RESERVED_METADATA_KEYS:
            raise ConfigError(
                f"metadata key {key!r} is reserved ({', '.join(sorted(RESERVED_METADATA_KEYS))}); "
                "access groups and data subjects are set with --group/--subject only"
            )
        clean[key] = str(value)
    return dict(sorted(clean.items()))


# ---------------------------------------------------------------------------- the pipeline
@dataclass
class _Prepared:
    """A parsed, chunked document waiting for its vectors."""

    path: Path
    doc: Document
    chunks: list[Chunk]
    texts: list[str]
    existed: bool
    flagged: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Options:
    groups: tuple[str, ...]
    subject: str | None
    policy: str
    fingerprint: str
    max_bytes: int
    user_meta: dict[str, str] = field(default_factory=dict)
    relpaths: dict[Path, str] = field(default_factory=dict)
    window: Callable[[], "tuple[Callable[[str], int], int] | None"] = lambda: None  # the embedder's token window


class _Committer:
    """Embeds prepared documents in cross-document batches and commits each document in its own transaction."""

    def __init__(self, store: "Store", embedder_of: Callable[[], "_EmbedWith"], batch_size: int, flush_at: int) -> None:
        self.store = store
        self._embedder_of = embedder_of
        self.batch_size = batch_size
        self.flush_at = flush_at
        self.pending: list[_Prepared] = []
        self._pending_chunks = 0

    def add(self, item: _Prepared) -> list[_Prepared]:
        """Queue one document; returns the documents committed by this call (possibly none)."""
        self.pending.append(item)
        self._pending_chunks += len(item.chunks)
        return self.flush() if self._pending_chunks >= self.flush_at else []

    def flush(self) -> list[_Prepared]:
        if not self.pending:
            return []
        import numpy as np

        embedder, embed = self._embedder_of()
        texts = [t for item in self.pending for t in item.texts]
        # One call per flush: the embedder batches internally, and sentence-transformers sorts the whole call by
        # length first, so batches pad far less than fixed slices in file order (2.84x -> 1.43x the real tokens
        # on rag-mini-wikipedia, benchmarks/peers).
        vectors = np.asarray(embed(texts), dtype=np.float32) if texts else np.zeros((0, embedder.dim), dtype=np.float32)
        if self.store.get_meta(EMBEDDER_META_KEY) is None:
            self.store.set_meta(EMBEDDER_META_KEY, embedder.name)
        committed, start = [], 0
        for item in self.pending:
            end = start + len(item.chunks)
            self.store.replace_document(item.doc, item.chunks, vectors[start:end])
            committed.append(item)
            start = end
        self.pending, self._pending_chunks = [], 0
        return committed


_EmbedWith = tuple["Embedder", Callable[[Sequence[str]], Any]]
"""An embedder and the function that embeds bulk texts with it (its `parallel()` pool, or plain `embed`)."""


def _bulk_embed(embedder: "Embedder", stack: ExitStack) -> _EmbedWith:
    """Enter the embedder's `parallel()` block on `stack` (worker pool, stopped when the stack closes), if any."""
    parallel = getattr(embedder, "parallel", None)
    return embedder, (stack.enter_context(parallel()) if parallel is not None else embedder.embed)


FLUSH_TEXTS = 256  # chunks per embed call at least: sentence-transformers length-sorts within a call


def flush_size(batch: int) -> int:
    """Chunks gathered before one embed call: at least FLUSH_TEXTS, whatever the batch, so the length sort inside
    the call has enough texts to group similar lengths (less padding), and at least 4 batches on large ones."""
    return max(FLUSH_TEXTS, batch * 4)


def _checked_embedder(store: "Store", embedder_of: Callable[[], "Embedder"], stack: ExitStack) -> Callable[[], _EmbedWith]:
    """The embedder, loaded on first need, refused if the store was embedded with another model."""
    cache: list[_EmbedWith] = []

    def get() -> _EmbedWith:
        if not cache:
            embedder = embedder_of()
            check_embedder(store, embedder)
            cache.append(_bulk_embed(embedder, stack))
        return cache[0]

    return get


class _Prefetcher:
    """Runs `prepare(path)` for each path on one background thread, at most `limit` chunks ahead of the consumer.

    Iterating yields `(path, result, error)` in input order; `error` is the exception `prepare` raised for that
    path (the consumer decides, exactly as the sequential loop did, whether it is a per-file failure or fatal).
    The bound counts chunks (a document's weight is its chunk count, at least 1), so memory stays near
    `limit` chunks however large the files are; a single document larger than the bound still passes alone.
    `close()` stops the thread after the file it is working on and joins it; the consumer always calls it.
    """

    def __init__(self, paths: Sequence[Path], prepare: Callable[[Path], "_Prepared | None"], limit: int) -> None:
        self._paths = list(paths)
        self._prepare = prepare
        self._limit = max(1, limit)
        self._ready: deque[tuple[Path, "_Prepared | None", BaseException | None, int]] = deque()
        self._buffered = 0  # chunks in `_ready`
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="ragft-ingest-prepare", daemon=True)

    def _run(self) -> None:
        for path in self._paths:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or self._buffered < self._limit)
                if self._stop:
                    return
            try:
                result, error = self._prepare(path), None
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises or records it
                result, error = None, exc
            weight = max(1, len(result.chunks)) if result is not None else 1
            with self._cond:
                self._ready.append((path, result, error, weight))
                self._buffered += weight
                self._cond.notify_all()

    def __iter__(self) -> Iterator[tuple[Path, "_Prepared | None", BaseException | None]]:
        self._thread.start()
        for _ in self._paths:
            with self._cond:
                # A 1 s timeout only to notice a producer that died without posting (it never should).
                while not self._ready:
                    if not self._cond.wait(timeout=1.0) and not self._thread.is_alive() and not self._ready:
                        raise RuntimeError("ingest preparation thread stopped unexpectedly")
                path, result, error, weight = self._ready.popleft()
                self._buffered -= weight
                self._cond.notify_all()
            yield path, result, error

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._ready.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()


def _window_of(embedder_of: Callable[[], "Embedder"]) -> Callable[[], "tuple[Callable[[str], int], int] | None"]:
    """The embedder's token count and window (`models.embedder.window_counter`), worked out on first need (an
    unchanged re-ingest builds nothing) and once, whichever thread prepares first."""
    lock, found = threading.Lock(), []

    def window() -> "tuple[Callable[[str], int], int] | None":
        with lock:
            if not found:
                from ragft.models.embedder import window_counter

                found.append(window_counter(embedder_of()))
            return found[0]

    return window


def _prepared_in_order(
    paths: Sequence[Path], prepare: Callable[[Path], "_Prepared | None"], limit: int
) -> Iterator[tuple[Path, "_Prepared | None", BaseException | None]]:
    """`(path, prepare(path) or None, exception or None)` in input order; on a thread `limit` chunks ahead, or
    inline when `limit` is 0 (the sequential reference)."""
    if limit <= 0:
        for path in paths:
            try:
                yield path, prepare(path), None
            except Exception as exc:  # noqa: BLE001 - the consumer raises it again unless it is an IngestError
                yield path, None, exc
        return
    prefetcher = _Prefetcher(paths, prepare, limit)
    try:
        yield from prefetcher
    finally:
        prefetcher.close()


def _fingerprint(chunking: "ChunkingSettings", policy: str) -> str:
    c = chunking
    return f"v{PIPELINE_VERSION}:t{c.max_tokens}:o{c.overlap_tokens}:pii={policy}"


def _apply_pii(loaded: LoadedDocument, scanner: Any, policy: str) -> tuple[LoadedDocument, dict[str, int]]:
    """Run the PII policy over every block; a rejection fails the whole document."""
    counts: Counter[str] = Counter()
    blocks: list[Block] = []
    for block in loaded.blocks:
        text, found = apply_ingest_policy(block.text, policy, scanner=scanner)
        counts.update(found)
        if text is None:
            found_all = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
            raise IngestError(
                f"rejected by PII policy 'reject' (found {found_all}); remove the personal data or change [pii] policy in ragft.toml"
            )
        blocks.append(Block(text, block.headings))
    return LoadedDocument(title=loaded.title, format=loaded.format, blocks=blocks), dict(counts)


def _prepare(store: "Store", chunking: "ChunkingSettings", path: Path, opts: _Options,
             scanner_of: Callable[[], Any]) -> _Prepared | None:
    """Parse and chunk one file; None when it is unchanged. Raises IngestError for a bad file."""
    doc_id = doc_id_for(path)
    try:
        st = path.stat()
    except OSError:
        st = None  # load_file reports the problem in one line
    existing = store.get_document(doc_id)
    if (
        existing is not None
        and st is not None
        and existing.metadata.get("size") == st.st_size
        and existing.metadata.get("mtime_ns") == st.st_mtime_ns
        and existing.metadata.get("fingerprint") == opts.fingerprint
        and tuple(existing.groups) == opts.groups
        and existing.subject == opts.subject
        and existing.metadata.get("user", {}) == opts.user_meta
    ):
        return None
    loaded = load_file(path, opts.max_bytes)
    pii_counts: dict[str, int] = {}
    if opts.policy != "allow":
        loaded, pii_counts = _apply_pii(loaded, scanner_of(), opts.policy)
    digest = content_hash(loaded.text, opts.groups, opts.subject, opts.fingerprint + json.dumps(opts.user_meta))
    metadata = {
        "user": opts.user_meta,
        "format": loaded.format,
        "size": st.st_size if st else None,
        "mtime_ns": st.st_mtime_ns if st else None,
        "fingerprint": opts.fingerprint,
        "pii": pii_counts,
        "relpath": opts.relpaths.get(path, path.name),
    }
    doc = Document(
        doc_id=doc_id,
        source=str(path.resolve()),
        title=loaded.title,
        content_hash=digest,
        mtime=st.st_mtime if st else None,
        groups=opts.groups,
        subject=opts.subject,
        metadata=metadata,
    )
    if existing is not None and existing.content_hash == digest:
        return None
    pieces = chunk_blocks(loaded.blocks, chunking.max_tokens, chunking.overlap_tokens)
    window = opts.window()
    if window is not None:  # never let the embedder truncate a chunk (chunking counts tokens approximately)
        pieces = fit_to_window(pieces, loaded.title, window[1], window[0])
    if not pieces:
        raise IngestError(f"no text found in this {loaded.format} file; nothing to ingest")
    chunks = [
        Chunk(chunk_id=f"{doc_id}:{i}", doc_id=doc_id, ordinal=i, text=p.text, heading=p.heading, n_tokens=p.n_tokens)
        for i, p in enumerate(pieces)
    ]
    texts = [embedding_text(c.heading, c.text, doc.title) for c in chunks]
    # Instruction-like text (indirect prompt injection) is reported for review, never blocked here.
    flagged = [
        {"path": str(path), "doc_id": doc_id, "chunk_id": c.chunk_id, "patterns": names}
        for c in chunks
        if (names := flag_instructions(f"{c.heading}\n{c.text}"))
    ]
    if flagged:
        doc.metadata["flagged_chunks"] = [f["chunk_id"] for f in flagged]
    return _Prepared(path=path, doc=doc, chunks=chunks, texts=texts, existed=existing is not None, flagged=flagged)


@dataclass
class Ingestor:
    """Ingest, delete and re-embed over explicit collaborators (built by `Workspace.ingestor`).

    Args:
        store: where documents, chunks and vectors go.
        embedder: factory of the embedder, called once on first need (an unchanged re-ingest loads no model).
        chunking, pii: the `[chunking]` and `[pii]` settings.
        batch_size: `embedder.batch_size`; one embed call covers `flush_size(batch_size)` chunks.
    """

    store: "Store"
    embedder: Callable[[], "Embedder"]
    chunking: "ChunkingSettings"
    pii: "PiiSettings"
    batch_size: int = 16

    def ingest(
        self,
        paths: Sequence[Path],
        groups: Sequence[str] = (),
        subject: str | None = None,
        progress: Progress | None = None,
        metadata: Mapping[str, Any] | None = None,
        prefetch_flushes: int = 2,
        on_commit: Callable[[list[Document]], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders (see the module docstring for the guarantees).

        `prefetch_flushes`: how many flushes (4 x embedder batch chunks each) the preparation thread may run ahead;
        0 prepares inline, one file after another (the sequential reference the tests and benchmark compare with).
        `on_commit(documents)` runs after every store commit, so the audit log records what landed even if the run
        dies later.
        """
        started = time.perf_counter()
        report = IngestReport()
        group_names = _check_groups(groups)
        user_meta = check_user_metadata(metadata)
        if subject is not None and not subject.strip():
            raise ConfigError("empty --subject; pass a data-subject id or leave the option out")
        relpaths: dict[Path, str] = {}
        files = collect_files(paths, report, relpaths)
        policy = policy_for(self.pii, group_names)
        opts = _Options(
            groups=group_names,
            subject=subject,
            policy=policy,
            fingerprint=_fingerprint(self.chunking, policy),
            max_bytes=int(self.chunking.max_file_mb * 1_000_000),
            user_meta=user_meta,
            relpaths=relpaths,
            window=_window_of(self.embedder),
        )
        scanner: list[Any] = []

        def scanner_of() -> Any:
            if not scanner:
                from ragft.governance.pii import PiiScanner

                scanner.append(PiiScanner.from_settings(self.pii))
            return scanner[0]

        batch = self.batch_size
        stack = ExitStack()  # closes the embedder's worker pool, if one was started
        committer = _Committer(self.store, _checked_embedder(self.store, self.embedder, stack), batch_size=batch,
                               flush_at=flush_size(batch))
        total, done = len(files), 0
        if progress:
            progress(0, total)

        def record(committed: list[_Prepared]) -> None:
            nonlocal done
            for item in committed:
                if item.existed:
                    report.updated += 1
                else:
                    report.added += 1
                report.chunks += len(item.chunks)
                report.flagged.extend(item.flagged)
                for key, n in item.doc.metadata.get("pii", {}).items():
                    report.pii[key] = report.pii.get(key, 0) + n
                done += 1
            if committed and on_commit:
                on_commit([item.doc for item in committed])
            if committed and progress:
                progress(done, total)

        def prepare(path: Path) -> _Prepared | None:
            return _prepare(self.store, self.chunking, path, opts, scanner_of)

        # closing(): the preparation thread is joined here, on success, error or Ctrl-C, not whenever the
        # generator happens to be collected (a traceback keeps this frame, and so the generator, alive).
        with stack, closing(_prepared_in_order(files, prepare, prefetch_flushes * committer.flush_at)) as items:
            for path, prepared, error in items:
                if isinstance(error, IngestError):
                    report.failed.append(FileFailure(str(path), str(error)))
                    done += 1
                elif error is not None:
                    # Not a bad input: abort, but first commit the documents prepared before it (they are whole and
                    # valid), so a rerun finds them unchanged; nothing after the failing file is written.
                    record(committer.flush())
                    raise error
                elif prepared is None:
                    report.unchanged += 1
                    done += 1
                if prepared is None:
                    if progress:
                        progress(done, total)
                    continue
                record(committer.add(prepared))
            record(committer.flush())
        report.seconds = time.perf_counter() - started
        return report

    def delete(self, doc_ids: Iterable[str]) -> DeleteReport:
        """Delete documents (rows, chunks, full-text entries, vectors) in one store transaction."""
        return delete_documents(self.store, doc_ids)

    def reembed(self, progress: Progress | None = None) -> "ReembedReport":
        """Re-embed every chunk with the configured embedder, one transaction per document.

        The store meta keeps the *old* embedder name until the last document is done, so after a crash dense
        search still refuses the mixed vectors and a second `ragft reembed` simply redoes the work.
        """
        started = time.perf_counter()
        store = self.store
        embedder = self.embedder()
        previous = store.get_meta(EMBEDDER_META_KEY)
        stored_dim = store.get_meta("vector_dim")
        if stored_dim is not None and int(stored_dim) != embedder.dim:
            # SQLite store: replace_document checks new vectors against this; the new model defines it now.
            store.set_meta("vector_dim", str(embedder.dim))
        docs = store.list_documents()
        batch = self.batch_size
        report = ReembedReport(embedder=embedder.name, previous_embedder=previous)
        stack = ExitStack()  # closes the embedder's worker pool, if one was started
        committer = _Committer(store, lambda: embed_with, batch_size=batch, flush_at=flush_size(batch))
        if progress:
            progress(0, len(docs))

        def record(committed: list[_Prepared]) -> None:
            report.documents += len(committed)
            report.chunks += sum(len(i.chunks) for i in committed)
            if committed and progress:
                progress(report.documents, len(docs))

        with stack:
            embed_with = _bulk_embed(embedder, stack)
            for doc in docs:
                chunks = list(store.iter_chunks([doc.doc_id]))
                texts = [embedding_text(c.heading, c.text, doc.title) for c in chunks]
                record(committer.add(_Prepared(path=Path(doc.source), doc=doc, chunks=chunks, texts=texts, existed=True)))
            record(committer.flush())
        store.set_meta(EMBEDDER_META_KEY, embedder.name)
        report.seconds = time.perf_counter() - started
        return report


# ---------------------------------------------------------------------------- delete and re-embed
def delete_documents(store: "Store", doc_ids: Iterable[str]) -> DeleteReport:
    """Delete documents (rows, chunks, full-text rows, vectors) in one store transaction.

    Unknown ids are an error before anything is deleted, so a typo never half-applies a batch.
    """
    ids = list(dict.fromkeys(doc_ids))
    missing = [i for i in ids if store.get_document(i) is None]
    if missing:
        raise NotFoundError(
            f"no document with id {', '.join(missing)}; list the ids with `ragft documents` (or `ragft search QUERY --json`, field doc_id)"
        )
    documents, chunks = store.delete_documents(ids)
    return DeleteReport(documents=documents, chunks=chunks)


@dataclass
class ReembedReport:
    """Result of `Workspace.reembed` / `ragft reembed`."""

    documents: int = 0
    chunks: int = 0
    embedder: str = ""
    previous_embedder: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
