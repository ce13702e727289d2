"""Finding the files of an ingest: folders walked recursively in a stable order, each file once, hidden files
and folders skipped, unsupported types met in a folder listed as skipped (named explicitly: failed)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ragft.documents.loaders import supported, unsupported_reason
from ragft.types import FileFailure, FileSkip, IngestReport


def collect_files(paths: Sequence[Path], report: IngestReport, relpaths: dict[Path, str] | None = None) -> list[Path]:
    """Files to ingest, each once, in a stable order; problems go to `report.failed` / `report.skipped`.
    `relpaths` receives each file's path relative to the ingest root it was found under (root folder name first):
    what the server shows instead of the machine's absolute path."""
    files: list[Path] = []
    seen: set[Path] = set()
    shown = relpaths if relpaths is not None else {}

    def add(path: Path, rel: str) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)
            shown[path] = rel

    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            for found in _walk(path, report):
                add(found, (Path(path.resolve().name) / found.relative_to(path)).as_posix())
        elif path.exists() or path.is_symlink():
            if supported(path):
                add(path, path.name)
            else:  # named explicitly: the user expected it to be ingested
                report.failed.append(FileFailure(str(path), unsupported_reason(path)))
        else:
            report.failed.append(FileFailure(str(path), "no such file or folder; check the path"))
    failed = {Path(f.path).resolve() for f in report.failed}
    report.skipped = [s for s in report.skipped if Path(s.path).resolve() not in failed]  # named twice: failed wins
    return files


def _walk(top: Path, report: IngestReport) -> Iterator[Path]:
    def on_error(exc: OSError) -> None:
        report.failed.append(FileFailure(str(exc.filename or top), f"cannot read folder: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(top, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if supported(path):
                yield path
            else:
                report.skipped.append(FileSkip(str(path), unsupported_reason(path)))
