"""The sentence embedder on ONNX Runtime: same vectors as sentence-transformers, no torch at query time.

Why: loading sentence-transformers imports transformers and torch, ~8 s of a cold `ragft search` on 2 cores,
while `import onnxruntime` takes ~0.05 s. The model is the same (the shipped all-MiniLM-L6-v2 safetensors):
it is exported to ONNX once, on first use, into `ragft.config.cache_dir() / "onnx" / <name>-<fingerprint>/`
(temp file + rename, so a crash or a concurrent export never leaves half a file; later calls reuse it). The
export needs torch (and the `onnx` package) that one time only; `ragft ingest` is the usual first use, so a
later `ragft search` imports neither torch nor sentence-transformers.

What sentence-transformers does, done here in numpy: word-piece tokenisation with the folder's
`tokenizer.json` (truncated at `max_seq_length`, 256 for MiniLM), the transformer, mean pooling over the
attention mask (or the CLS token when the folder's pooling says so), L2 normalisation. Texts are sorted by
token length and embedded in batches of similar length (little padding), then put back in input order.
Measured agreement and speed: docs/benchmarks.md ## Ingest (cosine >= 0.999 on 1,000 SciFact texts).

Security (OWASP LLM03): only safetensors weights are read for the export; the ONNX file is our own output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ragft.config import cache_dir
from ragft.errors import ConfigError, ModelError
from ragft.models.compute import compute_thread

log = logging.getLogger(__name__)

EXPORT_FORMAT = 2  # bump when the exported graph changes (inputs, opset, attention); old files are re-exported
# 2: transformer fusion (fuse_transformer) applied after the export, kept only when it computes the same states.
OPSET = 17
MODEL_FILE = "model.onnx"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def pooling_mode(folder: Path) -> str:
    """"mean" or "cls" from a sentence-transformers folder's pooling config (mean when there is none)."""
    for cfg_path in sorted(folder.glob("*_Pooling/config.json")):
        cfg = _read_json(cfg_path)
        modes = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v]
        if modes == ["pooling_mode_mean_tokens"]:
            return "mean"
        if modes == ["pooling_mode_cls_token"]:
            return "cls"
        raise ConfigError(
            f"embedder folder {folder} uses pooling {modes}; the onnx backend supports mean or cls pooling: "
            'set [embedder] backend = "torch" in ragft.toml'
        )
    return "mean"


def max_seq_length(folder: Path) -> int:
    """The folder's sentence-transformers `max_seq_length` (what `encode` truncates at), else 512."""
    return int(_read_json(folder / "sentence_bert_config.json").get("max_seq_length") or 512)


def onnx_file(name: str, folder: Path) -> Path:
    """Where the exported model for `folder` lives in the cache (no I/O beyond a stat and two small files).

    The fingerprint covers the export format, the model config and the size of every safetensors file, so a
    changed model folder (or a new exporter) gets a new file instead of a stale one.
    """
    h = hashlib.sha256(f"format={EXPORT_FORMAT};opset={OPSET}".encode())
    h.update((folder / "config.json").read_bytes() if (folder / "config.json").is_file() else b"")
    for weights in sorted(folder.glob("*.safetensors")):
        h.update(f"{weights.name}={weights.stat().st_size}".encode())
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return cache_dir() / "onnx" / f"{safe}-{h.hexdigest()[:12]}" / MODEL_FILE


def export_onnx(folder: Path, target: Path) -> Path:
    """Export the transformer of `folder` to `target` (ONNX, opset 17, dynamic batch and sequence axes).

    Needs torch, transformers and onnx; runs once per model. Written to a temp file in the target folder, then
    renamed over `target`, so readers see either no file or a whole one.
    """
    try:
        import onnx  # noqa: F401 - torch's exporter needs it; fail with a clear message before loading weights
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ConfigError(
            f"exporting the embedder to ONNX needs torch, transformers and onnx ({exc}); "
            'pip install onnx==1.23.2, or set [embedder] backend = "torch" in ragft.toml'
        ) from exc

    class _LastHiddenState(torch.nn.Module):
        """Calls the model by keyword: with transformers 5, positional export args collide with `use_cache`."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    t0 = time.perf_counter()
    log.info("exporting embedder %s to ONNX at %s (first use only)", folder, target)
    try:
        model = AutoModel.from_pretrained(
            str(folder), dtype=torch.float32, attn_implementation="eager", trust_remote_code=False, use_safetensors=True
        ).eval()
    except Exception as exc:  # noqa: BLE001 - any loader failure is one clear error
        raise ModelError(f"could not load embedder weights from {folder}: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {"batch": 0, "sequence": 1}
    try:
        # The tracer's warnings (legacy exporter, shapes traced as constants that are constant here) are about
        # the export machinery, not the user's data: tests compare the exported graph against sentence-transformers.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _LastHiddenState(model),
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                str(tmp),
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes={k: {v: n for n, v in axes.items()} for k in (*_INPUTS, "last_hidden_state")},
                opset_version=OPSET,
                dynamo=False,
            )
        fused = fuse_transformer(tmp, _read_json(folder / "config.json"))
        os.replace(fused or tmp, target)  # atomic: a concurrent export of the same model writes an equal file
    except Exception as exc:
        raise ModelError(f"could not export embedder {folder} to ONNX: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + FUSED_SUFFIX).unlink(missing_ok=True)
    log.info("exported %s in %.1f s", target, time.perf_counter() - t0)
    return target


FUSED_SUFFIX = ".fused"
FUSION_TOLERANCE = 1e-4
"""Largest difference allowed between the fused and the plain graph's hidden states (at unpadded tokens)."""


def fuse_transformer(plain: Path, config: dict) -> Path | None:
    """ONNX Runtime's transformer optimizer over the exported graph: attention, embedding + LayerNorm, bias +
    GELU and skip + LayerNorm become fused CPU kernels (about 1.05x encode throughput on SciFact abstracts, idle,
    docs/benchmarks.md ## Ingest). The fused file (next to `plain`) is returned only if it computes the same hidden
    states as the plain graph on probe inputs with padding (FUSION_TOLERANCE); any other model, a failing optimizer
    or a mismatch keeps the plain export (None), which is always correct."""
    heads, hidden = int(config.get("num_attention_heads") or 0), int(config.get("hidden_size") or 0)
    fused = plain.with_name(plain.name + FUSED_SUFFIX)
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimize_model(str(plain), model_type="bert", num_heads=heads, hidden_size=hidden,
                           opt_level=1).save_model_to_file(str(fused))
        same = _same_states(plain, fused, int(config.get("vocab_size") or 1000))
    except Exception as exc:  # noqa: BLE001 - fusion is an optimisation; the plain graph stays correct
        log.info("transformer fusion not applied to %s: %s", plain, exc)
        return None
    if not same:
        log.info("transformer fusion changed the outputs of %s; keeping the plain graph", plain)
        return None
    return fused


def _same_states(plain: Path, fused: Path, vocab: int) -> bool:
    """Both graphs give the same last hidden states on a padded probe batch (compared where the mask is 1)."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, max(1001, min(vocab, 30000)), size=(3, 24), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1, 17:] = 0
    mask[2, 5:] = 0
    feed = {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    outs = [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]).run(None, feed)[0]
            for p in (plain, fused)]
    keep = mask.astype(bool)
    return bool(np.abs(outs[0][keep] - outs[1][keep]).max() <= FUSION_TOLERANCE)


class OnnxEmbedder:
    """A sentence-transformers model folder run by ONNX Runtime; `embed` returns float32 L2-normalised rows.

    Cheap constructor: `.name` and `.dim` are known without loading anything. The ONNX file is exported on
    first need (`prepare()`), the session starts on the first `embed`.

    `threads`: ONNX Runtime intra-op threads (0 = its default, one per physical core).
    `bulk`: optional factory of another embedder used by `parallel()` (the sentence-transformers worker pool
    when `[embedder] devices` is set, or its bfloat16 path: ragft/models/precision.py); without it bulk work
    runs in-process here. `bulk_min`: a `parallel()` block stays here until a call brings this many texts, then
    hands that call and every later one to the bulk embedder (a small ingest never loads torch).
    """

    def __init__(
        self,
        name: str,
        folder: Path,
        batch_size: int = 16,
        dim: int | None = None,
        threads: int = 0,
        bulk: Callable[[], Any] | None = None,
        bulk_min: int = 0,
    ) -> None:
        self.name = name
        self.folder = folder
        self.batch_size = batch_size
        self.threads = threads
        self._dim = dim
        self._bulk_factory = bulk
        self.bulk_min = bulk_min
        self._bulk: Any = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._pooling: str | None = None
        self._lock = threading.Lock()
        # Benchmark knobs (benchmarks/embedder_backends.py): an ORT GraphOptimizationLevel (None = all) and
        # another ONNX file (e.g. an int8 quantisation of the export) to run instead of the export.
        self.level: Any = None
        self.model_file: Path | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(_read_json(self.folder / "config.json").get("hidden_size") or 0) or None
            if self._dim is None:
                raise ModelError(f"embedder folder {self.folder} has no hidden_size in config.json")
        return self._dim

    @property
    def onnx_path(self) -> Path:
        return onnx_file(self.name, self.folder)

    def prepare(self) -> Path:
        """The exported ONNX file, exporting it now if the cache has none (imports torch that one time; on the
        compute thread, like every torch computation: models/compute.py)."""
        path = self.onnx_path
        if not path.is_file():
            compute_thread().run(export_onnx, self.folder, path)
        return path

    def _load(self) -> None:
        """Tokenizer + ONNX Runtime session (caller holds the lock)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._pooling = pooling_mode(self.folder)
        path = self.model_file or self.prepare()
        t0 = time.perf_counter()
        tok_file = self.folder / "tokenizer.json"
        if not tok_file.is_file():
            raise ConfigError(f"embedder folder {self.folder} has no tokenizer.json (needed by the onnx backend)")
        tokenizer = Tokenizer.from_file(str(tok_file))
        # The shipped tokenizer.json pads every text to 128 and truncates there; sentence-transformers truncates
        # at max_seq_length (256) and pads per batch. Padding is done here, per length-sorted batch.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_seq_length(self.folder))
        opts = ort.SessionOptions()
        opts.graph_optimization_level = self.level if self.level is not None else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            opts.intra_op_num_threads = self.threads
        # No busy-waiting between runs: by default ORT's worker threads spin after each call, and a query embedded
        # beside a generation (the server, `compare`) then takes CPU from torch. Measured 2026-12-01, 2 cores: 40
        # query embeds each followed by 10 prefill-sized GEMMs took 0.8-1.1 s with spinning, 0.5-0.6 s without;
        # a 300-abstract bulk embed was no slower (13.5 s against 14.0 s).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3  # errors only: no graph-optimiser chatter on stderr
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a corrupt cache file: say where it is
            raise ModelError(f"could not load the ONNX embedder {path}: {exc}; delete the file to re-export it") from exc
        self._tokenizer = tokenizer
        log.debug("loaded ONNX embedder %s in %.2f s", self.name, time.perf_counter() - t0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if self._session is None:
                self._load()
        t0 = time.perf_counter()
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")  # longest first, like sentence-transformers' encode
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._embed_batch([encodings[i] for i in idx], int(lengths[idx].max()))
        log.debug("embedded %d texts in %.2f s", len(texts), time.perf_counter() - t0)
        return out

    def _embed_batch(self, encodings: Sequence[Any], width: int) -> np.ndarray:
        """One padded batch through the session, pooled and normalised. B = batch, T = tokens, H = hidden."""
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = enc.attention_mask
            types[row, :n] = enc.type_ids
        (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})  # (B, T, H)
        if self._pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled = pooled.astype(np.float32)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.where(norms == 0, 1.0, norms)

    # ------------------------------------------------------------------ bulk work
    @contextmanager
    def parallel(self) -> Iterator[Callable[[Sequence[str]], np.ndarray]]:
        """An embed function for bulk work: the bulk embedder's (see `bulk`, `bulk_min`), else `embed`."""
        if self._bulk_factory is None:
            yield self.embed
            return
        with ExitStack() as stack:
            bulk_embed: Callable[[Sequence[str]], np.ndarray] | None = None

            def embed(texts: Sequence[str]) -> np.ndarray:
                nonlocal bulk_embed
                if bulk_embed is None:
                    if len(texts) < self.bulk_min:
                        return self.embed(texts)
                    bulk_embed = stack.enter_context(self.bulk().parallel())
                return bulk_embed(texts)

            yield embed

    def bulk(self) -> Any:
        """The bulk embedder, created on first need (benchmarks call it to time its load apart)."""
        if self._bulk is None:
            if self._bulk_factory is None:
                raise ModelError(f"embedder {self.name} has no bulk embedder configured")
            self._bulk = self._bulk_factory()
        return self._bulk

    def close(self) -> None:
        """Stop a bulk worker pool if one runs (idempotent)."""
        if self._bulk is not None:
            self._bulk.close()
