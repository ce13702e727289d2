"""Quarantine: chunks flagged as instruction-like at ingest stay out of prompts until an operator approves them.

Ingest flags chunks that read like instructions to the model (`governance.injection`) and records their ids in the
document's metadata (`flagged_chunks`). Flagging alone does not protect answers: a flagged chunk that is retrieved
still reaches the prompt and can derail the answer (issue #20). With quarantine on, such chunks are dropped from
the retrieved items before the prompt is built; `ragft documents approve DOC_ID` (recorded in `quarantine.json`
and the audit log) lets a reviewed document's chunks back in. The server turns quarantine on by default
(`[server] quarantine_flagged = true`); the CLI and the Python API follow `[answer] quarantine_flagged`
(default off: an operator asking their own knowledge base sees everything, and the ingest report lists the flags).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from ragft.fsutil import atomic_write
from ragft.types import Document, Hit

QUARANTINE_FILE = "quarantine.json"


class Quarantine:
    """Approved documents (`quarantine.json`, written atomically) and the prompt filter."""

    def __init__(self, workspace_path: str | Path) -> None:
        self.path = Path(workspace_path) / QUARANTINE_FILE

    def approved(self) -> set[str]:
        try:
            return set(json.loads(self.path.read_text(encoding="utf-8")).get("approved", []))
        except FileNotFoundError:
            return set()
        except (ValueError, AttributeError):
            return set()  # unreadable approvals fail closed: nothing is approved

    def approve(self, doc_id: str) -> None:
        ids = sorted(self.approved() | {doc_id})
        atomic_write(self.path, json.dumps({"approved": ids}, indent=2))

    def filter(self, items: Sequence[Hit], get_document: Callable[[str], Document | None]) -> list[Hit]:
        """`items` without the flagged chunks of documents nobody approved (live-source rows pass: not flagged)."""
        approved = self.approved()
        flagged: dict[str, set[str]] = {}
        kept: list[Hit] = []
        for item in items:
            if item.doc_id not in flagged:
                doc = None if item.doc_id in approved else get_document(item.doc_id)
                flagged[item.doc_id] = set(doc.metadata.get("flagged_chunks", [])) if doc is not None else set()
            if item.chunk_id not in flagged[item.doc_id]:
                kept.append(item)
        return kept
