"""The composition root: a `Workspace` opens the store, models, sources and audit log of one folder.

Everything is built lazily (opening a workspace to list adapters must not load a model), and every
collaborator can be injected (tests pass a tiny generator or a fake embedder). CLI commands and server
routes each call one method here; nothing below imports the CLI or the server, and nothing below imports
this module either: the functions here hand each library function what it uses (a store, an embedder
factory, a settings section, the one `AdapterRegistry`, the one `AuditLog`), see docs/architecture.md.
Auditing happens here, in one layer: every method that reads or changes the knowledge base on behalf of a
caller appends its record (ids and counts, never text).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ragft.config import CONFIG_FILE, Settings, default_workspace, load_settings
from ragft.errors import ConfigError, NotFoundError
from ragft.types import DeleteReport, Hit, IngestReport, Progress

if TYPE_CHECKING:
    from ragft.advise import Advice, AdviceInputs
    from ragft.evaluate.beir import RetrievalEval
    from ragft.evaluate.compare import Comparison
    from ragft.finetune import TrainReport
    from ragft.finetune.pipeline import FinetuneParts
    from ragft.finetune.search import SearchReport
    from ragft.finetune.registry import AdapterInfo, AdapterRegistry
    from ragft.governance.audit import AuditLog
    from ragft.governance.users import UserRegistry
    from ragft.ingest import Ingestor, ReembedReport
    from ragft.models.base import Embedder, Generator
    from ragft.models.registry import ModelsReport
    from ragft.store.copy import CopyReport, MigrateReport
    from ragft.retrieval import Reranker, Retriever
    from ragft.store.base import Store
    from ragft.answer import AnswerContext, ResolvedAdapter
    from ragft.types import Answer, Document

_T = TypeVar("_T")
DB_FILE = "ragft.db"


class Workspace:
    """One knowledge base folder: `ragft.toml`, the store, adapters/, audit log.

    Args:
        path: the folder; created on first use. Default: `$RAGFT_WORKSPACE`, else `./ragft-workspace`.
        create: False for commands that only list: a missing folder is then not created and reads as empty.
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
        create: bool = True,
    ) -> None:
        self.path = Path(path) if path is not None else default_workspace()
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"workspace {self.path} exists and is not a folder; pass -w DIR with a folder path")
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
        if settings is None:
            # Opened only to list (create=False): a missing workspace reads as the defaults and nothing is written,
            # so `ragft models list` in some folder does not leave a ./ragft-workspace/ behind.
            fresh = not create and not (self.path / CONFIG_FILE).exists()
            settings = Settings() if fresh else load_settings(self.path)
        self.settings = settings
        self._create = create
        # Shows a slow model load (tens of seconds on a CPU) while it happens: `loading(label)` is a context manager
        # the CLI sets to a progress line; None = silent (library use, the server).
        self.loading: "Callable[[str], AbstractContextManager[object]] | None" = None
        self._store = store
        self._embedder = embedder
        self._generator = generator
        self._reranker: "Reranker | None" = None
        self._audit: "AuditLog | None" = None
        self._users: "UserRegistry | None" = None
        self._registry: "AdapterRegistry | None" = None
        self._queries: "Embedder | None" = None  # the retriever's QueryCache around `embedder`: a repeated query embeds once
        # One lock per collaborator, taken only while it is missing: a slow first build (a reranker's weights, a
        # PostgreSQL connect) does not hold up the first use of another one.
        self._build_locks = {attr: threading.Lock() for attr in (
            "_store", "_embedder", "_generator", "_reranker", "_audit", "_users", "_registry", "_queries")}

    # ----------------------------------------------------------------- collaborators (lazy)
    def _lazy(self, attr: str, build: Callable[[], _T]) -> _T:
        """The collaborator held in `attr`, built by `build` on first use, once: without the lock, two threads'
        first uses (library callers sharing a Workspace) would each open a store connection or load a model,
        and one of them would leak."""
        value: Any = getattr(self, attr)
        if value is None:
            with self._build_locks[attr]:
                value = getattr(self, attr)
                if value is None:
                    value = build()
                    setattr(self, attr, value)
        return value

    @property
    def store(self) -> "Store":
        def build() -> "Store":
            from ragft.store import open_store

            return open_store(self.path, self.settings.store)

        return self._lazy("_store", build)

    @property
    def embedder(self) -> "Embedder":
        def build() -> "Embedder":
            from ragft.models.embedder import load_embedder

            with self._loading(f"loading embedder {self.settings.embedder.model}"):
                return load_embedder(self.settings.embedder)

        return self._lazy("_embedder", build)

    @property
    def generator(self) -> "Generator":
        def build() -> "Generator":
            from ragft.models.registry import load_generator

            with self._loading(f"loading generator {self.settings.generator.model}"):
                return load_generator(self.settings.generator)

        return self._lazy("_generator", build)

    def _loading(self, label: str) -> "AbstractContextManager[object]":
        return self.loading(label) if self.loading is not None else nullcontext()

    @property
    def reranker(self) -> "Reranker":
        """The configured reranker (`retrieval.reranker`), built on first use; ConfigError if none is set."""
        def build() -> "Reranker":
            from ragft.retrieval import load_reranker

            return load_reranker(self.settings.retrieval)

        return self._lazy("_reranker", build)

    @property
    def audit(self) -> "AuditLog":
        """The hash-chained audit log (`audit.jsonl` + `audit.head`); one instance, touches no file until used."""
        from ragft.governance.audit import AuditLog

        return self._lazy("_audit", lambda: AuditLog(self.path))

    @property
    def users(self) -> "UserRegistry":
        """Users, groups and hashed API keys (`users.json`); its changes go to this workspace's audit log."""
        from ragft.governance.users import UserRegistry

        return self._lazy("_users", lambda: UserRegistry(self.path, audit=self.audit))

    @property
    def registry(self) -> "AdapterRegistry":
        """The adapter registry (`adapters/registry.json`); one instance, it reads the file on every call."""
        from ragft.finetune.registry import AdapterRegistry

        return self._lazy("_registry", lambda: AdapterRegistry(self.path))

    @property
    def retriever(self) -> "Retriever":
        """Retrieval over this workspace's store, `[retrieval]` settings, embedder and reranker (built lazily)."""
        from ragft.models.query_cache import QueryCache
        from ragft.retrieval import Retriever

        return Retriever(self.store, self.settings.retrieval, reranker=lambda: self.reranker,
                         embedder=lambda: self._lazy("_queries", lambda: QueryCache(self.embedder)))

    @property
    def ingestor(self) -> "Ingestor":
        """Ingest/delete/re-embed over this workspace's store, embedder and `[chunking]`/`[pii]` settings."""
        from ragft.ingest import Ingestor

        return Ingestor(self.store, lambda: self.embedder, self.settings.chunking, self.settings.pii,
                        batch_size=self.settings.embedder.batch_size)

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
        progress: Progress | None = None,
        principal: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> IngestReport:
        """Ingest files/folders (recursive). Unchanged content is a no-op; changed content replaces old chunks.
        `principal` is who asked (the server's authenticated user), recorded in the audit log. `metadata` is the
        user's own key/value tags (reserved keys such as `groups` are refused: access comes from `groups` only)."""
        groups = tuple(groups)

        def committed(docs: list["Document"]) -> None:  # per store commit: a run killed later still left its trace
            self.audit.append("ingest_commit", principal=principal, doc_ids=[d.doc_id for d in docs],
                              groups=sorted(groups), subject=subject)

        report = self.ingestor.ingest([Path(p) for p in paths], groups=groups, subject=subject, progress=progress,
                                      metadata=metadata, on_commit=committed)
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
        """Top-k chunks for `query`; with `user`/`groups` only chunks those groups may see. Audited (who, mode,
        which chunks) like `ask`, whether the CLI or the server asked."""
        hits = self.retriever.search(query, k=k, mode=mode, groups=self.resolve_groups(user, groups))
        self.audit.append("search", principal=user, mode=mode or self.settings.retrieval.mode,
                          chunk_ids=[h.chunk_id for h in hits])
        return hits

    def documents(self, user: str | None = None, groups: Iterable[str] | None = None) -> list["Document"]:
        """The ingested documents (id, source, groups, subject, metadata), sorted by source; with `user`/`groups`
        only those the caller may see: public ones (no groups) and those sharing a group, as retrieval filters."""
        allowed = self.resolve_groups(user, groups)
        if self._store is None and not self._create and not (self.path / CONFIG_FILE).exists():
            return []  # opened to list (create=False) and never created: nothing ingested yet, and nothing written
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
        own = set(self.users.groups_of(user))
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

        return evaluate_beir(self.retriever, Path(beir_dir), mode=mode, rerank=rerank, k=k, limit=limit, progress=progress,
                             embed_batch_size=self.settings.embedder.batch_size)

    def delete(self, doc_id: str, principal: str | None = None) -> DeleteReport:
        """Remove one document with its chunks, full-text rows and vectors (`principal`: who, for the audit log)."""
        # Deleting is erasure too: same path as `forget` (taint adapters, scrub derived files, compact, audit).
        return self._erase(None, [doc_id], principal)

    def forget(self, subject: str, principal: str | None = None) -> DeleteReport:
        """Erase a data subject everywhere (GDPR Art. 17): documents, chunks, FTS rows, vectors, derived
        training files; taint adapters trained on them; compact the store; audit it (ragft/governance/erasure.py)."""
        return self._erase(subject, [], principal)

    def _erase(self, subject: str | None, doc_ids: Sequence[str], principal: str | None) -> DeleteReport:
        from ragft.governance.erasure import forget

        done = forget(self.store, self.registry, self.path, subject=subject, doc_ids=doc_ids)
        report = done.report
        self.audit.append(
            "forget" if subject else "delete", principal=principal, subject=subject, doc_ids=done.doc_ids,
            documents=report.documents, chunks=report.chunks, tainted_adapters=report.tainted_adapters,
            rows_dropped=done.scrub.rows_dropped, files_changed=done.scrub.files_changed,
        )
        return report

    def reembed(self, progress: Progress | None = None) -> "ReembedReport":
        """Re-embed every chunk with the configured embedder (after changing `embedder.model`)."""
        return self.ingestor.reembed(progress=progress)

    # ----------------------------------------------------------------- answering (ragft/answer.py)
    def ask(self, question: str, strategy: str = "rag", adapter: str | None = None, user: str | None = None,
            groups: Iterable[str] | None = None, k: int | None = None, on_token: Callable[[str], None] | None = None,
            max_tokens: int | None = None, quarantine: bool | None = None) -> "Answer":
        """Answer with one of `config.STRATEGIES` (base, rag, ft, hybrid); `on_token` receives the answer as it streams;
        `max_tokens` overrides `generator.max_new_tokens` for this call (the server caps it); `quarantine` keeps
        chunks flagged at ingest out of the prompt unless approved (default `[answer] quarantine_flagged`; the server
        passes `[server] quarantine_flagged`)."""
        from ragft.answer import answer_question, check_strategy, resolve_adapter

        check_strategy(strategy)
        resolved = resolve_adapter(self.registry, strategy, adapter)
        ctx = self._ask_context(user, groups, max_tokens, quarantine)
        # With an answer PII policy, tokens must not stream out before the whole answer is masked.
        stream = on_token if self.settings.pii.answer_policy == "allow" else None
        result = answer_question(ctx, question, strategy=strategy, adapter=resolved, k=k, on_token=stream)
        return self._answered(result, strategy, resolved, user, None if stream is not None else on_token)

    def ask_many(self, questions: Sequence[str], strategy: str = "rag", adapter: str | None = None,
                 user: str | None = None, groups: Iterable[str] | None = None, k: int | None = None,
                 max_tokens: int | None = None, quarantine: bool | None = None, batch_size: int = 8,
                 on_answer: Callable[[int, "Answer"], None] | None = None) -> list["Answer"]:
        """`ask` for many questions (same order): every decision as `ask` takes it, the generations `batch_size` at
        a time (ragft/answer_batch.py `answer_many`); `on_answer(i, answer)` as each is ready (its latency completed
        when all are). Used by `compare --batch-size`."""
        from ragft.answer import check_strategy, resolve_adapter
        from ragft.answer_batch import answer_many

        check_strategy(strategy)
        resolved = resolve_adapter(self.registry, strategy, adapter)
        ctx = self._ask_context(user, groups, max_tokens, quarantine)

        def answered(i: int, result: "Answer") -> None:  # the policy applied in place, as each answer is ready
            self._answered(result, strategy, resolved, user, None)
            if on_answer is not None:
                on_answer(i, result)

        return answer_many(ctx, questions, strategy=strategy, adapter=resolved, k=k, batch_size=batch_size,
                           on_answer=answered)

    def _ask_context(self, user: str | None, groups: Iterable[str] | None, max_tokens: int | None,
                     quarantine: bool | None) -> "AnswerContext":
        ctx = self.answer_context(self.resolve_groups(user, groups))
        if max_tokens is not None:
            ctx.max_new_tokens = max_tokens
        if self.settings.answer.quarantine_flagged if quarantine is None else quarantine:
            from ragft.governance.quarantine import Quarantine

            retrieve, gate = ctx.retrieve, Quarantine(self.path)
            ctx.retrieve = lambda q, k: gate.filter(retrieve(q, k), self.store.get_document)
        return ctx

    def _answered(self, result: "Answer", strategy: str, resolved: "ResolvedAdapter | None", user: str | None,
                  on_token: Callable[[str], None] | None) -> "Answer":
        """The answer PII policy applied (then the whole answer to `on_token`, if given) and the question audited."""
        answer_policy = self.settings.pii.answer_policy
        if answer_policy != "allow":
            from ragft.governance.pii import PiiScanner, mask_answer

            result.answer = mask_answer(result.answer, answer_policy, scanner=PiiScanner.from_settings(self.settings.pii))
            if on_token is not None:
                on_token(result.answer)
        # Who asked what kind of question and which chunks were used: ids only, never the text.
        self.audit.append(
            "question", principal=user, strategy=strategy, adapter=resolved.name if resolved is not None else None,
            chunk_ids=list(result.retrieved) or [c.chunk_id for c in result.citations], abstained=result.abstained,
        )
        return result

    def answer_context(self, groups: set[str] | None) -> "AnswerContext":
        """What answering needs, narrowed to a caller's `groups` (None = everything): retrieval over this store,
        the live sources that caller may query (hidden ones are never opened), the generator and the settings."""
        from ragft.answer import context_from_settings
        from ragft.retrieval import chunk_subjects
        from ragft.sources import SourceRegistry, query_sources

        def live_rows(question: str) -> list[Hit]:
            sources = SourceRegistry(self.path).open_all(groups)
            try:
                return query_sources(sources, question)
            finally:
                for s in sources:
                    s.close()

        return context_from_settings(self.settings.answer, self.settings.generator, self.generator,
                                     lambda q, k: self.retriever.search(q, k=k, groups=groups), live_rows,
                                     lambda ids: chunk_subjects(self.store, ids))

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
        synth_progress: Callable[[int, int], None] | None = None,
    ) -> "TrainReport":
        """Train a LoRA adapter (`raft=True`: retrieval-aware) on `data` or on QA synthesised from the documents.

        `overrides` replace `[train]` settings (lora_r, lora_alpha, lora_dropout, target_modules, learning_rate,
        batch_size, grad_accum, max_length, seed, save_steps); `exclude_qa` names a QA file whose questions never
        enter training; `retrain` rebuilds the data of adapter `name` from the current store (after erasure);
        `progress(step, total, loss, tokens_per_s)` is called after every optimiser step, `synth_progress(done,
        total)` after every QA synthesis attempt (`from_docs`: minutes on a CPU before training starts).
        """
        from ragft.finetune.pipeline import run_finetune

        report = run_finetune(
            self.finetune_parts(), name, data=str(data) if data is not None else None, from_docs=from_docs, raft=raft, epochs=epochs,
            resume=resume, retrain=retrain, progress=progress,
            exclude_qa=str(exclude_qa) if exclude_qa is not None else None, overrides=overrides,
            synth_progress=synth_progress,
        )
        from ragft.finetune.train import ProcessGroup

        if ProcessGroup.from_env().is_main:  # under `accelerate launch` every process returns here: audit once
            self.audit.append("finetune", adapter=report.adapter, kind=report.kind, steps=report.steps,
                              doc_ids=report.lineage.get("documents", []), dataset_sha256=report.lineage.get("dataset_sha256"))
        return report

    def finetune_search(self, name: str, **kwargs) -> "SearchReport":  # type: ignore[no-untyped-def]
        """Search hyperparameters (Optuna TPE, median pruning on validation loss) and register the best trial's
        adapter as `name`, the trial table in its lineage. kwargs: those of `ragft.finetune.search.run_search`
        (`objective="f1", qa=FILE` scores each trial's answers through this workspace, as `compare` does)."""
        from ragft.finetune.search import run_search

        result = run_search(self.finetune_parts(), name, evaluator=self, **kwargs)
        r = result.report
        self.audit.append("finetune", adapter=r.adapter, kind=r.kind, steps=r.steps, search_trials=len(result.trials),
                          doc_ids=r.lineage.get("documents", []), dataset_sha256=r.lineage.get("dataset_sha256"))
        return result

    def finetune_resumable(self, name: str) -> bool:
        """True when an interrupted run of adapter `name` left its run state (dataset, settings, any checkpoint)
        behind, i.e. `finetune(name, resume=True)` can continue it; False when it stopped before that (during QA
        synthesis) and must start again."""
        from ragft.finetune.pipeline import RUNS_DIR

        return (self.registry.root / RUNS_DIR / name / "run.json").is_file()

    def finetune_parts(self) -> "FinetuneParts":
        """What fine-tuning uses: the store, the one registry, `[train]`/`[generator]`, the generator factory."""
        from ragft.finetune.pipeline import EVAL_HELDOUT, FinetuneParts

        return FinetuneParts(store=self.store, registry=self.registry, train=self.settings.train,
                             generator_settings=self.settings.generator,
                             prompt_format=self.settings.answer.prompt_format, generator=lambda: self.generator,
                             eval_heldout=self.path / EVAL_HELDOUT)

    def models(self) -> "ModelsReport":
        """Bundled generators/embedders (installed? cached?) and the configured ones; loads no weights."""
        from ragft.models.registry import list_models

        return list_models(self.settings.generator, self.settings.embedder)

    def adapters(self) -> "list[AdapterInfo]":
        """Registered adapters, oldest first (no model is loaded)."""
        return self.registry.list()

    def approve_adapter(self, name: str) -> "AdapterInfo":
        """Operator override: allow serving a tainted adapter (recorded in the registry and the audit log)."""
        info = self.registry.approve(name)
        self.audit.append("adapter_approved", adapter=name, tainted_by=info.tainted_by)
        return info

    # ----------------------------------------------------------------- live sources (ragft/sources/)
    def add_sql_source(self, name: str, url: str, tables: Sequence[str] = (), password_env: str = "",
                       groups: Sequence[str] = ()) -> dict:
        """Register a live SQL source (checked: connects read-only, tables exist). Returns it with its columns.
        `groups`: who may see its rows at answer time, like a document's groups (none = public)."""
        from ragft.sources import SourceRegistry
        from ragft.sources.sql import absolute_sqlite_url

        return SourceRegistry(self.path).add_sql(name, absolute_sqlite_url(url), list(tables),
                                                 password_env=password_env, groups=list(groups))

    # ----------------------------------------------------------------- quarantine (ragft/governance/quarantine.py)
    def quarantined(self) -> list[dict]:
        """Documents with chunks flagged as instruction-like at ingest, and whether they were approved."""
        from ragft.governance.quarantine import Quarantine

        approved = Quarantine(self.path).approved()
        return [{"doc_id": d.doc_id, "source": d.source, "flagged_chunks": list(d.metadata["flagged_chunks"]),
                 "approved": d.doc_id in approved}
                for d in self.store.list_documents() if d.metadata.get("flagged_chunks")]

    def approve_document(self, doc_id: str, principal: str | None = None) -> dict:
        """Let the flagged chunks of `doc_id` into prompts (operator decision, audited)."""
        from ragft.governance.quarantine import Quarantine

        doc = self.store.get_document(doc_id)
        if doc is None:
            raise NotFoundError(f"no document {doc_id!r}; see `ragft quarantine list` or `ragft documents`")
        Quarantine(self.path).approve(doc_id)
        self.audit.append("document_approved", principal=principal, doc_id=doc_id,
                          flagged_chunks=list(doc.metadata.get("flagged_chunks", [])))
        return {"doc_id": doc_id, "source": doc.source, "flagged_chunks": list(doc.metadata.get("flagged_chunks", [])),
                "approved": True}

    def list_sources(self) -> list[dict]:
        from ragft.sources import SourceRegistry

        return SourceRegistry(self.path).list()

    def remove_source(self, name: str) -> dict:
        from ragft.sources import SourceRegistry

        return SourceRegistry(self.path).remove(name)

    # ----------------------------------------------------------------- store administration (ragft/store/copy.py)
    def store_copy(self, to_dsn: str, batch_docs: int = 64, progress: Progress | None = None) -> "CopyReport":
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
                          progress=progress)

    def store_migrate(self) -> "MigrateReport":
        """Apply pending schema migrations of the configured store backend (also done on every open)."""
        from ragft.store.copy import migrate_store

        return migrate_store(self.path, self.settings.store)

    # ----------------------------------------------------------------- evaluation (ragft/evaluate/compare.py)
    def compare(
        self,
        qa: str | Path | None = None,
        strategies: Sequence[str] | None = None,
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
        batch_size: int | None = None,
    ) -> "Comparison":
        """Run the strategies on the same held-out questions; with `report`, write results.json + index.html.

        `adapter` is the ft adapter, `hybrid_adapter` the RAFT adapter (default: newest of each kind);
        without `qa` the held-out set is synthesised from the documents (see ragft/evaluate/qa.py);
        `repeats` asks each question that many times with different seeds when the generator samples;
        `batch_size` questions share one batched generation (default `runner.DEFAULT_BATCH_SIZE`; 1 = one by one).
        """
        from ragft.evaluate.compare import freshness_probe, run_compare
        from ragft.evaluate.runner import DEFAULT_BATCH_SIZE

        result = run_compare(
            self, qa=qa, strategies=self.settings.compare.strategies if strategies is None else strategies,
            adapter=adapter, hybrid_adapter=hybrid_adapter,
            train_missing=train_missing, limit=limit, seed=seed, k=k, progress=progress, repeats=repeats,
            batch_size=DEFAULT_BATCH_SIZE if batch_size is None else batch_size,
        )
        result.named = strategies is not None
        if freshness:
            result.freshness = freshness_probe(self, result, k=k, seed=seed)
        if report is not None:
            from ragft.evaluate.report import publish_report
            from ragft.sources import SourceRegistry

            publish_report(result, report, self.path, {d.doc_id: d.groups for d in self.store.list_documents()},
                           {c.name: c.groups for c in SourceRegistry(self.path).configs()})
        return result

    # ----------------------------------------------------------------- advice (ragft/advise.py, ragft/costs.py)
    def advise(self, inputs: "AdviceInputs | None" = None, from_report: str | Path | None = None) -> "Advice":
        """Recommend base/rag/ft/hybrid for `inputs` (docs: this workspace's count unless given), priced with its
        settings; `from_report` (a `compare --report` folder) and its adapters' training tokens/s replace assumptions."""
        from ragft.advise import AdviceInputs, advise, counted_docs, load_report, measured_training

        report = load_report(from_report) if from_report is not None else None
        inputs, source = counted_docs(inputs or AdviceInputs(), lambda: len(self.documents()))
        advice = advise(inputs, self.settings, report, measured_training(self.adapters()))
        advice.assumptions["docs_source"] = source
        return advice

