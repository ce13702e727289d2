"""Peer-benchmark worker for LlamaIndex (runs in .venv-peers; started by benchmarks/peers/run.py).

ingest: `SimpleDirectoryReader(folder)` -> `IngestionPipeline([SentenceSplitter(200, 40), HuggingFaceEmbedding])`
-> `VectorStoreIndex(nodes)` (default in-memory SimpleVectorStore). The splitter counts tokens with the same
all-MiniLM-L6-v2 word-piece tokenizer (its default, tiktoken, would need a download; this also makes "200 tokens"
mean the same thing as in ragft). The embedder keeps LlamaIndex's default `embed_batch_size` (10) unless
`--batch-size` is given; the reader's default file metadata is embedded with the text, as LlamaIndex does by default.
query: TextNodes carrying the precomputed vectors -> `VectorStoreIndex(nodes)`; `index.as_retriever(similarity_top_k=5)`
for dense, `SimpleVectorStore.query` for vector-only, `QueryFusionRetriever([vector, BM25Retriever],
mode="reciprocal_rerank", num_queries=1)` for hybrid (llama-index-retrievers-bm25, bm25s underneath).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import CHUNK_TOKENS, OVERLAP_TOKENS, TOP_K, System, _versions, model_path, run_worker  # noqa: E402


class LlamaIndexSystem(System):
    name = "llamaindex"
    has_hybrid = True

    def versions(self) -> dict[str, str]:
        return _versions("llama-index-core", "llama-index-embeddings-huggingface", "llama-index-retrievers-bm25",
                         "sentence-transformers", "transformers", "torch")

    def load(self) -> None:
        from llama_index.core import Settings
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from transformers import AutoTokenizer

        kwargs = {"embed_batch_size": self.batch_size} if self.batch_size else {}
        self.embed = HuggingFaceEmbedding(model_name=model_path(), device="cpu", **kwargs)
        Settings.embed_model = self.embed
        Settings.llm = None  # no LLM anywhere in these runs
        tok = AutoTokenizer.from_pretrained(model_path())
        self.tokenize = lambda text: tok.encode(text, add_special_tokens=False)
        self.embed.get_text_embedding("warm up the model")
        self.batch_size = self.embed.embed_batch_size

    def ingest(self, folder: Path) -> int:
        from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
        from llama_index.core.ingestion import IngestionPipeline
        from llama_index.core.node_parser import SentenceSplitter

        docs = SimpleDirectoryReader(str(folder)).load_data()
        splitter = SentenceSplitter(chunk_size=CHUNK_TOKENS, chunk_overlap=OVERLAP_TOKENS, tokenizer=self.tokenize)
        nodes = IngestionPipeline(transformations=[splitter, self.embed]).run(documents=docs)
        self.index = VectorStoreIndex(nodes, embed_model=self.embed)
        return len(nodes)

    def build(self, rows: list[tuple[str, str, np.ndarray]]) -> None:
        from llama_index.core import VectorStoreIndex
        from llama_index.core.schema import TextNode

        nodes = [TextNode(id_=cid, text=text, embedding=vec.tolist()) for cid, text, vec in rows]
        self.index = VectorStoreIndex(nodes, embed_model=self.embed)
        self.retriever = self.index.as_retriever(similarity_top_k=TOP_K)
        self.fusion = None
        if self.has_hybrid:
            from llama_index.core.retrievers import QueryFusionRetriever
            from llama_index.retrievers.bm25 import BM25Retriever

            bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=TOP_K)
            self.fusion = QueryFusionRetriever(
                [self.retriever, bm25], similarity_top_k=TOP_K, num_queries=1, mode="reciprocal_rerank", use_async=False
            )

    def search(self, text: str):  # type: ignore[no-untyped-def]
        return self.retriever.retrieve(text)

    def search_vector(self, vector: np.ndarray):  # type: ignore[no-untyped-def]
        from llama_index.core.vector_stores import VectorStoreQuery

        return self.index.vector_store.query(VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=TOP_K))

    def search_hybrid(self, text: str):  # type: ignore[no-untyped-def]
        return self.fusion.retrieve(text)

    def drop(self) -> None:
        self.index = self.retriever = self.fusion = None


if __name__ == "__main__":
    run_worker(LlamaIndexSystem())
