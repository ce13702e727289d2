"""`QueryCache`: an Embedder that embeds a repeated query once.

Why: the same question is embedded again and again: `compare` retrieves each held-out question once per
retrieving strategy (rag, hybrid), a served assistant gets the same popular questions, a user re-asks after a
settings change. A query embedding costs a model call (a few milliseconds warm with ONNX, far more on a busy
CPU; docs/benchmarks.md, ## Cold start); a dictionary look-up costs microseconds.

Only single-text calls are cached (`Retriever` embeds one query per call): a vector from a batched call can differ
from the single call's in the last float bits (padding changes the kernel split), and a cache must never change a
result. Keys are SHA-256 digests, so the cache holds no query text; it lives in memory, bounded (least recently
used first out), and goes with the Workspace that owns it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ragft.models.base import Embedder

DEFAULT_SIZE = 1024
"""Queries remembered: 1,024 x 384 float32 = 1.5 MB for the bundled embedder."""


class QueryCache:
    """Wraps `inner` (same `name` and `dim`, so the store accepts it); `hits` and `misses` count single-text calls."""

    def __init__(self, inner: "Embedder", size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.inner, self.size = inner, size
        self.name, self.dim = inner.name, inner.dim
        self.hits = self.misses = 0
        self._vectors: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the server answers several requests at once

    def embed(self, texts: Sequence[str]) -> "np.ndarray":
        if len(texts) != 1:
            return self.inner.embed(texts)
        key = hashlib.sha256(texts[0].encode("utf-8")).digest()
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None:
                self._vectors.move_to_end(key)
                self.hits += 1
                return vector.copy()  # the caller may write into its array; the cached one stays as embedded
            self.misses += 1
        vector = self.inner.embed(texts)  # outside the lock: a slow first embedding does not queue the others
        with self._lock:
            self._vectors[key] = vector.copy()
            self._vectors.move_to_end(key)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return vector

    def __getattr__(self, attr: str) -> Any:
        """Anything else the inner embedder offers (`parallel`, `warm_up`, ...) is the inner embedder's."""
        if attr == "inner":  # not set yet (during unpickling): never recurse
            raise AttributeError(attr)
        return getattr(self.inner, attr)
