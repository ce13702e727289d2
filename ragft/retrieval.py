"""Hybrid retrieval: BM25 and dense candidates from the store, fused, optionally reranked.

`Retriever.search(query)` is what `ragft search`, `ask` and the server call (the Workspace builds one `Retriever`
from its store, embedder and `[retrieval]` settings). Settings come from
`[retrieval]` in ragft.toml (mode, k, candidates, fusion, rrf_k, bm25_weight, dense_weight, rerank,
reranker). Access control is the store's job and happens inside each store query, before its top-k
(store/base.py); fusion and reranking only ever see chunks the caller may read.

Fusion (pure functions, tested on hand cases):
- `rrf_fuse`: weighted reciprocal-rank fusion, score(d) = sum_i w_i / (rrf_k + rank_i(d)), ranks from 1
  (Cormack, Clarke & Buettcher, SIGIR 2009).
- `convex_fuse`: min-max normalise each list's scores to [0, 1] (absent = 0), then a weighted sum
  (Bruch, Gai & Ingber, "An Analysis of Fusion Functions for Hybrid Retrieval", TOIS 2023).

Reranking: any object with `rerank(query, hits) -> hits` (the `Reranker` protocol). The built-in
`CrossEncoderReranker` loads a sentence-transformers cross-encoder from a local folder named in
`retrieval.reranker`; no cross-encoder with verified weights ships on PyPI, so none is bundled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, get_args, runtime_checkable

from ragft.config import RetrievalMode
from ragft.errors import ConfigError, ModelError
from ragft.models.compute import compute_thread
from ragft.store.base import check_embedder
from ragft.types import Hit

if TYPE_CHECKING:
    from ragft.config import RetrievalSettings
    from ragft.models.base import Embedder
    from ragft.store.base import Store


@runtime_checkable
class Reranker(Protocol):
    name: str

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """The same hits re-scored (higher = more relevant), best first."""
        ...


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder from a local folder. Loads on first use (cheap constructor)."""

    def __init__(self, path: str, batch_size: int = 32, max_length: int = 512) -> None:
        self.path = path
        self.name = f"cross-encoder:{path}"
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        from pathlib import Path

        if not Path(self.path).is_dir():
            raise ConfigError(
                f"retrieval.reranker = {self.path!r} is not a folder; point it at a local sentence-transformers "
                "cross-encoder folder (config.json + weights), or set retrieval.rerank = false"
            )
        try:
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(self.path, max_length=self.max_length, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any load failure is a model problem for the user
            raise ModelError(f"cannot load cross-encoder from {self.path}: {exc}") from exc

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        if not hits:
            return []
        scores = compute_thread().run(self._scores, query, hits)
        rescored = [replace(h, score=float(s)) for h, s in zip(hits, scores)]
        return sorted(rescored, key=lambda h: -h.score)

    def _scores(self, query: str, hits: Sequence[Hit]) -> Any:
        """The cross-encoder's scores (on the process's compute thread: models/compute.py)."""
        self.warm_up()
        assert self._model is not None
        return self._model.predict([(query, h.text) for h in hits], batch_size=self.batch_size)


def load_reranker(settings: "RetrievalSettings") -> Reranker:
    """The configured reranker; a clear error when reranking is asked for but none is configured."""
    if not settings.reranker:
        raise ConfigError(
            "reranking requested but no reranker is configured: set retrieval.reranker in ragft.toml to a local "
            "sentence-transformers cross-encoder folder (or pass a Reranker object in Python)"
        )
    return CrossEncoderReranker(settings.reranker)


# ---------------------------------------------------------------------------- fusion
def rrf_fuse(lists: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None, rrf_k: int = 60) -> list[Hit]:
    """Weighted reciprocal-rank fusion; ties broken by first appearance (list order, then rank)."""
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    assert len(weights) == len(lists), "one weight per list"
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits, w in zip(lists, weights):
        for rank, h in enumerate(hits, start=1):
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + w / (rrf_k + rank)
            first.setdefault(h.chunk_id, h)
    order = {cid: i for i, cid in enumerate(first)}
    ranked = sorted(scores, key=lambda cid: (-scores[cid], order[cid]))
    return [replace(first[cid], score=scores[cid]) for cid in ranked]


def convex_fuse(lists: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None) -> list[Hit]:
    """Weighted sum of per-list min-max normalised scores (a chunk absent from a list gets 0 there).

    A list whose scores are all equal normalises to 1 for each of its hits.
    """
    weights = list(weights) if weights is not None else [1.0] * len(lists)
    assert len(weights) == len(lists), "one weight per list"
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits, w in zip(lists, weights):
        if not hits:
            continue
        lo = min(h.score for h in hits)
        hi = max(h.score for h in hits)
        span = hi - lo
        for h in hits:
            norm = (h.score - lo) / span if span > 0 else 1.0
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + w * norm
            first.setdefault(h.chunk_id, h)
    order = {cid: i for i, cid in enumerate(first)}
    ranked = sorted(scores, key=lambda cid: (-scores[cid], order[cid]))
    return [replace(first[cid], score=scores[cid]) for cid in ranked]


# ---------------------------------------------------------------------------- retrieval
def _bm25(store: "Store", embedder: "Embedder | None", query: str, depth: int, groups: set[str] | None) -> list[Hit]:
    return store.search_bm25(query, depth, groups)


def _dense(store: "Store", embedder: "Embedder | None", query: str, depth: int, groups: set[str] | None) -> list[Hit]:
    assert embedder is not None
    check_embedder(store, embedder)
    vector = embedder.embed([query])[0]
    return store.search_dense(vector, depth, groups)


def _hybrid_lists(store, embedder, query, depth, groups) -> list[list[Hit]]:  # type: ignore[no-untyped-def]
    return [_bm25(store, embedder, query, depth, groups), _dense(store, embedder, query, depth, groups)]


SINGLE_MODES: dict[str, Callable[..., list[Hit]]] = {"bm25": _bm25, "dense": _dense}
MODES: tuple[str, ...] = tuple(sorted(get_args(RetrievalMode)))  # the one list lives in config.py
assert set(SINGLE_MODES) | {"hybrid"} == set(MODES), "every retrieval mode has an implementation"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"unknown retrieval mode {mode!r}; allowed: {', '.join(MODES)}")
    return mode


def search_components(
    store: "Store",
    embedder: "Embedder | None",
    query: str,
    settings: "RetrievalSettings",
    k: int | None = None,
    mode: str | None = None,
    groups: set[str] | None = None,
    reranker: Reranker | None = None,
) -> list[Hit]:
    """Retrieval from explicit collaborators (what `retrieve` calls; handy for benchmarks and tests).

    `reranker` given → rerank the fused top `settings.candidates` and return the top k.
    """
    mode = check_mode(mode or settings.mode)
    k = int(k if k is not None else settings.k)
    if k <= 0:
        return []
    if not query.strip():
        return []
    depth = max(settings.candidates, k)
    if mode in SINGLE_MODES:
        hits = SINGLE_MODES[mode](store, embedder, query, depth if reranker else k, groups)
    else:
        lists = _hybrid_lists(store, embedder, query, depth, groups)
        weights = [settings.bm25_weight, settings.dense_weight]
        if settings.fusion == "rrf":
            hits = rrf_fuse(lists, weights, settings.rrf_k)
        else:
            hits = convex_fuse(lists, weights)
    if reranker is not None:
        hits = reranker.rerank(query, hits[:depth])
    return list(hits[:k])


@dataclass
class Retriever:
    """Retrieval over explicit collaborators: the store, the `[retrieval]` settings, and the embedder and
    reranker as factories (a bm25 search never loads a model; the Workspace passes its cached instances).

    `reranker` is the configured reranker's factory; None builds one from the settings on first use.
    """

    store: "Store"
    settings: "RetrievalSettings"
    embedder: Callable[[], "Embedder"]
    reranker: Callable[[], Reranker] | None = None

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        groups: set[str] | None = None,
        rerank: bool | None = None,
        reranker: Reranker | None = None,
    ) -> list[Hit]:
        """Top-k chunks for `query`, visible to `groups` (None = no filter).

        Args:
            mode: bm25 | dense | hybrid (default `retrieval.mode`).
            rerank: override `retrieval.rerank`.
            reranker: use this reranker instead of the configured one (implies rerank unless rerank=False).
        """
        settings = self.settings
        mode = check_mode(mode or settings.mode)
        do_rerank = settings.rerank if rerank is None else rerank
        if reranker is not None and rerank is None:
            do_rerank = True
        if do_rerank and reranker is None:
            reranker = self.reranker() if self.reranker is not None else load_reranker(settings)
        embedder = self.embedder() if mode != "bm25" else None
        return search_components(
            self.store, embedder, query, settings, k=k, mode=mode, groups=groups,
            reranker=reranker if do_rerank else None,
        )


def chunk_subjects(store: "Store", chunk_ids: Sequence[str]) -> dict[str, str]:
    """Per chunk id: its document's title and its heading path ("Amedeo Avogadro > Career"), what the chunk is
    about when its own text does not say ("In 1820 he became a professor of physics ..."). Ids the store does not
    hold (live rows) are left out. The caller passes chunks it already retrieved, so access was checked."""
    chunks = store.get_chunks(list(dict.fromkeys(chunk_ids)))
    titles: dict[str, str] = {}
    for c in chunks:
        if c.doc_id not in titles:
            doc = store.get_document(c.doc_id)
            titles[c.doc_id] = doc.title if doc is not None else ""
    return {c.chunk_id: _subject(titles[c.doc_id], c.heading) for c in chunks}


def _subject(title: str, heading: str) -> str:
    """The title, then the heading path (which repeats the title when the title is the first heading)."""
    if not heading or heading == title:
        return title
    return heading if not title or heading.startswith(title) else f"{title} > {heading}"
