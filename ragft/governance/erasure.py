"""Right to erasure (GDPR Art. 17): `forget` a data subject so that nothing of their documents remains.

Order of operations (each step is needed; see /work/shared/notes/security.md):
1. Find the subject's documents and remember their chunk text (to find copies elsewhere in the workspace).
2. Delete documents, chunks, full-text rows and vectors (`ragft.ingest.delete_documents`, one transaction).
3. Mark every adapter whose training lineage includes those documents as *tainted*: it is refused at serve
   time until retrained without the data or explicitly approved (EDPB Opinion 28/2024 — a model trained on
   personal data is not automatically anonymous; an output filter is not erasure).
4. Scrub derived files in the workspace: training/held-out JSONL rows that reference the erased documents
   (by `doc_ids`/`doc_id`) or quote their text are dropped; JSON and text files have quoted passages
   replaced by `[ERASED]`. Files are rewritten atomically.
5. `store.compact()`: merge FTS5 segments, VACUUM and truncate the WAL, so no erased bytes stay in free
   pages, index segments or the write-ahead log (with `secure_delete=ON` on every delete as well).
6. The caller (`Workspace.forget`/`delete`) appends an audit record with ids and counts (never the erased
   text) from the returned `Erasure`.

Not covered (documented in docs/security.md): copies outside the workspace (exported reports in other
folders, backups, the source files themselves) and filesystem/SSD remanence — use full-disk encryption.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragft.errors import ConfigError
from ragft.ingest import delete_documents
from ragft.types import DeleteReport
from ragft.fsutil import atomic_write

if TYPE_CHECKING:
    from ragft.finetune.registry import AdapterRegistry
    from ragft.store.base import Store

ERASED = "[ERASED]"
_MIN_FRAGMENT = 24  # characters: shorter pieces ("Thank you.") would erase unrelated text
# Files that hold no document text (config, keys, the chain) or are the store itself (compacted instead).
_SKIP_NAMES = {"ragft.toml", "users.json", "audit.jsonl", "audit.head", "registry.json"}
_SKIP_PREFIXES = ("ragft.db",)
_TEXT_SUFFIXES = {".jsonl", ".json", ".txt", ".md", ".html", ".htm", ".csv", ".tsv", ".log"}


@dataclass
class ScrubResult:
    """What the file scrub changed (paths relative to the workspace)."""

    rows_dropped: int = 0
    files_changed: list[str] = field(default_factory=list)


def fragments(texts: Iterable[str]) -> list[str]:
    """Whitespace-normalised sentences/lines of the erased text long enough to be specific to it."""
    out: set[str] = set()
    for text in texts:
        for piece in re.split(r"(?<=[.!?])\s+|\n+", text):
            piece = " ".join(piece.split())
            if len(piece) >= _MIN_FRAGMENT:
                out.add(piece)
    return sorted(out, key=len, reverse=True)


def _mentions(text: str, frags: Sequence[str]) -> bool:
    flat = " ".join(text.split())
    return any(f in flat for f in frags)


def _row_tainted(row: Any, doc_ids: set[str], frags: Sequence[str]) -> bool:
    if isinstance(row, dict):
        ids = row.get("doc_ids") or []
        if row.get("doc_id") in doc_ids or (isinstance(ids, list) and doc_ids & {str(i) for i in ids}):
            return True
    return any(_mentions(text, frags) for text in _strings(row))


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a parsed JSON value (unescaped, so quotes and newlines compare as written)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _scrub_value(value: Any, frags: Sequence[str]) -> tuple[Any, bool]:
    """Replace every string that quotes erased text with ERASED (recursively)."""
    if isinstance(value, str):
        return (ERASED, True) if _mentions(value, frags) else (value, False)
    if isinstance(value, list):
        pairs = [_scrub_value(v, frags) for v in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            out[k], c = _scrub_value(v, frags)
            changed |= c
        return out, changed
    return value, False


def scrub_files(root: Path, doc_ids: set[str], texts: Iterable[str]) -> ScrubResult:
    """Remove erased rows/passages from derived text files under `root` (see the module docstring, step 4)."""
    frags = fragments(texts)
    result = ScrubResult()
    if not doc_ids and not frags:
        return result
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in _TEXT_SUFFIXES:
            continue
        if path.name in _SKIP_NAMES or path.name.startswith(_SKIP_PREFIXES):
            continue
        try:
            original = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        new = _scrub_text(path, original, doc_ids, frags, result)
        if new != original:
            atomic_write(path, new)
            result.files_changed.append(str(path.relative_to(root)))
    return result


def _scrub_text(path: Path, original: str, doc_ids: set[str], frags: Sequence[str], result: ScrubResult) -> str:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        kept = []
        for line in original.splitlines(keepends=True):
            try:
                row = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                row = line
            if row is not None and _row_tainted(row, doc_ids, frags):
                result.rows_dropped += 1
                continue
            kept.append(line)
        return "".join(kept)
    if suffix == ".json":
        try:
            data = json.loads(original)
        except json.JSONDecodeError:
            data = None
        if data is not None:
            new, changed = _scrub_value(data, frags)
            return json.dumps(new, ensure_ascii=False, indent=2) + "\n" if changed else original
    text = original
    for frag in frags:
        for variant in {frag, _html_escape(frag)}:
            text = _replace_flexible(text, variant)
    return text


def _html_escape(s: str) -> str:
    import html

    return html.escape(s, quote=True)


def _replace_flexible(text: str, fragment: str) -> str:
    """Replace `fragment` allowing any run of whitespace where it has one (line-wrapped copies)."""
    pattern = r"\s+".join(re.escape(w) for w in fragment.split())
    return re.sub(pattern, ERASED, text)


@dataclass
class Erasure:
    """What `forget` did: the public report, the erased ids and the file scrub (for the audit record)."""

    report: DeleteReport
    doc_ids: list[str]
    scrub: ScrubResult


def forget(
    store: "Store",
    registry: "AdapterRegistry",
    root: Path,
    subject: str | None = None,
    doc_ids: Sequence[str] = (),
) -> Erasure:
    """Erase a data subject's documents (or explicit doc ids) everywhere in the workspace folder `root`: the
    store, adapters trained on them (tainted in `registry`), derived files; see the module docstring."""
    if not subject and not doc_ids:
        raise ConfigError("forget needs a subject (`ragft forget --subject ID`) or document ids")
    ids = list(dict.fromkeys(doc_ids))
    if subject:
        ids += [d.doc_id for d in store.list_documents(subject) if d.doc_id not in ids]
    texts = _chunk_texts(store, ids)
    report = delete_documents(store, ids)
    tainted = registry.mark_tainted(ids)
    report.tainted_adapters = sorted(set(report.tainted_adapters) | set(tainted))
    scrub = scrub_files(root, set(ids), texts)
    store.compact()
    return Erasure(report=report, doc_ids=ids, scrub=scrub)


def _chunk_texts(store: "Store", doc_ids: Sequence[str]) -> list[str]:
    """Text of every chunk of `doc_ids`, read before deletion (for the file scrub)."""
    if not doc_ids:
        return []
    return [c.text for c in store.iter_chunks(list(doc_ids))]
