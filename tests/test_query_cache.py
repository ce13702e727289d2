"""QueryCache: a repeated query is embedded once, and the cache never changes a vector or a result."""

from __future__ import annotations

import numpy as np
import pytest

from ragft.models.query_cache import QueryCache
from tests.fakes import HashEmbedder


class Counting(HashEmbedder):
    """The hash embedder, counting the texts it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.calls.append(list(texts))
        return super().embed(texts)


def test_a_repeated_query_is_embedded_once_and_gets_the_same_vector():
    inner = Counting()
    cache = QueryCache(inner)
    first = cache.embed(["how long is the return window?"])
    again = cache.embed(["how long is the return window?"])
    assert np.array_equal(first, again) and inner.calls == [["how long is the return window?"]]
    assert (cache.hits, cache.misses) == (1, 1) and (cache.name, cache.dim) == (inner.name, inner.dim)
    again[0, 0] = 99.0  # the caller's copy: the cached vector stays as embedded
    assert np.array_equal(cache.embed(["how long is the return window?"]), first)


def test_batched_calls_are_not_cached_and_the_oldest_query_leaves_first():
    inner = Counting()
    cache = QueryCache(inner, size=2)
    cache.embed(["a b", "c d"])
    cache.embed(["a b", "c d"])
    assert len(inner.calls) == 2  # a batch's vectors may differ in the last bits from single calls: never mixed
    for q in ("q1", "q2", "q1", "q3"):  # q1 was used again, so q2 is the least recent when q3 arrives
        cache.embed([q])
    cache.embed(["q1"])
    cache.embed(["q2"])
    assert [c[0] for c in inner.calls[2:]] == ["q1", "q2", "q3", "q2"]
    with pytest.raises(ValueError):
        QueryCache(inner, size=0)


def test_workspace_search_embeds_a_repeated_query_once(tmp_path):
    from ragft.workspace import Workspace
    from tests.test_answer import _put

    inner = Counting()
    ws = Workspace(tmp_path / "ws", embedder=inner)
    try:
        _put(ws, "returns", "Items can be returned within 30 days of delivery.", inner)
        before = len(inner.calls)
        first = ws.search("How long do I have to return an item?", mode="dense")
        again = ws.search("How long do I have to return an item?", mode="dense")
        assert [h.chunk_id for h in first] == [h.chunk_id for h in again] and first
        assert len(inner.calls) == before + 1
    finally:
        ws.close()


@pytest.mark.real_model
def test_the_cached_vector_of_the_bundled_embedder_is_the_uncached_one(real_embedder):
    query = ["What is the estimated population of Egypt?"]
    cache = QueryCache(real_embedder)
    assert np.array_equal(cache.embed(query), real_embedder.embed(query))
    assert np.array_equal(cache.embed(query), real_embedder.embed(query)) and cache.hits == 1
