"""ONNX Runtime embedder: same vectors as sentence-transformers, atomic reusable export, no torch on search.

Fast tests export a tiny random BERT (2 layers, hidden 32) saved as a sentence-transformers folder with the
bundled MiniLM tokenizer, so the real export, tokenisation, pooling and both backends run in seconds; the
`real_model` tests do the same on the bundled all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragft.config import EmbedderSettings
from ragft.errors import ConfigError, ModelError
from ragft.models.embedder import SentenceTransformerEmbedder, load_embedder
from ragft.models.onnx_embedder import OnnxEmbedder, onnx_file

ROOT = Path(__file__).resolve().parents[1]

TEXTS = [
    "How long do I have to return an item?",
    "",
    "Café prices rose 3.5% in 2024 — naïve forecasts missed it.",
    "short",
    " ".join(f"word{i} token" for i in range(400)),  # > 256 word pieces: truncated by both backends
    "Mitochondria are the powerhouse of the cell.\n\nSecond paragraph, with a heading above it.",
]


def _tiny_st_folder(out: Path, pooling: str = "mean") -> Path:
    """A random 2-layer BERT as a sentence-transformers folder (safetensors + tokenizer + pooling config)."""
    import torch
    from transformers import BertConfig, BertModel

    from ragft.models.embedder import BUNDLED_EMBEDDERS

    minilm = BUNDLED_EMBEDDERS["all-MiniLM-L6-v2"][0]()
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512)
    BertModel(cfg).save_pretrained(str(out), safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
                 "sentence_bert_config.json", "modules.json", "config_sentence_transformers.json"):
        shutil.copy(minilm / name, out / name)
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 32,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    return out


@pytest.fixture(scope="module")
def tiny_st(tmp_path_factory):
    return _tiny_st_folder(tmp_path_factory.mktemp("tiny-st"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("RAGFT_CACHE", str(folder))
    return folder


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_onnx_is_the_default_backend_and_constructs_without_loading(cache):
    emb = load_embedder(EmbedderSettings())
    assert isinstance(emb, OnnxEmbedder)
    assert (emb.name, emb.dim) == ("all-MiniLM-L6-v2", 384)
    assert emb._session is None and not emb.onnx_path.exists()  # nothing exported or loaded yet
    assert isinstance(load_embedder(EmbedderSettings(backend="torch")), SentenceTransformerEmbedder)


def test_tiny_model_onnx_matches_sentence_transformers(tiny_st, cache):
    onnx = load_embedder(EmbedderSettings(model=str(tiny_st)))
    torch_emb = load_embedder(EmbedderSettings(model=str(tiny_st), backend="torch"))
    a, b = onnx.embed(TEXTS), torch_emb.embed(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 32) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert _cosines(a, b).min() >= 0.9999
    # Order-independent: length sorting inside `embed` puts rows back where they came from.
    rev = onnx.embed(TEXTS[::-1])[::-1]
    assert np.allclose(rev, a, atol=1e-5)
    assert onnx.embed([]).shape == (0, 32)


def test_the_session_does_not_busy_wait_between_calls(tiny_st, cache):
    """ORT's workers spin after each run by default; a query embedded beside a generation would then take CPU
    from torch (measured in ragft/models/onnx_embedder.py)."""
    emb = load_embedder(EmbedderSettings(model=str(tiny_st)))
    emb.embed(["one query"])
    assert emb._session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_cls_pooling_and_unsupported_pooling(tmp_path, cache):
    cls = _tiny_st_folder(tmp_path / "cls", pooling="cls")
    a = load_embedder(EmbedderSettings(model=str(cls))).embed(TEXTS[:3])
    b = load_embedder(EmbedderSettings(model=str(cls), backend="torch")).embed(TEXTS[:3])
    assert _cosines(a, b).min() >= 0.9999
    mx = _tiny_st_folder(tmp_path / "max", pooling="max")
    with pytest.raises(ConfigError, match='backend = "torch"'):
        load_embedder(EmbedderSettings(model=str(mx)))


def test_export_happens_once_and_is_reused(tiny_st, cache, monkeypatch):
    import ragft.models.onnx_embedder as mod

    calls = []
    real = mod.export_onnx
    monkeypatch.setattr(mod, "export_onnx", lambda folder, target: calls.append(target) or real(folder, target))
    first = load_embedder(EmbedderSettings(model=str(tiny_st)))
    path = first.prepare()
    assert path.is_file() and path.is_relative_to(cache) and len(calls) == 1
    mtime = path.stat().st_mtime_ns
    second = load_embedder(EmbedderSettings(model=str(tiny_st)))  # a new process would build a new embedder
    second.embed(["again"])
    assert len(calls) == 1 and path.stat().st_mtime_ns == mtime
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]  # no temp files left behind


def test_a_failed_export_leaves_no_file(tiny_st, cache, monkeypatch):
    import torch

    def crash(model, args, f, **kwargs):
        Path(f).write_bytes(b"half an onnx file")
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(torch.onnx, "export", crash)
    emb = load_embedder(EmbedderSettings(model=str(tiny_st)))
    with pytest.raises(ModelError, match="killed mid-export"):
        emb.embed(["x"])
    assert not emb.onnx_path.exists()
    assert list(emb.onnx_path.parent.iterdir()) == []


def test_cache_file_name_follows_the_weights(tiny_st, tmp_path, cache):
    copy = Path(shutil.copytree(tiny_st, tmp_path / "copy"))
    assert onnx_file("m", copy) == onnx_file("m", tiny_st)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["layer_norm_eps"] = 1e-6
    (copy / "config.json").write_text(json.dumps(cfg))
    assert onnx_file("m", copy) != onnx_file("m", tiny_st)


def _write_settings(ws: Path, **embedder) -> None:
    from ragft.config import Settings, save_settings

    ws.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    for key, value in embedder.items():
        setattr(settings.embedder, key, value)
    save_settings(ws, settings)


_PROBE = """
import atexit, json, sys
REPORT = sys.argv[1]
def _report():
    heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
    with open(REPORT, "w") as fh:
        json.dump(heavy, fh)
atexit.register(_report)
from ragft.cli import main
sys.argv = ["ragft", *sys.argv[2:]]
main()
"""


def _run_cli_probe(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run `ragft ARGS` in a fresh interpreter; returns the process and the heavy modules it imported."""
    report = tmp_path / "modules.json"
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(report), *args], capture_output=True, text=True,
                          env=env, timeout=300)
    return proc, json.loads(report.read_text()) if report.exists() else ["<no report>"]


def test_search_after_ingest_never_imports_torch(tiny_st, tmp_path, cache):
    ws = tmp_path / "ws"
    _write_settings(ws, model=str(tiny_st))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text("# Returns\n\nYou may return an item within 30 days of delivery.\n")
    (docs / "shipping.md").write_text("# Shipping\n\nOrders ship within two business days.\n")
    proc, _ = _run_cli_probe(tmp_path, "ingest", str(docs), "-w", str(ws), "--json")
    assert proc.returncode == 0, proc.stderr
    proc, heavy = _run_cli_probe(tmp_path, "search", "return an item", "--mode", "dense", "-w", str(ws), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hits"]
    assert heavy == []
    proc, heavy = _run_cli_probe(tmp_path, "--help")
    assert proc.returncode == 0 and heavy == []


def test_an_ask_that_abstains_before_generating_never_imports_torch(tiny_st, tiny_model_dir, tmp_path, cache):
    """The generator is built (its spec checked) but its placement is resolved on first use: resolving needs
    torch, ~2 s of a cold `ragft ask` whose question the sources cannot answer (bundled.TransformersGenerator)."""
    from ragft.config import load_settings, save_settings

    ws = tmp_path / "ws"
    _write_settings(ws, model=str(tiny_st))
    settings = load_settings(ws)
    settings.generator.model = str(tiny_model_dir)
    save_settings(ws, settings)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text("# Returns\n\nYou may return an item within 30 days of delivery.\n")
    proc, _ = _run_cli_probe(tmp_path, "ingest", str(docs), "-w", str(ws), "--json")
    assert proc.returncode == 0, proc.stderr
    proc, heavy = _run_cli_probe(tmp_path, "ask", "Which zebra painted the lighthouse?", "-w", str(ws), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["abstained"] is True
    assert heavy == []


def test_torch_workspace_searches_with_onnx_without_reembed(tiny_st, tmp_path, cache):
    """Vectors of both backends agree, so a workspace ingested with torch keeps working after the switch."""
    from ragft.config import Settings
    from ragft.workspace import Workspace

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, topic in enumerate(["refund policy for returned items", "shipping times and carriers",
                               "warranty on electronics", "store opening hours"]):
        (docs / f"d{i}.txt").write_text(f"This page is about {topic}. " * 3)
    settings = Settings()
    settings.embedder.model, settings.embedder.backend = str(tiny_st), "torch"
    with Workspace(tmp_path / "ws", settings=settings) as ws:
        ws.ingest([docs])
        before = [(h.chunk_id, h.score) for h in ws.search("refund for a returned item", k=4, mode="dense")]
    settings.embedder.backend = "onnx"
    with Workspace(tmp_path / "ws", settings=settings) as ws:
        after = [(h.chunk_id, h.score) for h in ws.search("refund for a returned item", k=4, mode="dense")]
    assert [c for c, _ in after] == [c for c, _ in before]
    assert np.allclose([s for _, s in after], [s for _, s in before], atol=1e-4)


@pytest.mark.real_model
def test_real_minilm_onnx_matches_sentence_transformers():
    """Every paragraph of the demo corpus (and TEXTS); benchmarks/embedder_backends.py does 1,000 SciFact texts."""
    paragraphs = [p.strip() for f in sorted((ROOT / "examples" / "demo" / "corpus").rglob("*.*")) if f.suffix in (".md", ".txt")
                  for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    assert len(paragraphs) >= 20
    texts = TEXTS + paragraphs
    onnx = load_embedder(EmbedderSettings())
    ref = load_embedder(EmbedderSettings(backend="torch")).embed(texts)
    got = onnx.embed(texts)
    cos = _cosines(got, ref)
    nonempty = np.array([bool(t) for t in texts])
    assert cos[nonempty].min() >= 0.999
    assert np.allclose(got, ref, atol=2e-3)


def _op_types(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


def test_export_fuses_attention_when_the_outputs_stay_the_same(tiny_st, cache):
    """The transformer fusion is applied (fused Attention kernel in the cached graph) and changes nothing the
    user sees: test_tiny_model_onnx_matches_sentence_transformers runs on the same fused export."""
    emb = load_embedder(EmbedderSettings(model=str(tiny_st)))
    ops = _op_types(emb.prepare())
    assert "Attention" in ops and "Softmax" not in ops


def test_fusion_that_changes_the_outputs_keeps_the_plain_graph(tiny_st, cache, monkeypatch):
    import ragft.models.onnx_embedder as mod

    monkeypatch.setattr(mod, "FUSION_TOLERANCE", -1.0)  # no fused graph can pass: the plain export is kept
    emb = load_embedder(EmbedderSettings(model=str(tiny_st)))
    path = emb.prepare()
    assert "Attention" not in _op_types(path) and "Softmax" in _op_types(path)
    assert not list(path.parent.glob("*.tmp*"))  # neither the plain nor the fused temp file is left behind
    ref = load_embedder(EmbedderSettings(model=str(tiny_st), backend="torch")).embed(TEXTS)
    assert _cosines(emb.embed(TEXTS), ref).min() >= 0.9999
