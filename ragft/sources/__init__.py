"""Live structured sources queried at answer time (no copy that can go stale).

Registered in the workspace file `sources.json` (`{"sources": [{name, kind, url, tables, password_env, ...}]}`),
written atomically. URLs are stored without passwords (see sql.py). `ragft sources add-sql/list/remove`
call `SourceRegistry` through the Workspace.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ragft.errors import ConfigError, NotFoundError
from ragft.fsutil import atomic_write
from ragft.sources.sql import SqlSource, SqlSourceConfig, check_url, query_sources

SOURCES_FILE = "sources.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SourceRegistry:
    """The workspace's registered live sources."""

    def __init__(self, workspace_path: str | Path) -> None:
        self.path = Path(workspace_path) / SOURCES_FILE

    def _load(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return list(data["sources"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path}: not a valid sources file ({exc}); fix or delete it") from None

    def _save(self, rows: list[dict[str, Any]]) -> None:
        atomic_write(self.path, json.dumps({"sources": rows}, indent=2))

    def configs(self) -> list[SqlSourceConfig]:
        out = []
        for row in self._load():
            fields = {k: v for k, v in row.items() if k in SqlSourceConfig.__dataclass_fields__}
            out.append(SqlSourceConfig(**fields))
        return out

    def add_sql(self, name: str, url: str, tables: list[str] | None = None, password_env: str = "",
                max_rows: int | None = None, timeout_s: float | None = None,
                groups: list[str] | None = None) -> dict[str, Any]:
        """Register (or replace) a SQL source after checking it connects read-only and the tables exist.
        `groups`: who may see its rows at answer time (none = public), the rule documents follow. The result says
        whether a source of that name was replaced (`replaced`, and what it was: `previous`), so a re-run that
        changes the tables does not pass for a first registration."""
        if not _NAME.match(name):
            raise ConfigError(f"source name {name!r} is invalid; use letters, digits, '_', '-' or '.' (max 64)")
        check_url(url)
        cfg = SqlSourceConfig(name=name, url=url, tables=list(tables or []), password_env=password_env,
                              groups=sorted({g.strip() for g in groups or [] if g.strip()}))
        if max_rows is not None:
            cfg.max_rows = max_rows
        if timeout_s is not None:
            cfg.timeout_s = timeout_s
        src = SqlSource(cfg)
        try:
            described = src.describe()
        finally:
            src.close()
        missing = [t for t in cfg.tables if t not in described]
        if missing:  # pragma: no cover - reflect(only=...) already raises for unknown tables
            raise ConfigError(f"tables not found in {name}: {', '.join(missing)}")
        if not described:
            raise ConfigError(f"source {name!r} has no tables to query; check the URL or pass --table")
        before = self._load()
        previous = next((r for r in before if r.get("name") == name), None)
        self._save([r for r in before if r.get("name") != name] + [cfg.to_dict()])
        return {**cfg.to_dict(), "columns": described, "replaced": previous is not None, "previous": previous}

    def list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.configs()]

    def remove(self, name: str) -> dict[str, Any]:
        rows = self._load()
        kept = [r for r in rows if r.get("name") != name]
        if len(kept) == len(rows):
            names = ", ".join(r.get("name", "?") for r in rows) or "none registered"
            raise NotFoundError(f"no source named {name!r} (registered: {names}); see `ragft sources list`")
        self._save(kept)
        return {"removed": name}

    def open_all(self, groups: set[str] | None = None) -> list[SqlSource]:
        """The sources a caller with `groups` may query (None = the operator: all). Filtering happens here,
        before any row is read, so a hidden source's rows never reach a prompt, a citation or a report."""
        return [SqlSource(c) for c in self.configs() if c.visible_to(groups)]


__all__ = ["SOURCES_FILE", "SourceRegistry", "SqlSource", "SqlSourceConfig", "query_sources"]
