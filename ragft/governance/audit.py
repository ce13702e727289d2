"""Tamper-evident audit log: an append-only, hash-chained JSONL file in the workspace.

Each line of `<workspace>/audit.jsonl` is one record, canonical JSON (sorted keys, no spaces):

    {"seq": n, "ts": "...Z", "event": "ingest", "principal": "alice", ...fields, "prev": <hash n-1>, "hash": h}

with `h = sha256(prev + canonical_json(record without "hash"))` and `prev` of the first record 64 zeros.
Editing any line breaks its hash; deleting or reordering lines breaks `seq` and `prev`. Deleting the *last*
line leaves a valid shorter chain, so the last `seq` and `hash` are also kept in `<workspace>/audit.head`
(written atomically after every append): a log shorter than its head is a truncated log.

Deleting both files leaves no chain at all: `verify(documents=...)` then fails when the workspace holds documents
(every ingest is audited), so an emptied log is told from a new workspace.

Limits (stated in docs/security.md): the chain has no secret, so someone who can rewrite *both* files and
recompute every hash can forge a consistent history. Anchor the head outside the machine (ship
`ragft audit verify --json` output, which carries the head hash, to another system) to close that gap.

Appends take an exclusive `flock` on the log, write one line, fsync it, then replace the head: CLI and
server processes may append concurrently. Records carry ids and counts, never document or question text
unless a caller puts it there explicitly.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ragft.errors import ConfigError
from ragft.fsutil import atomic_write

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
GENESIS = "0" * 64
RESERVED = frozenset({"seq", "ts", "event", "principal", "prev", "hash"})


def canonical(obj: Any) -> str:
    """The one serialisation that is hashed: sorted keys, compact separators, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_hash(record: dict[str, Any]) -> str:
    """sha256(prev + canonical JSON of the record without its own hash)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256((str(record.get("prev", "")) + canonical(body)).encode("utf-8")).hexdigest()


@dataclass
class VerifyReport:
    """Result of `AuditLog.verify`: the JSON of `ragft audit verify`. `first_bad_line` is 1-based, or None."""

    ok: bool
    records: int
    first_bad_line: int | None = None
    reason: str = ""
    head_hash: str = GENESIS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AuditLog:
    """The audit log of one workspace folder. Constructing it touches no file."""

    def __init__(self, workspace: str | Path) -> None:
        self.folder = Path(workspace)
        self.path = self.folder / AUDIT_FILE
        self.head_path = self.folder / HEAD_FILE

    # ------------------------------------------------------------------ writing
    def append(self, event: str, principal: str | None = None, **fields: Any) -> dict[str, Any]:
        """Append one record and return it (with seq and hash). Field names may not shadow the envelope."""
        if not event or not isinstance(event, str):
            raise ConfigError("audit event must be a non-empty string")
        clash = RESERVED & fields.keys()
        if clash:
            raise ConfigError(f"audit fields {sorted(clash)} are reserved ({', '.join(sorted(RESERVED))}); rename them")
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as fh:  # binary + O_APPEND: every write lands at the end
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                seq, prev = self._tail(fh)
                record: dict[str, Any] = {
                    "seq": seq + 1,
                    "ts": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                    "event": event,
                    "principal": principal,
                    **json.loads(canonical(fields)),  # normalise tuples/sets/paths the way they will be read back
                    "prev": prev,
                }
                record["hash"] = record_hash(record)
                fh.write((canonical(record) + "\n").encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
                self._write_head(record["seq"], record["hash"])
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return record

    def _tail(self, fh: IO[bytes]) -> tuple[int, str]:
        """Last (seq, hash) to chain onto.

        The head file wins over the log: if the log's last line was deleted, the next record still chains
        to the head, so the gap stays visible to `verify` instead of being papered over. The one exception
        is a crash between the log fsync and the head write: a last line that chains exactly onto the head
        (seq + 1, prev == head hash, own hash valid) is adopted. With no head file, the last line is used.
        """
        head = self._read_head()
        last = _last_record(fh)
        if head is None:
            return (int(last["seq"]), str(last["hash"])) if last else (0, GENESIS)
        if last and last.get("seq") == head[0] + 1 and last.get("prev") == head[1] and last.get("hash") == record_hash(last):
            return int(last["seq"]), str(last["hash"])
        return head

    def _read_head(self) -> tuple[int, str] | None:
        if not self.head_path.exists():
            return None
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            return int(head["seq"]), str(head["hash"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{self.head_path}: unreadable ({exc}); run `ragft audit verify`") from exc

    def _write_head(self, seq: int, digest: str) -> None:
        atomic_write(self.head_path, canonical({"seq": seq, "hash": digest}) + "\n")

    # ------------------------------------------------------------------ reading
    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in file order (no verification; use `verify` for that)."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    def verify(self, documents: int = 0) -> VerifyReport:
        """Walk the chain: seq, prev and hash of every line, then the head. Stops at the first bad line.

        `documents`: how many documents the workspace holds. Every ingest is audited, so an empty chain (both
        files deleted or emptied) beside documents is a deleted log, not a fresh one."""
        prev, n = GENESIS, 0
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        for lineno, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
                assert isinstance(rec, dict)
            except (json.JSONDecodeError, AssertionError):
                return VerifyReport(False, n, lineno, "line is not a JSON record", prev)
            if rec.get("seq") != lineno:
                return VerifyReport(False, n, lineno, f"seq {rec.get('seq')!r}, expected {lineno} (line deleted, inserted or moved)", prev)
            if rec.get("prev") != prev:
                return VerifyReport(False, n, lineno, "prev does not match the previous record's hash", prev)
            if rec.get("hash") != record_hash(rec):
                return VerifyReport(False, n, lineno, "hash mismatch (record edited)", prev)
            prev, n = rec["hash"], lineno
        try:
            head = self._read_head()
        except ConfigError as exc:
            return VerifyReport(False, n, n + 1, str(exc), prev)
        if head is None:
            if n:
                return VerifyReport(False, n, n + 1, f"{HEAD_FILE} missing: the tail of the log cannot be checked", prev)
            if documents:
                return VerifyReport(False, 0, 1, f"{AUDIT_FILE} and {HEAD_FILE} are missing or empty, yet the workspace "
                                    f"holds {documents} document(s), whose ingest was audited: the log was deleted", prev)
            return VerifyReport(True, 0, None, "", prev)
        head_seq, head_hash = head
        if head_seq > n:
            return VerifyReport(False, n, n + 1, f"log ends at seq {n} but the head records seq {head_seq} (tail deleted)", prev)
        if head_seq != n or head_hash != prev:
            return VerifyReport(False, n, min(head_seq, n) + 1 if head_seq < n else n, "head does not match the last record", prev)
        return VerifyReport(True, n, None, "", prev)

    def export(self, out: IO[str]) -> int:
        """Write every record as JSONL to `out` (a file or stdout); returns the number written."""
        n = 0
        for rec in self.records():
            out.write(canonical(rec) + "\n")
            n += 1
        return n


def _last_record(raw: IO[bytes]) -> dict[str, Any] | None:
    """The last non-empty line parsed as JSON (reads the file from the end in blocks), or None."""
    raw.seek(0, os.SEEK_END)
    end = raw.tell()
    buf, pos = b"", end
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        raw.seek(pos)
        buf = raw.read(step) + buf
        stripped = buf.rstrip(b"\n")
        if b"\n" in stripped:
            break
    lines = [ln for ln in buf.split(b"\n") if ln.strip()]
    if not lines:
        return None
    try:
        rec = json.loads(lines[-1].decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return rec if isinstance(rec, dict) else None
