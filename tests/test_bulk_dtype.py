"""Bulk embedding in bfloat16 (`[embedder] bulk_dtype`): when "auto" picks it, where calls go, what vectors come out.

The routing and agreement tests run the tiny random BERT of test_onnx_embedder.py through the real ONNX and
sentence-transformers paths; the real_model test checks the bundled all-MiniLM-L6-v2 (the 1,000-abstract SciFact
figures with nDCG are in docs/benchmarks.md ## Ingest). bfloat16 autocast also runs on CPUs without bfloat16
units (emulated, slower), so these tests do not depend on the machine; only "auto" does, and it is tested on
given flag sets.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from ragft.config import EmbedderSettings
from ragft.models.embedder import SentenceTransformerEmbedder, load_embedder
from ragft.models.onnx_embedder import OnnxEmbedder
from ragft.models.precision import BF16_MIN_TEXTS, bulk_dtype, cpu_flags, native_bf16
from tests.test_onnx_embedder import TEXTS, _tiny_st_folder


@pytest.fixture(scope="module")
def tiny_st(tmp_path_factory):
    return _tiny_st_folder(tmp_path_factory.mktemp("tiny-st-bf16"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGFT_CACHE", str(tmp_path / "cache"))


def _texts(n: int) -> list[str]:
    """n distinct texts of varied length (so the length sort forms batches of different widths)."""
    return [f"{TEXTS[i % len(TEXTS)] or 'empty'} number {i} " + "more words " * (i % 23) for i in range(n)]


def test_cpu_flags_reads_the_first_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize("flags, native", [
    ({"avx2", "fma"}, False),                 # a laptop without bfloat16 units: emulated, slower than float32
    ({"avx512f", "avx512_bf16"}, True),       # Zen 4, Cooper Lake
    ({"amx_bf16", "amx_tile"}, True),         # Sapphire Rapids and later
])
def test_auto_picks_bfloat16_only_with_native_units(flags, native):
    assert native_bf16(frozenset(flags)) is native
    assert bulk_dtype("auto", (), frozenset(flags)) == ("bfloat16" if native else "float32")
    assert bulk_dtype("auto", ("cpu", "cpu"), frozenset(flags)) == "float32"  # the worker pool runs float32
    assert bulk_dtype("float32", (), frozenset(flags)) == "float32"
    assert bulk_dtype("bfloat16", (), frozenset(flags)) == "bfloat16"


def test_bfloat16_with_worker_devices_is_a_config_error():
    with pytest.raises(ValidationError, match="bulk_dtype"):
        EmbedderSettings(bulk_dtype="bfloat16", devices=["cpu", "cpu"])
    assert EmbedderSettings(bulk_dtype="auto", devices=["cpu", "cpu"]).devices == ["cpu", "cpu"]


def test_onnx_bulk_stays_on_onnx_until_a_large_call_then_switches_to_bfloat16(tiny_st, cache):
    emb = load_embedder(EmbedderSettings(model=str(tiny_st), bulk_dtype="bfloat16"))
    assert isinstance(emb, OnnxEmbedder) and emb.bulk_min == BF16_MIN_TEXTS
    small, large = _texts(BF16_MIN_TEXTS - 1), _texts(BF16_MIN_TEXTS)
    with emb.parallel() as embed:
        got_small = embed(small)
        assert emb._bulk is None  # a small ingest never loads torch
        assert np.array_equal(got_small, emb.embed(small))  # exactly the query path's float32 vectors
        got_large = embed(large)
        bulk = emb._bulk
        assert isinstance(bulk, SentenceTransformerEmbedder) and bulk.bulk_dtype == "bfloat16"
        calls = []
        encode = bulk._encode  # embed_bf16 runs it under autocast on the bfloat16 copy of the model
        bulk._encode = lambda model, texts: calls.append((len(texts), model is bulk._bf16_model)) or encode(model, texts)
        embed(small[:3])  # once switched, the rest of the block stays on the bulk path (one precision per flush)
    ref = emb.embed(large)
    cos = (got_large * ref).sum(axis=1)
    assert got_large.dtype == np.float32 and np.allclose(np.linalg.norm(got_large, axis=1), 1.0, atol=1e-5)
    assert cos.min() >= 0.999
    assert not np.array_equal(got_large, ref)  # it did run in bfloat16, not the float32 path again
    assert calls == [(3, True)]
    with emb.parallel() as embed:  # a new block starts on ONNX again
        assert np.array_equal(embed(small[:5]), emb.embed(small[:5]))


def test_float32_bulk_never_loads_the_torch_model(tiny_st, cache):
    emb = load_embedder(EmbedderSettings(model=str(tiny_st), bulk_dtype="float32"))
    with emb.parallel() as embed:
        got = embed(_texts(BF16_MIN_TEXTS))
    assert emb._bulk is None and emb._bulk_factory is None
    assert np.array_equal(got, emb.embed(_texts(BF16_MIN_TEXTS)))


def test_torch_backend_bulk_runs_bfloat16_for_every_call(tiny_st):
    import torch

    emb = load_embedder(EmbedderSettings(model=str(tiny_st), backend="torch", bulk_dtype="bfloat16"))
    texts = _texts(40)
    with emb.parallel() as embed:
        got = embed(texts)
    ref = emb.embed(texts)
    assert (got * ref).sum(axis=1).min() >= 0.999 and not np.array_equal(got, ref)
    # The bfloat16 Linear weights live in a copy: the float32 model that embeds queries is untouched.
    dtypes = {p.dtype for p in emb.model.parameters()}
    assert dtypes == {torch.float32} and torch.bfloat16 in {p.dtype for p in emb._bf16_model.parameters()}


@pytest.mark.real_model
def test_real_minilm_bfloat16_bulk_agrees_with_float32():
    """The bundled model's bulk path in bfloat16 vs its float32 query path, on 300 texts."""
    emb = load_embedder(EmbedderSettings(bulk_dtype="bfloat16"))
    texts = [t for t in TEXTS if t] + _texts(300)
    with emb.parallel() as embed:
        got = embed(texts)
    assert emb._bulk is not None
    assert (got * emb.embed(texts)).sum(axis=1).min() >= 0.999
