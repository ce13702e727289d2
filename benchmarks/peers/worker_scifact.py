"""Peer-benchmark worker for the SciFact ingest at defaults (issue 19); started by `run.py --scifact`.

    worker_scifact.py {ragft|llamaindex|langchain|raw} --folder DIR [--repeats N] [--chunk-size C --chunk-overlap O]

Each system at its OWN defaults on the same folder of .txt files (one SciFact abstract each), in a fresh process:

- ragft: `Workspace(fresh dir, Settings()).ingest([folder])`: default settings (ONNX Runtime embedder for queries,
  bulk_dtype auto: bfloat16 sentence-transformers for flushes of 256+ chunks on a CPU with bfloat16 units,
  200/40-token chunks, batch 16, each chunk embedded with its document title in front). Runs in the project's .venv.
- llamaindex: `SimpleDirectoryReader(folder).load_data()` + `VectorStoreIndex.from_documents(docs)` with
  `Settings.embed_model = HuggingFaceEmbedding(model_name=<bundled all-MiniLM-L6-v2>)`; everything else the
  library's default: SentenceSplitter(chunk_size=1024, chunk_overlap=200) counting tiktoken tokens, the reader's
  file metadata (file_path, file_name, ...) embedded with the text, embed_batch_size 10, SimpleVectorStore.
- langchain: `DirectoryLoader(folder, glob="*.txt", loader_cls=TextLoader).load()` (DirectoryLoader's own default
  loader is UnstructuredFileLoader, which needs `unstructured`; TextLoader is the documented one for .txt), then
  `RecursiveCharacterTextSplitter()` at its constructor defaults (chunk_size=4000, chunk_overlap=200, characters;
  --chunk-size/--chunk-overlap for other settings, e.g. the RAG tutorial's 1000/200), then
  `FAISS.from_documents(chunks, HuggingFaceEmbeddings(model_name=<bundled model>))` (sentence-transformers'
  default batch 32, no normalisation, IndexFlatL2).
- raw: sentence-transformers `SentenceTransformer(<bundled model>).encode(file texts)`, default batch 32: one text per
  file, the floor for "embed every abstract once".

Timed: everything from reading the folder to the filled index, in-process, after the model was loaded and warmed up
on one text (the load is reported apart, `load`). Thread counts are the libraries' own (the driver pins none).
After the last run, untimed: the texts the system gave the model, per document, for `coverage.py` (word pieces
embedded vs cut off at 256, source words in no embedded text).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Timer, _versions, emit, log, model_path, offline_env, peak_rss_mb  # noqa: E402
from coverage import coverage, minilm_encoder, read_sources  # noqa: E402

Pairs = list[tuple[str, str]]


class Ragft:
    name = "ragft"
    defaults = "Workspace.ingest, Settings() defaults"

    def __init__(self, args: argparse.Namespace) -> None:
        sys.path.insert(0, str(HERE.parents[1]))
        self.tmp = Path(tempfile.mkdtemp(prefix="ragft-scifact-"))
        self.n = 0

    def versions(self) -> dict[str, str]:
        return _versions("ragft", "onnxruntime", "tokenizers", "numpy", "sentence-transformers", "torch")

    def load(self) -> None:
        from benchmarks.ingest import warm_embedder
        from ragft.config import Settings
        from ragft.models.embedder import load_embedder
        from ragft.models.precision import bulk_dtype

        self.settings = Settings()
        self.embedder = load_embedder(self.settings.embedder)
        warm_embedder(self.embedder)  # with it the bulk model an ingest of 256+ chunks switches to: its load is load
        s = self.settings
        dtype = bulk_dtype(s.embedder.bulk_dtype, s.embedder.devices)
        self.defaults = (f"Workspace.ingest, Settings() defaults: backend={s.embedder.backend}, "
                         f"bulk_dtype={s.embedder.bulk_dtype} (here {dtype}), "
                         f"chunks {s.chunking.max_tokens}/{s.chunking.overlap_tokens} tokens, batch {s.embedder.batch_size}")

    def ingest(self, folder: Path) -> int:
        from ragft.workspace import Workspace

        self.n += 1
        if self.n > 1:
            self.ws.close()
        self.ws = Workspace(self.tmp / f"ws{self.n}", settings=self.settings.model_copy(deep=True), embedder=self.embedder)
        report = self.ws.ingest([folder])
        if report.failed:
            raise SystemExit(f"ragft ingest failed on {len(report.failed)} files: {report.failed[:3]}")
        return report.chunks

    def embedded(self) -> Pairs:
        from ragft.documents.chunking import embedding_text

        out = []
        for doc in self.ws.documents():
            for c in self.ws.store.iter_chunks([doc.doc_id]):
                out.append((Path(doc.source).stem, embedding_text(c.heading, c.text, doc.title)))
        return out

    def close(self) -> None:
        if self.n:
            self.ws.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class LlamaIndex:
    name = "llamaindex"
    defaults = "SimpleDirectoryReader + VectorStoreIndex.from_documents, HuggingFaceEmbedding; library defaults"

    def __init__(self, args: argparse.Namespace) -> None:
        self.index: Any = None

    def versions(self) -> dict[str, str]:
        return _versions("llama-index-core", "llama-index-embeddings-huggingface", "sentence-transformers",
                         "transformers", "torch")

    def load(self) -> None:
        from llama_index.core import Settings
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        Settings.embed_model = HuggingFaceEmbedding(model_name=model_path())
        Settings.llm = None  # no LLM in an ingest
        Settings.embed_model.get_text_embedding("warm up the model")
        splitter = Settings.node_parser
        self.defaults = (f"SimpleDirectoryReader + VectorStoreIndex.from_documents, HuggingFaceEmbedding "
                         f"(embed_batch_size {Settings.embed_model.embed_batch_size}); default "
                         f"{type(splitter).__name__}({splitter.chunk_size}/{splitter.chunk_overlap} tiktoken tokens)")

    def ingest(self, folder: Path) -> int:
        from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

        docs = SimpleDirectoryReader(str(folder)).load_data()
        self.index = VectorStoreIndex.from_documents(docs)
        return len(self.index.index_struct.nodes_dict)

    def embedded(self) -> Pairs:
        from llama_index.core.schema import MetadataMode

        # What VectorStoreIndex embedded: node.get_content(metadata_mode=EMBED), metadata header included.
        nodes = self.index.docstore.get_nodes(list(self.index.index_struct.nodes_dict.values()))
        return [(Path(n.metadata["file_path"]).stem, n.get_content(metadata_mode=MetadataMode.EMBED)) for n in nodes]

    def close(self) -> None:
        pass


class LangChain:
    name = "langchain"

    def __init__(self, args: argparse.Namespace) -> None:
        self.split_kwargs = {}
        if args.chunk_size:
            self.split_kwargs = {"chunk_size": args.chunk_size, "chunk_overlap": args.chunk_overlap}
        self.vs: Any = None

    def versions(self) -> dict[str, str]:
        return _versions("langchain-core", "langchain-community", "langchain-text-splitters", "faiss-cpu",
                         "sentence-transformers", "transformers", "torch")

    def load(self) -> None:
        from langchain_community.embeddings import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.embed = HuggingFaceEmbeddings(model_name=model_path())
        self.embed.embed_query("warm up the model")
        s = RecursiveCharacterTextSplitter(**self.split_kwargs)
        how = "constructor defaults" if not self.split_kwargs else "set"
        self.defaults = (f"DirectoryLoader(TextLoader) + RecursiveCharacterTextSplitter ({how}: {s._chunk_size}/"
                         f"{s._chunk_overlap} characters) + FAISS.from_documents, HuggingFaceEmbeddings "
                         f"(encode_kwargs {self.embed.encode_kwargs or 'default: batch 32, not normalised'})")

    def ingest(self, folder: Path) -> int:
        from langchain_community.document_loaders import DirectoryLoader, TextLoader
        from langchain_community.vectorstores import FAISS
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        docs = DirectoryLoader(str(folder), glob="*.txt", loader_cls=TextLoader).load()
        self.chunks = RecursiveCharacterTextSplitter(**self.split_kwargs).split_documents(docs)
        self.vs = FAISS.from_documents(self.chunks, self.embed)
        return self.vs.index.ntotal

    def embedded(self) -> Pairs:
        return [(Path(c.metadata["source"]).stem, c.page_content) for c in self.chunks]

    def close(self) -> None:
        pass


class Raw:
    name = "raw"
    defaults = "SentenceTransformer.encode(file texts), default batch 32"

    def __init__(self, args: argparse.Namespace) -> None:
        self.texts: Pairs = []

    def versions(self) -> dict[str, str]:
        return _versions("sentence-transformers", "transformers", "torch")

    def load(self) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(model_path(), device="cpu", local_files_only=True)
        self.model.encode(["warm up the model"])

    def ingest(self, folder: Path) -> int:
        self.texts = [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.txt"))]
        vectors = self.model.encode([t for _, t in self.texts])
        return len(vectors)

    def embedded(self) -> Pairs:
        return self.texts

    def close(self) -> None:
        pass


SYSTEMS = {"ragft": Ragft, "llamaindex": LlamaIndex, "langchain": LangChain, "raw": Raw}


def main() -> None:
    offline_env()
    ap = argparse.ArgumentParser(description="SciFact ingest-at-defaults worker (benchmarks/peers/run.py --scifact)")
    ap.add_argument("system", choices=sorted(SYSTEMS))
    ap.add_argument("--folder", type=Path, required=True, help="folder of .txt files")
    ap.add_argument("--repeats", type=int, default=1, help="ingest runs, each into a fresh index")
    ap.add_argument("--chunk-size", type=int, default=0, help="langchain only: splitter chunk_size (0 = its default)")
    ap.add_argument("--chunk-overlap", type=int, default=200, help="langchain only, with --chunk-size")
    ap.add_argument("--label", default=None)
    args = ap.parse_args()
    system = SYSTEMS[args.system](args)
    result: dict[str, Any] = {"system": args.label or system.name, "pid": os.getpid()}
    try:
        with Timer() as t:
            system.load()
        result["load"] = t.as_dict()
        result["defaults"] = system.defaults
        result["versions"] = system.versions()
        if "torch" in sys.modules:
            result["torch_threads"] = sys.modules["torch"].get_num_threads()
        runs = []
        for r in range(args.repeats):
            gc.collect()
            with Timer() as t:
                n = system.ingest(args.folder)
            runs.append({**t.as_dict(), "chunks": n})
            log(f"[{result['system']}] ingest run {r + 1}: {n} chunks in {t.wall_s:.1f} s (load {t.load1})")
        result["runs"] = runs
        result["peak_rss_mb"] = peak_rss_mb()
        encode, limit = minilm_encoder(model_path())
        result["coverage"] = coverage(system.embedded(), read_sources(args.folder), encode, limit).to_dict()
    finally:
        system.close()
    emit(result)


if __name__ == "__main__":
    main()
