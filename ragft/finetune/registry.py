"""Adapter registry: which LoRA adapters exist in a workspace, how they were trained, and on which data.

One JSON file, `<workspace>/adapters/registry.json`, next to the adapter folders (`adapters/<name>/`, standard
PEFT format: `adapter_model.safetensors` + `adapter_config.json`, loadable by plain peft). The record keeps the
**lineage** of each adapter — the document ids its training data came from and the sha256 of the dataset — so
erasure (`ragft forget`) can mark every adapter trained on erased data as *tainted*. A tainted adapter is not
served until it is retrained without the data (`ragft finetune --retrain NAME`) or explicitly approved by an
operator (`ragft adapters approve NAME`); EDPB Opinion 28/2024: a model trained on personal data is not
automatically anonymous, and an output filter is not erasure.

Writes are atomic (temp file + os.replace) so a crash never leaves half a registry.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ragft.config import AdapterKind
from ragft.errors import AccessDenied, ConfigError, NotFoundError, StoreError
from ragft.fsutil import atomic_write

ADAPTERS_DIR = "adapters"
REGISTRY_FILE = "registry.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A served name is the `model` id an inference engine (vLLM, TGI) serves the adapter under; it goes into command
# lines and JSON requests, so no spaces, quotes or `=` (the separator of `--lora-modules NAME=PATH`).
_SERVED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")


def validate_name(name: str) -> str:
    """Adapter names become folder names and model ids: letters, digits, `.`, `_`, `-`; at most 64."""
    if not _NAME.match(name or "") or name in {".", ".."}:
        raise ConfigError(
            f"invalid adapter name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def validate_served_name(served: str) -> str:
    """A name an engine can serve: letters, digits and `. _ : / @ + -`, at most 128, no `=` or spaces."""
    if not _SERVED.match(served or ""):
        raise ConfigError(
            f"invalid served name {served!r}: use 1-128 letters, digits, '.', '_', ':', '/', '@', '+' or '-' "
            "(no spaces or '='), starting with a letter or digit"
        )
    return served


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class AdapterInfo:
    """One registered adapter. `path` is absolute; `kind` is "ft" (closed-book) or "raft" (retrieval-aware)."""

    name: str
    path: str
    kind: AdapterKind
    base_model: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=now_iso)
    lineage: dict[str, Any] = field(default_factory=lambda: {"documents": [], "dataset_sha256": ""})
    tainted: bool = False
    approved: bool = False
    tainted_by: list[str] = field(default_factory=list)  # doc ids whose erasure tainted it (for the operator)
    served_name: str = ""  # the model id a remote engine serves it under (`ragft adapters serve-name`); "" = name

    @property
    def served(self) -> str:
        """The `model` a request to a remote engine (vLLM, TGI) names to select this adapter."""
        return self.served_name or self.name

    @property
    def servable(self) -> bool:
        """False while its training data is erased and no operator approved it (see `get_servable`)."""
        return not (self.tainted and not self.approved)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AdapterInfo":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class AdapterRegistry:
    """Reads and writes `adapters/registry.json` of one workspace. Cheap to construct; reads on every call
    (the CLI, the server and a training process may share the workspace)."""

    def __init__(self, workspace_path: str | Path) -> None:
        self.root = Path(workspace_path) / ADAPTERS_DIR
        self.file = self.root / REGISTRY_FILE

    # ------------------------------------------------------------------ reading
    def _load(self) -> dict[str, AdapterInfo]:
        if not self.file.is_file():
            return {}
        try:
            raw = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{self.file}: unreadable adapter registry ({exc}); restore it from a backup") from exc
        return {name: AdapterInfo.from_dict(rec) for name, rec in raw.get("adapters", {}).items()}

    def list(self) -> list[AdapterInfo]:
        """All adapters, oldest first."""
        return sorted(self._load().values(), key=lambda a: (a.created, a.name))

    def names(self) -> list[str]:
        return sorted(self._load())

    def exists(self, name: str) -> bool:
        return name in self._load()

    def get(self, name: str) -> AdapterInfo:
        """The record of `name`, or NotFoundError listing the known adapters."""
        adapters = self._load()
        if name not in adapters:
            known = ", ".join(sorted(adapters)) or "none yet; train one with `ragft finetune --name NAME`"
            raise NotFoundError(f"unknown adapter {name!r}; known adapters: {known}")
        return adapters[name]

    def get_servable(self, name: str) -> AdapterInfo:
        """Like `get`, but refuses an adapter whose training data was erased (unless an operator approved it)."""
        info = self.get(name)
        if not info.servable:
            raise AccessDenied(
                f"adapter {name!r} was trained on erased documents ({', '.join(info.tainted_by) or 'see lineage'}); "
                f"retrain it with `ragft finetune --retrain {name}` or approve it with `ragft adapters approve {name}`"
            )
        return info

    def newest_servable(self, kind: str) -> AdapterInfo:
        """The newest adapter of `kind` that may be served, else ConfigError saying what to do: train one, or for
        adapters trained on erased documents (`ragft forget`), retrain or approve them by name.

        Why one place: `ask` and `compare` pick an adapter the same way, and a user whose only adapter was tainted
        by an erasure must not be told the workspace has none."""
        of_kind = [a for a in self.list() if a.kind == kind]
        usable = [a for a in of_kind if a.servable]
        if usable:
            return usable[-1]
        train = f"`ragft finetune --name NAME --from-docs{' --raft' if kind == 'raft' else ''}` (or --data FILE.jsonl)"
        if not of_kind:
            raise ConfigError(f"this workspace has no {kind} adapter; train one with {train}")
        names = ", ".join(a.name for a in of_kind)
        last = of_kind[-1].name
        raise ConfigError(
            f"this workspace's {kind} adapter{'s' if len(of_kind) > 1 else ''} ({names}) {'were' if len(of_kind) > 1 else 'was'} "
            f"trained on erased documents; retrain with `ragft finetune --retrain {last}`, approve with "
            f"`ragft adapters approve {last}`, or train a new one with {train}"
        )

    def servable(self) -> list[AdapterInfo]:
        """The adapters that may be served (not tainted, or approved), oldest first."""
        return [a for a in self.list() if a.servable]

    def name_of_path(self, path: str | Path) -> str:
        """The registered adapter stored at `path` (an adapter folder), or NotFoundError.

        Why: generators receive an adapter's folder; a remote generator maps it back to the record (served name,
        taint) through this."""
        target = Path(path).resolve()
        for info in self._load().values():
            if Path(info.path).resolve() == target:
                return info.name
        raise NotFoundError(f"{path} is not a registered adapter of {self.file}")

    def adapter_dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def _locked(self):  # type: ignore[no-untyped-def]
        """Serialise read-modify-write across processes (a lost update could drop a taint flag)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".registry.lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _save(self, adapters: dict[str, AdapterInfo]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        payload = {"version": 1, "adapters": {n: a.to_dict() for n, a in sorted(adapters.items())}}
        atomic_write(self.file, json.dumps(payload, indent=2, ensure_ascii=False))

    def register(self, info: AdapterInfo) -> AdapterInfo:
        """Insert or replace the record of `info.name` (a retrain replaces the old record)."""
        validate_name(info.name)
        with self._locked():
            adapters = self._load()
            old = adapters.get(info.name)
            if old is not None and not info.served_name:
                info.served_name = old.served_name  # a retrain keeps the operator's engine mapping
            adapters[info.name] = info
            self._save(adapters)
        return info

    def mark_tainted(self, doc_ids: list[str] | set[str] | tuple[str, ...]) -> list[str]:
        """Flag every adapter whose lineage includes any of `doc_ids`; returns their names (sorted).

        Approval is withdrawn: new erased data needs a new decision.
        """
        erased = set(doc_ids)
        if not erased:
            return []
        hit: list[str] = []
        with self._locked():
            adapters = self._load()
            for name, info in adapters.items():
                overlap = erased & set(info.lineage.get("documents", []))
                if overlap:
                    info.tainted = True
                    info.approved = False
                    info.tainted_by = sorted(set(info.tainted_by) | overlap)
                    hit.append(name)
            if hit:
                self._save(adapters)
        return sorted(hit)

    def approve(self, name: str) -> AdapterInfo:
        """Operator override: serve a tainted adapter anyway (recorded in the registry)."""
        with self._locked():
            adapters = self._load()
            info = self.get(name)
            info.approved = True
            adapters[name] = info
            self._save(adapters)
        return info

    def set_served_name(self, name: str, served: str) -> AdapterInfo:
        """Record the model id a remote engine serves `name` under ("" resets it to the adapter name).

        Two adapters may not share a served name: a request would select the wrong weights."""
        if served:
            validate_served_name(served)
        with self._locked():
            adapters = self._load()
            info = self.get(name)
            clash = [a.name for a in adapters.values() if a.name != name and a.served == (served or name)]
            if clash:
                raise ConfigError(f"served name {served or name!r} is already used by adapter {clash[0]!r}; pick another")
            info.served_name = "" if served == name else served
            adapters[name] = info
            self._save(adapters)
        return info

    def remove(self, name: str) -> None:
        with self._locked():
            adapters = self._load()
            self.get(name)
            del adapters[name]
            self._save(adapters)
