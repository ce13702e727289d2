"""Peer-benchmark worker for the raw embedder: sentence-transformers `encode` alone on the very chunk texts ragft
embeds (ragft's loader + chunker produce them untimed), batch size 64, normalised, one call per run.

This is the floor for any ingest that embeds with this model: ragft's goal is >= 0.9x of its chunks/s.
Runs in the project's .venv (same sentence-transformers/torch as ragft). Only `ingest` is meaningful.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from common import BATCH_SIZE, CHUNK_TOKENS, OVERLAP_TOKENS, System, _versions, model_path, run_worker  # noqa: E402


class RawEmbedder(System):
    name = "raw-embedder"

    def versions(self) -> dict[str, str]:
        return _versions("sentence-transformers", "transformers", "torch")

    def load(self) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(model_path(), device="cpu", local_files_only=True)
        self.model.encode(["warm up the model"])
        self.batch_size = self.batch_size or BATCH_SIZE

    def prepare(self, folder: Path) -> None:
        """ragft's embedding texts for every file in `folder` (same loader, chunker and title prefix), untimed."""
        from ragft.documents.chunking import chunk_blocks, embedding_text
        from ragft.documents.loaders import load_file

        texts = []
        for path in sorted(folder.glob("*.txt")):
            loaded = load_file(path, 50_000_000)
            for piece in chunk_blocks(loaded.blocks, CHUNK_TOKENS, OVERLAP_TOKENS):
                texts.append(embedding_text(piece.heading, piece.text, loaded.title))
        self._texts = texts

    def ingest(self, folder: Path) -> int:
        texts = self._texts
        self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return len(texts)


if __name__ == "__main__":
    run_worker(RawEmbedder())
