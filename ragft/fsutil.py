"""One way to replace a file atomically: write a temp file in the same folder, fsync it, `os.replace` it.

Readers see the old content or the new one, never half a file, and a crash leaves at most a stray temp file
(`.NAME.*.tmp`, removed on the next failure path). Used for ragft.toml, users.json, the adapter registry, the
audit head and erasure's rewritten files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | Path, content: str, *, mode: int | None = None) -> None:
    """Replace `path` with `content` (UTF-8) atomically; `mode` (e.g. 0o600) is set before the file appears."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
