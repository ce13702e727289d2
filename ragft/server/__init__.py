"""The HTTP service: OpenAI-compatible API, document API and web UI (`ragft serve`). See app.py.

`serve_in_thread` runs an app on a loopback port in a background thread (tests, benchmarks, notebooks).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from ragft.server.app import create_app

__all__ = ["create_app", "serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", startup_timeout_s: float = 30.0) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port of `host`; yields the base URL; stops (draining) on exit.

    The socket is bound here and handed to uvicorn, so there is no window in which another process can take
    the port between choosing and binding it. It is made with protocol `IPPROTO_TCP`, not the default 0:
    asyncio turns Nagle's algorithm off (TCP_NODELAY) only on connections whose socket names TCP, and with it on,
    each response's second write waited for the client's delayed ACK, about 40 ms per request on loopback
    (`ragft serve`, which lets uvicorn bind, never had that delay).
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=60))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="ragft-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"uvicorn did not start on {host}:{port} within {startup_timeout_s} s")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
