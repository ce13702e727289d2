"""Shared fixtures. Every test runs offline with its own workspace; real models load once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Point RAGFT_WORKSPACE at a fresh folder so no test touches ./ragft-workspace."""
    monkeypatch.setenv("RAGFT_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def hash_embedder():
    from tests.fakes import HashEmbedder

    return HashEmbedder()


@pytest.fixture
def fast_ws(tmp_path, hash_embedder):
    """A workspace on the real SQLite store with the fast hash embedder."""
    from ragft.workspace import Workspace

    ws = Workspace(tmp_path / "fast-ws", embedder=hash_embedder)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def real_embedder():
    """The bundled all-MiniLM-L6-v2, loaded once per test session."""
    from ragft.config import EmbedderSettings
    from ragft.models.embedder import load_embedder

    return load_embedder(EmbedderSettings())


@pytest.fixture(scope="session")
def real_generator():
    """The bundled SmolLM2-135M-Instruct, loaded once per test session."""
    from ragft.config import GeneratorSettings
    from ragft.models.registry import load_generator

    return load_generator(GeneratorSettings())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Llama (2 layers, hidden 64) with the SmolLM2 tokenizer + chat template, as a local HF folder."""
    from tests.tiny_model import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def tiny_generator(tiny_model_dir):
    """A fresh TransformersGenerator on the tiny model (real transformers/PEFT code paths, gibberish output).

    float32 whatever the CPU: `dtype = "auto"` is bfloat16 on CPUs with bfloat16 units, where bfloat16 is then
    the hardware's; these tests check logic on every machine. The bfloat16 path runs in the real-model tests,
    tests/test_device.py, and tests/test_continuous.py's exact batch-invariance tests.
    """
    from ragft.models.bundled import TransformersGenerator

    return TransformersGenerator(str(tiny_model_dir), context_window=512, dtype="float32")


@pytest.fixture
def shared_data():
    if not SHARED_DATA.exists():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pg_dsn():
    """Admin DSN of a real PostgreSQL 18 + pgvector started once per session (tests/pg_server.py)."""
    from tests.pg_server import pgserver_missing_reason, temporary_server

    reason = pgserver_missing_reason()
    if reason:
        pytest.skip(reason)
    with temporary_server() as dsn:
        yield dsn
