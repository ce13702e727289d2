"""The composition root: a `Workspace` opens the store, models, sources and audit log of one folder.

Everything is built lazily (opening a workspace to list adapters must not load a model), and every
collaborator can be injected (tests pass a tiny generator or a fake embedder). CLI commands and server
routes each call one method here; nothing below imports the CLI or the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragft.config import Settings, default_workspace, load_settings
from ragft.errors import ConfigError
from ragft.types import DeleteReport, Hit, IngestReport

if TYPE_CHECKING:
    from ragft.ingest import ReembedReport
    from ragft.evaluate.beir import RetrievalEval
    from ragft.governance.audit import AuditLog
    from ragft.governance.users import UserRegistry
    from ragft.evaluate.compare import Comparison
    from ragft.advise import Advice, AdviceInputs
    from ragft.models.base import Embedder, Generator
    from ragft.retrieval import Reranker
    from ragft.store.base import Store
    from ragft.types import Answer, Document
    from ragft.finetune import TrainReport
    from ragft.finetune.registry import AdapterInfo

DB_FILE = "ragft.db"
LAST_REPORT_FILE = "last_report"  # folder of the latest `compare --report`, read by the server


class Workspace:
    """One knowledge base folder: `ragft.toml`, the store, adapters/, audit log.

    Args:
        path: the folder; created on first use. Default: `$RAGFT_WORKSPACE`, else `./ragft-workspace`.
        settings: override the settings read from `ragft.toml`.
        store, embedder, generator: inject collaborators instead of building them from the settings.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        settings: Settings | None = None,
        *,
        store: "Store | None" = None,
        embedder: "Embedder | None" = None,
        generator: "Generator | None" = None,
    ) -> None:
        self.path = Path(path) if path is not None else default_workspace()
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"workspace {self.path} exists and is not a folder; pass -w DIR with a folder path")
        self.path.mkdir(parents=True, exist_ok=True)
        self.settings = settings if settings is not None else load_settings(self.path)
        self._store = store
        self._embedder = embedder
        self._generator = generator

    # ----------------------------------------------------------------- collaborators (lazy)
    @property
    def store(self) -> "Store":
        if self._store is None:
            from ragft.store import open_store

            self._store = open_store(self.path, self.settings.store)
        return self._store

    @property
    def embedder(self) -> "Embedder":
        if self._embedder is None:
            from ragft.models.embedder import load_embedder

            self._embedder = load_embedder(self.settings.embedder)
        return self._embedder

    @property
    def generator(self) -> "Generator":
        if self._generator is None:
            from ragft.models.registry import load_generator

            self._generator = load_generator(self.settings.generator)
        return self._generator

    @property
    def reranker(self) -> "Reranker":
        """The configured reranker (`retrieval.reranker`), built on first use; ConfigError if none is set."""
        if getattr(self, "_reranker", None) is None:
            from ragft.retrieval import load_reranker

            self._reranker = load_reranker(self.settings.retrieval)
        return self._reranker

    @property
    def audit(self) -> "AuditLog":
        """The hash-chained audit log (`audit.jsonl` + `audit.head`); cheap, touches no file until used."""
        from ragft.governance.audit import AuditLog

        return AuditLog(self.path)

    @property
    def users(self) -> "UserRegistry":
        """Users, groups and hashed API keys (`users.json`)."""
        from ragft.governance.users import UserRegistry

        return UserRegistry(self.path)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- knowledge base
    def ingest(
        self,
        paths: Sequence[str | Path],
        groups: Iterable[str] = (),
        subject: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        principal: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> IngestReport:
        """Ingest files/folders (recursive). Unchanged content is a no-op; changed content replaces old chunks.
        `principal` is who asked (the server's authenticated user), recorded in the audit log. `metadata` is the
        user's own key/value tags (reserved keys such as `groups` are refused: access comes from `groups` only)."""
        from ragft.ingest import ingest_paths

        groups = tuple(groups)
        report = ingest_paths(self, [Path(p) for p in paths], groups=groups, subject=subject, progress=progress,
                              metadata=metadata)
        self.audit.append(
            "ingest", principal=principal, groups=sorted(groups), subject=subject, added=report.added, updated=report.updated,
            unchanged=report.unchanged, failed=len(report.failed), chunks=report.chunks, pii=report.pii,
            flagged=len(report.flagged),
        )
        return report

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        user: str | None = None,
        groups: Iterable[str] | None = None,
    ) -> list[Hit]:
        """Top-k chunks for `query`; with `user`/`groups` only chunks those groups may see."""
        from ragft.retrieval import retrieve

        return retrieve(self, query, k=k, mode=mode, groups=self.resolve_groups(user, groups))

    def documents(self, user: str | None = None, groups: Iterable[str] | None = None) -> list["Document"]:
        """The ingested documents (id, source, groups, subject, metadata), sorted by source; with `user`/`groups`
        only those the caller may see: public ones (no groups) and those sharing a group, as retrieval filters."""
        allowed = self.resolve_groups(user, groups)
        docs = self.store.list_documents()
        if allowed is not None:
            docs = [d for d in docs if not d.groups or allowed & set(d.groups)]
        return sorted(docs, key=lambda d: (d.source, d.doc_id))

    def resolve_groups(self, user: str | None, groups: Iterable[str] | None) -> set[str] | None:
        """The caller's groups: None (no filter) when neither a user nor groups are given.

        A user name resolves through the governance user table; an unknown user fails closed. When both a
        user and groups are given, the groups can only narrow the user's access (intersection), never widen it.
        """
        requested = {g for g in groups if g} if groups is not None else None
        if user is None:
            return requested
        from ragft.governance.users import UserRegistry

        own = set(UserRegistry(self.path).groups_of(user))
        return own if requested is None else own & requested

    def eval_retrieval(
        self,
        beir_dir: str | Path,
        mode: str | None = None,
        rerank: bool = False,
        k: int = 10,
        limit: int | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> "RetrievalEval":
        """Ingest a BEIR corpus into this workspace and score its test queries (nDCG@10, Recall@100, MRR@10)."""
        from ragft.evaluate.beir import evaluate_beir

        return evaluate_beir(self, Path(beir_dir), mode=mode, rerank=rerank, k=k, limit=limit, progress=progress)

    def delete(self, doc_id: str, principal: str | None = None) -> DeleteReport:
        """Remove one document with its chunks, full-text rows and vectors (`principal`: who, for the audit log)."""
        from ragft.governance.erasure import forget

        # Deleting is erasure too: same path as `forget` (taint adapters, scrub derived files, compact, audit).
        return forget(self, doc_ids=[doc_id], principal=principal)

    def forget(self, subject: str, principal: str | None = None) -> DeleteReport:
        """Erase a data subject everywhere (GDPR Art. 17): documents, chunks, FTS rows, vectors, derived
        training files; taint adapters trained on them; compact the store; audit it (ragft/governance/erasure.py)."""
        from ragft.governance.erasure import forget

        return forget(self, subject=subject, principal=principal)

    def reembed(self, progress: Callable[[int, int], None] | None = None) -> "ReembedReport":
        """Re-embed every chunk with the configured embedder (after changing `embedder.model`)."""
        from ragft.ingest import reembed

        return reembed(self, progress=progress)

    # ----------------------------------------------------------------- answering (ragft/answer.py)
    def ask(
        self,
        question: str,
        strategy: str = "rag",
        adapter: str | None = None,
        user: str | None = None,
        groups: Iterable[str] | None = None,
        k: int | None = None,
        on_token: Callable[[str], None] | None = None,
        max_tokens: int | None = None,
    ) -> "Answer":
        """Answer with base | rag | ft | hybrid; `on_token` receives the answer as it streams;
        `max_tokens` overrides `generator.max_new_tokens` for this call (the server caps it)."""
        from ragft.answer import answer_question, check_strategy, context_from_workspace, resolve_adapter

        check_strategy(strategy)
        resolved = resolve_adapter(self, strategy, adapter)
        ctx = context_from_workspace(self, self.resolve_groups(user, groups))
        if max_tokens is not None:
            ctx.max_new_tokens = max_tokens
        answer_policy = self.settings.pii.answer_policy
        # With an answer PII policy, tokens must not stream out before the whole answer is masked.
        stream = on_token if answer_policy == "allow" else None
        result = answer_question(ctx, question, strategy=strategy, adapter=resolved, k=k, on_token=stream)
        if answer_policy != "allow":
            from ragft.governance.pii import PiiScanner

            result.answer, _ = PiiScanner.from_settings(self.settings.pii).apply(result.answer, answer_policy)
            if on_token is not None:
                on_token(result.answer)
        # Who asked what kind of question and which chunks were used: ids only, never the text.
        self.audit.append(
            "question", principal=user, strategy=strategy, adapter=resolved.name if resolved is not None else None,
            chunk_ids=list(result.retrieved) or [c.chunk_id for c in result.citations], abstained=result.abstained,
        )
        return result

    # ----------------------------------------------------------------- fine-tuning (ragft/finetune/)
    def finetune(
        self,
        name: str,
        data: str | Path | None = None,
        from_docs: bool = False,
        raft: bool = False,
        epochs: float | None = None,
        resume: bool = False,
        retrain: bool = False,
        progress: Callable[[int, int, float | None, float], None] | None = None,
        *,
        exclude_qa: str | Path | None = None,
        overrides: dict | None = None,
    ) -> "TrainReport":
        """Train a LoRA adapter (`raft=True`: retrieval-aware) on `data` or on QA synthesised from the documents.

        `overrides` replace `[train]` settings (lora_r, lora_alpha, lora_dropout, target_modules, learning_rate,
        batch_size, grad_accum, max_length, seed, save_steps); `exclude_qa` names a QA file whose questions never
        enter training; `retrain` rebuilds the data of adapter `name` from the current store (after erasure);
        `progress(step, total, loss, tokens_per_s)` is called after every optimiser step.
        """
        from ragft.finetune.pipeline import run_finetune

        report = run_finetune(
            self, name, data=str(data) if data is not None else None, from_docs=from_docs, raft=raft, epochs=epochs,
            resume=resume, retrain=retrain, progress=progress,
            exclude_qa=str(exclude_qa) if exclude_qa is not None else None, overrides=overrides,
        )
        from ragft.finetune.train import ProcessGroup

        if ProcessGroup.from_env().is_main:  # under `accelerate launch` every process returns here: audit once
            self.audit.append("finetune", adapter=report.adapter, kind=report.kind, steps=report.steps,
                              doc_ids=report.lineage.get("documents", []), dataset_sha256=report.lineage.get("dataset_sha256"))
        return report

    def models(self) -> dict:
        """Bundled generators/embedders (installed? cached?) and the configured ones; loads no weights."""
        from ragft.models.registry import list_models

        return list_models(self.settings.generator, self.settings.embedder)

    def adapters(self) -> "list[AdapterInfo]":
        """Registered adapters, oldest first (no model is loaded)."""
        from ragft.finetune.registry import AdapterRegistry

        return AdapterRegistry(self.path).list()

    def approve_adapter(self, name: str) -> "AdapterInfo":
        """Operator override: allow serving a tainted adapter (recorded in the registry and the audit log)."""
        from ragft.finetune.registry import AdapterRegistry

        info = AdapterRegistry(self.path).approve(name)
        self.audit.append("adapter_approved", adapter=name, tainted_by=info.tainted_by)
        return info

    # ----------------------------------------------------------------- live sources (ragft/sources/)
    def add_sql_source(self, name: str, url: str, tables: Sequence[str] = (), password_env: str = "") -> dict:
        """Register a live SQL source (checked: connects read-only, tables exist). Returns it with its columns."""
        from ragft.sources import SourceRegistry

        return SourceRegistry(self.path).add_sql(name, url, list(tables), password_env=password_env)

    def list_sources(self) -> list[dict]:
        from ragft.sources import SourceRegistry

        return SourceRegistry(self.path).list()

    def remove_source(self, name: str) -> dict:
        from ragft.sources import SourceRegistry

        return SourceRegistry(self.path).remove(name)

    # ----------------------------------------------------------------- store administration (ragft/store/copy.py)
    def store_copy(self, to_dsn: str, batch_docs: int = 64, progress: Callable[[int, int], None] | None = None) -> dict:
        """Copy this workspace's SQLite store into the PostgreSQL database `to_dsn` (idempotent, one transaction
        per document); the result holds the `[store]` section that switches ragft.toml over."""
        from ragft.store import DB_FILE
        from ragft.store.copy import copy_store
        from ragft.store.postgres import resolve_password

        if self.settings.store.backend != "sqlite":
            raise ConfigError("store copy reads the embedded SQLite store, but this workspace already uses "
                              f"backend {self.settings.store.backend!r}; run it on the SQLite workspace")
        password = resolve_password(self.settings.store) if self.settings.store.password_env else None
        return copy_store(self.store, self.path / DB_FILE, to_dsn, password=password, batch_docs=batch_docs,
                          progress=progress).to_dict()

    def store_migrate(self) -> dict:
        """Apply pending schema migrations of the configured store backend (also done on every open)."""
        from ragft.store.copy import migrate_store

        return migrate_store(self.path, self.settings.store)

    # ----------------------------------------------------------------- evaluation (ragft/evaluate/compare.py)
    def compare(
        self,
        qa: str | Path | None = None,
        strategies: Sequence[str] = ("base", "rag", "ft", "hybrid"),
        adapter: str | None = None,
        report: str | Path | None = None,
        train_missing: bool = False,
        limit: int | None = None,
        seed: int = 0,
        progress: Callable[[str, int, int], None] | None = None,
        *,
        hybrid_adapter: str | None = None,
        k: int | None = None,
        freshness: bool = False,
        repeats: int = 1,
    ) -> "Comparison":
        """Run the strategies on the same held-out questions; with `report`, write results.json + index.html.

        `adapter` is the ft adapter, `hybrid_adapter` the RAFT adapter (default: newest of each kind);
        without `qa` the held-out set is synthesised from the documents (see ragft/evaluate/qa.py);
        `repeats` asks each question that many times with different seeds when the generator samples.
        """
        from ragft.evaluate.compare import freshness_probe, run_compare

        result = run_compare(
            self, qa=qa, strategies=strategies, adapter=adapter, hybrid_adapter=hybrid_adapter,
            train_missing=train_missing, limit=limit, seed=seed, k=k, progress=progress, repeats=repeats,
        )
        if freshness:
            result.freshness = freshness_probe(self, result, k=k, seed=seed)
        if report is not None:
            from ragft.evaluate.report import write_report

            result.meta["report"] = str(Path(report) / "index.html")
            write_report(result, report)
            # The server's /v1/report and the web UI serve the latest report: remember where it is.
            (self.path / LAST_REPORT_FILE).write_text(str(Path(report).resolve()), encoding="utf-8")
        return result

    # ----------------------------------------------------------------- advice (ragft/advise.py, ragft/costs.py)
    def advise(self, inputs: "AdviceInputs | None" = None, from_report: str | Path | None = None) -> "Advice":
        """Recommend base/rag/ft/hybrid for `inputs`, priced with this workspace's settings ([prices], chunking,
        k, epochs); `from_report` (a `compare --report` folder) replaces assumptions with measurements, and
        training tokens/s recorded by this workspace's adapters replaces the assumed CPU training rate."""
        from ragft.advise import AdviceInputs, advise, load_report, measured_training

        report = load_report(from_report) if from_report is not None else None
        return advise(inputs or AdviceInputs(), self.settings, report, measured_training(self.adapters()))
