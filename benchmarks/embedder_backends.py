"""ONNX Runtime vs sentence-transformers embedder: agreement and throughput on the same texts, one run.

Run from the project root:

    .venv/bin/python benchmarks/embedder_backends.py --beir ../shared/data/scifact --n 1000

Texts: a SciFact sub-corpus of N abstracts, every abstract judged relevant for a test query first, then the
corpus in file order up to N, as ragft's BEIR path embeds them (title line + text, one vector per abstract; long
ones are truncated by both backends at the model's 256 word pieces). Reports the cosine between the two
backends' vectors (min / mean), dense nDCG@10 / Recall@100 of the 300 test queries over that sub-corpus per
backend (exact top-100 by dot product; the query vectors come from the same backend), and encode wall time per
variant: torch (sentence-transformers, batch 16),
ONNX fp32 at each graph optimisation level, thread count and batch size asked for, and optionally dynamic int8
(--int8; the quantised file is written next to the fp32 export), sentence-transformers under torch's bfloat16
autocast (--bf16: the `[embedder] bulk_dtype` ingest path, queried with float32 ONNX vectors), and the export without the transformer fusion
against the fused default (--unfused N: N alternating rounds of each, so load drifts hit both alike). Each variant
embeds the texts once to warm up (--warmup, default 64 texts) and then all N; the load average is printed with
every figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragft.config import EmbedderSettings  # noqa: E402
from ragft.evaluate.beir import BeirData, doc_text, load_beir, score_run  # noqa: E402
from ragft.models.embedder import load_embedder  # noqa: E402


def sub_corpus(data: BeirData, n: int) -> tuple[list[str], list[str]]:
    """(doc ids, texts): every judged document first, then the corpus in file order, N in all."""
    judged = {d for rel in data.qrels.values() for d, g in rel.items() if g > 0 and d in data.corpus}
    ids = [d for d in data.corpus if d in judged]
    ids += [d for d in data.corpus if d not in judged][: max(0, n - len(ids))]
    return ids, [doc_text(*data.corpus[d]) for d in ids]


def dense_quality(doc_ids: list[str], doc_vecs: np.ndarray, embed, data: BeirData) -> str:
    qids = [q for q in data.queries if q in data.qrels]
    qvecs = embed([data.queries[q] for q in qids])
    scores = qvecs @ doc_vecs.T
    top = np.argsort(-scores, axis=1)[:, :100]
    run = {q: [doc_ids[j] for j in row] for q, row in zip(qids, top)}
    m = score_run(run, data)
    return f"nDCG@10 {m['ndcg@10']:.4f} Recall@100 {m['recall@100']:.4f} ({m['queries']} queries)"


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def timed(embed, texts: list[str], warmup: int) -> tuple[np.ndarray, float]:
    embed(texts[:warmup])
    t0 = time.perf_counter()
    vecs = embed(texts)
    return vecs, time.perf_counter() - t0


def timed_against(embed, texts: list[str], warmup: int, ref: np.ndarray | None, label: str) -> np.ndarray:
    """Time one backend (`timed`) and print its seconds, its cosine agreement with the torch vectors `ref`
    (when there are any) and the load average; returns its vectors."""
    vecs, secs = timed(embed, texts, warmup)
    agree = ""
    if ref is not None:
        cos = (vecs * ref).sum(axis=1)
        agree = f", cosine vs torch min {cos.min():.6f} mean {cos.mean():.6f}"
    print(f"{label}: {secs:.1f} s{agree}; {load()}")
    return vecs


def unfused_export(emb) -> Path:  # type: ignore[no-untyped-def]
    """The plain export (no transformer fusion) next to the default one, written on first use."""
    import ragft.models.onnx_embedder as mod

    path = emb.prepare().with_name("model.unfused.onnx")
    if not path.is_file():
        saved, mod.FUSION_TOLERANCE = mod.FUSION_TOLERANCE, -1.0  # no fused graph passes: the plain one is kept
        try:
            mod.export_onnx(emb.folder, path)
        finally:
            mod.FUSION_TOLERANCE = saved
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beir", type=Path, required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=64)
    ap.add_argument("--batch-sizes", default="16", help="comma-separated ONNX batch sizes")
    ap.add_argument("--threads", default="0", help="comma-separated ONNX thread counts (0 = ORT default)")
    ap.add_argument("--levels", default="all", help="comma-separated graph optimisation levels: basic,extended,all")
    ap.add_argument("--int8", action="store_true", help="also dynamic int8 quantisation (of the unfused export)")
    ap.add_argument("--unfused", type=int, default=0, metavar="ROUNDS",
                    help="also the export without transformer fusion: ROUNDS alternating timings of unfused vs fused")
    ap.add_argument("--bf16", action="store_true",
                    help="also sentence-transformers under torch's bfloat16 autocast (the bulk_dtype path), queried "
                         "with the float32 ONNX query vectors as ragft searches")
    ap.add_argument("--no-torch", action="store_true", help="skip sentence-transformers (no agreement figure)")
    ap.add_argument("--cache", type=Path, default=None, help="keep the torch vectors here (.npy) and reuse them")
    args = ap.parse_args()
    data = load_beir(args.beir)
    doc_ids, texts = sub_corpus(data, args.n)
    print(f"{len(texts)} texts (judged first); {load()}")
    ref = None
    if not args.no_torch:
        st = load_embedder(EmbedderSettings(backend="torch"))
        if args.cache is not None and args.cache.is_file():
            ref = np.load(args.cache)
            print(f"torch vectors from {args.cache}")
        else:
            ref, secs = timed(st.embed, texts, args.warmup)
            print(f"torch (sentence-transformers) batch 16: {secs:.1f} s; {load()}")
            if args.cache is not None:
                np.save(args.cache, ref)
        print(f"torch quality: {dense_quality(doc_ids, ref, st.embed, data)}; {load()}")

    import onnxruntime as ort

    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    for level in args.levels.split(","):
        for threads in (int(t) for t in args.threads.split(",")):
            for batch in (int(b) for b in args.batch_sizes.split(",")):
                emb = load_embedder(EmbedderSettings(backend="onnx", batch_size=batch, threads=threads))
                emb.level = levels[level]
                vecs = timed_against(emb.embed, texts, args.warmup, ref,
                                     f"onnx fp32 level {level} threads {threads or 'default'} batch {batch}")
        print(f"onnx fp32 quality: {dense_quality(doc_ids, vecs, emb.embed, data)}; {load()}")
    if args.bf16:
        bulk = load_embedder(EmbedderSettings(backend="torch", bulk_dtype="bfloat16"))
        vecs = timed_against(bulk.embed_bf16, texts, args.warmup, ref, "torch bfloat16 autocast batch 16 (bulk_dtype)")
        query = load_embedder(EmbedderSettings(backend="onnx"))
        print(f"bfloat16 documents, float32 onnx queries: {dense_quality(doc_ids, vecs, query.embed, data)}; {load()}")
    if args.unfused:
        fused = load_embedder(EmbedderSettings(backend="onnx"))
        plain = load_embedder(EmbedderSettings(backend="onnx"))
        plain.model_file = unfused_export(plain)
        for rnd in range(1, args.unfused + 1):
            plain_vecs = timed_against(plain.embed, texts, args.warmup, ref, f"round {rnd}: onnx fp32 unfused")
            fused_vecs = timed_against(fused.embed, texts, args.warmup, ref, f"round {rnd}: onnx fp32 fused (default)")
        cos = (plain_vecs * fused_vecs).sum(axis=1)
        print(f"fused vs unfused cosine min {cos.min():.6f}; unfused quality: "
              f"{dense_quality(doc_ids, plain_vecs, plain.embed, data)}; {load()}")
    if args.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        emb = load_embedder(EmbedderSettings(backend="onnx"))
        src = unfused_export(emb)  # the quantiser cannot type the fused kernels' outputs
        q = src.with_name("model.int8.onnx")
        if not q.is_file():
            quantize_dynamic(str(src), str(q), weight_type=QuantType.QInt8, per_channel=True)
        emb.model_file = q
        vecs = timed_against(emb.embed, texts, args.warmup, ref, "onnx int8 (dynamic, per-channel)")
        print(f"onnx int8 quality: {dense_quality(doc_ids, vecs, emb.embed, data)}; {load()}")


if __name__ == "__main__":
    main()
