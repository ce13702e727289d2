"""Peer-benchmark worker for ragft (runs in the project's .venv; the driver benchmarks/peers/run.py starts it).

ingest: `Workspace.ingest([folder])`, the real pipeline (read files, chunk 200/40 tokens, hash, embed in batches
of [embedder] batch_size (16; or --batch-size) with the bundled all-MiniLM-L6-v2, one SQLite transaction per document), into a fresh
workspace each run, default settings otherwise.
query: the synthetic rows written through `SqliteStore.replace_document` (10 chunks per document, the same
write path ingest uses, vectors precomputed), then `Workspace.search(q, k=5, mode=dense|hybrid)` and
`store.search_dense(vector, 5)`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from common import TOP_K, System, _versions, run_worker  # noqa: E402


class RagftSystem(System):
    name = "ragft"
    has_hybrid = True

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="ragft-peers-"))
        self.ws = None
        self._n = 0

    def versions(self) -> dict[str, str]:
        return _versions("ragft", "onnxruntime", "sentence-transformers", "transformers", "torch", "numpy")

    def load(self) -> None:
        from ragft.config import Settings
        from ragft.models.embedder import load_embedder

        # Defaults of ragft.toml; --batch-size sets [embedder] batch_size, the knob a user would change.
        self.settings = Settings()
        if self.batch_size:
            self.settings.embedder.batch_size = self.batch_size
        self.embedder = load_embedder(self.settings.embedder)
        self.embedder.embed(["warm up the model"])
        self.batch_size = self.settings.embedder.batch_size

    def _workspace(self):  # type: ignore[no-untyped-def]
        from ragft.workspace import Workspace

        self._n += 1
        return Workspace(self.tmp / f"ws{self._n}", settings=self.settings.model_copy(deep=True), embedder=self.embedder)

    def ingest(self, folder: Path) -> int:
        with self._workspace() as ws:
            report = ws.ingest([folder])
        if report.failed:
            raise SystemExit(f"ragft ingest failed on {len(report.failed)} files: {report.failed[:3]}")
        return report.chunks

    def build(self, rows: list[tuple[str, str, np.ndarray]]) -> None:
        from ragft.ingest import EMBEDDER_META_KEY
        from ragft.types import Chunk, Document

        self.ws = self._workspace()
        store = self.ws.store
        store.set_meta(EMBEDDER_META_KEY, self.embedder.name)
        per_doc = 10
        for d, start in enumerate(range(0, len(rows), per_doc)):
            block = rows[start : start + per_doc]
            doc_id = f"d{d}"
            doc = Document(doc_id=doc_id, source=f"synthetic/{doc_id}", title="", content_hash=doc_id)
            chunks = [Chunk(chunk_id=f"{doc_id}:{i}", doc_id=doc_id, ordinal=i, text=t) for i, (_, t, _) in enumerate(block)]
            store.replace_document(doc, chunks, np.stack([v for _, _, v in block]))

    def search(self, text: str):  # type: ignore[no-untyped-def]
        return self.ws.search(text, k=TOP_K, mode="dense")

    def search_vector(self, vector: np.ndarray):  # type: ignore[no-untyped-def]
        return self.ws.store.search_dense(vector, TOP_K)

    def search_hybrid(self, text: str):  # type: ignore[no-untyped-def]
        return self.ws.search(text, k=TOP_K, mode="hybrid")

    def drop(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)


if __name__ == "__main__":
    system = RagftSystem()
    try:
        run_worker(system)
    finally:
        shutil.rmtree(system.tmp, ignore_errors=True)
