"""Who may read a compare report: reports are derived data and carry the groups of what they were built from.

A `ragft compare --report` page shows questions, gold answers, generated answers and cited text, so it holds text
of every document and live source its runs touched. Serving it to any authenticated caller leaked one team's
documents to another (issue #20). The rule now: when the report is written, `report_access` collects the groups of
every document and live source it names (chunk ids, doc ids, citation sources) and `write_access` stores them
beside the report as `access.json`; the server lets a caller read the report only when it is an admin or holds
*all* of those groups (`may_read`). A report without `access.json` (written before this rule) is admin-only:
unknown provenance fails closed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragft.fsutil import atomic_write

ACCESS_FILE = "access.json"
_ID_KEYS = ("doc_id", "chunk_id", "source")


@dataclass(frozen=True)
class ReportAccess:
    """The groups a reader must hold (all of them) and how many documents/sources the report draws on."""

    groups: list[str] = field(default_factory=list)
    documents: int = 0
    sources: list[str] = field(default_factory=list)


def referenced_ids(results: Any) -> set[str]:
    """Every document id a results document names: `doc_id` values, the document part of `chunk_id`s
    (`<doc_id>:<n>`) and live-source ids (`sql:<name>/...`), found at any depth of the JSON."""
    found: set[str] = set()
    stack = [results]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in _ID_KEYS and isinstance(value, str) and value:
                    found.add(value)
                elif key in ("retrieved", "chunk_ids") and isinstance(value, list):
                    found.update(v for v in value if isinstance(v, str))
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _doc_part(ident: str) -> str:
    """`doc:3` -> `doc`; a live-source id keeps its `sql:<source>` prefix."""
    if ident.startswith("sql:"):
        return "sql:" + ident[4:].split("/", 1)[0].split("#", 1)[0]
    return ident.rsplit(":", 1)[0] if ident.rsplit(":", 1)[-1].isdigit() else ident


def report_access(results: Any, doc_groups: Mapping[str, Iterable[str]],
                  source_groups: Mapping[str, Iterable[str]]) -> ReportAccess:
    """The access rule for a report whose results JSON is `results`.

    `doc_groups`: doc_id -> groups of every document in the store; `source_groups`: live source name -> groups.
    Ids that match neither (a `source` path, a QA file's own text) add nothing.
    """
    groups: set[str] = set()
    docs: set[str] = set()
    sources: set[str] = set()
    for ident in referenced_ids(results):
        part = _doc_part(ident)
        if part.startswith("sql:") and part[4:] in source_groups:
            sources.add(part[4:])
            groups.update(source_groups[part[4:]])
        elif part in doc_groups:
            docs.add(part)
            groups.update(doc_groups[part])
    return ReportAccess(groups=sorted(groups), documents=len(docs), sources=sorted(sources))


def write_access(folder: str | Path, access: ReportAccess) -> Path:
    """Write `access.json` into the report folder atomically (temp file + rename)."""
    target = Path(folder) / ACCESS_FILE
    atomic_write(target, json.dumps(asdict(access), indent=2))
    return target


def read_access(folder: str | Path) -> ReportAccess | None:
    """The stored rule, or None when the report has none (or it is unreadable): callers then fail closed."""
    try:
        data = json.loads((Path(folder) / ACCESS_FILE).read_text(encoding="utf-8"))
        return ReportAccess(groups=[str(g) for g in data.get("groups", [])], documents=int(data.get("documents", 0)),
                            sources=[str(s) for s in data.get("sources", [])])
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def may_read(folder: str | Path, caller_groups: Iterable[str] | None, admin: bool) -> bool:
    """True when an admin asks, or the caller holds every group the report's data came from.

    `caller_groups` None means no access control is configured (open mode: no users registered).
    """
    if admin or caller_groups is None:
        return True
    access = read_access(folder)
    return access is not None and set(access.groups) <= set(caller_groups)
