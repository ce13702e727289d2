"""Peer-benchmark worker for LangChain (runs in .venv-peers; started by benchmarks/peers/run.py).

Usage: worker_langchain.py {faiss|inmemory} [worker options] {ingest|query} ...

ingest: `DirectoryLoader(folder, "*.txt", TextLoader)` -> `RecursiveCharacterTextSplitter.from_huggingface_tokenizer`
(200 / 40 all-MiniLM-L6-v2 word pieces, as ragft) -> `FAISS.from_documents` or `InMemoryVectorStore.from_documents`
with `HuggingFaceEmbeddings` (langchain-community; sentence-transformers underneath, its default batch size 32
unless --batch-size, normalised vectors).
query: the precomputed vectors loaded with `FAISS.from_embeddings` (IndexFlatL2; on unit vectors the ranking equals
cosine) or written into `InMemoryVectorStore.store`; `similarity_search(q, k=5)` for dense,
`similarity_search_by_vector` for vector-only; hybrid (faiss only) = `EnsembleRetriever([BM25Retriever, FAISS
retriever], weights=[0.5, 0.5])` (rank_bm25 underneath), LangChain's documented hybrid recipe.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import CHUNK_TOKENS, OVERLAP_TOKENS, TOP_K, System, _versions, model_path, run_worker  # noqa: E402

STORES = ("faiss", "inmemory")


class LangChainSystem(System):
    def __init__(self, store: str) -> None:
        self.store = store
        self.name = f"langchain-{store}"
        self.has_hybrid = store == "faiss"

    def versions(self) -> dict[str, str]:
        return _versions("langchain-core", "langchain-community", "langchain-text-splitters", "langchain-classic",
                         "faiss-cpu", "rank-bm25", "sentence-transformers", "transformers", "torch")

    def load(self) -> None:
        from langchain_community.embeddings import HuggingFaceEmbeddings
        from transformers import AutoTokenizer

        encode = {"normalize_embeddings": True}
        if self.batch_size:
            encode["batch_size"] = self.batch_size
        self.embed = HuggingFaceEmbeddings(model_name=model_path(), model_kwargs={"device": "cpu"}, encode_kwargs=encode)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path())
        self.embed.embed_query("warm up the model")
        self.batch_size = self.batch_size or 32  # sentence-transformers' encode default

    def _store_cls(self):  # type: ignore[no-untyped-def]
        if self.store == "faiss":
            from langchain_community.vectorstores import FAISS

            return FAISS
        from langchain_core.vectorstores import InMemoryVectorStore

        return InMemoryVectorStore

    def ingest(self, folder: Path) -> int:
        from langchain_community.document_loaders import DirectoryLoader, TextLoader
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        docs = DirectoryLoader(str(folder), glob="*.txt", loader_cls=TextLoader).load()
        splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
            self.tokenizer, chunk_size=CHUNK_TOKENS, chunk_overlap=OVERLAP_TOKENS
        )
        chunks = splitter.split_documents(docs)
        self.vs = self._store_cls().from_documents(chunks, self.embed)
        return len(chunks)

    def build(self, rows: list[tuple[str, str, np.ndarray]]) -> None:
        texts = [t for _, t, _ in rows]
        if self.store == "faiss":
            from langchain_community.vectorstores import FAISS

            self.vs = FAISS.from_embeddings(
                [(t, v.tolist()) for _, t, v in rows], self.embed, ids=[cid for cid, _, _ in rows]
            )
        else:
            from langchain_core.vectorstores import InMemoryVectorStore

            self.vs = InMemoryVectorStore(self.embed)
            # What add_documents stores per row (langchain_core/vectorstores/in_memory.py), minus the embedding call.
            self.vs.store.update(
                {cid: {"id": cid, "vector": v.tolist(), "text": t, "metadata": {}} for cid, t, v in rows}
            )
        self.ensemble = None
        if self.has_hybrid:
            from langchain_classic.retrievers import EnsembleRetriever
            from langchain_community.retrievers import BM25Retriever

            bm25 = BM25Retriever.from_texts(texts, k=TOP_K)
            self.ensemble = EnsembleRetriever(
                retrievers=[bm25, self.vs.as_retriever(search_kwargs={"k": TOP_K})], weights=[0.5, 0.5]
            )

    def search(self, text: str):  # type: ignore[no-untyped-def]
        return self.vs.similarity_search(text, k=TOP_K)

    def search_vector(self, vector: np.ndarray):  # type: ignore[no-untyped-def]
        return self.vs.similarity_search_by_vector(vector.tolist(), k=TOP_K)

    def search_hybrid(self, text: str):  # type: ignore[no-untyped-def]
        return self.ensemble.invoke(text)

    def drop(self) -> None:
        self.vs = self.ensemble = None


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in STORES:
        raise SystemExit(f"usage: {Path(__file__).name} {{{'|'.join(STORES)}}} [options] {{ingest|query}} ...")
    store = sys.argv.pop(1)
    run_worker(LangChainSystem(store))
