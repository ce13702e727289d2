"""The HTTP service: OpenAI-compatible chat API, document API, search, the latest compare report and the web UI.

    ragft serve -w kb --port 8000        # or: uvicorn.run(create_app(Workspace("kb")))

Routes (all /v1 routes need `Authorization: Bearer KEY` once the workspace has users):

| route | what | module |
|---|---|---|
| GET /v1/models | `base`, `rag`, and `ft:NAME` / `hybrid:NAME` per servable adapter | chat.py |
| POST /v1/chat/completions | the last user message is the question; the model id picks strategy and adapter; stream or not | chat.py |
| POST /v1/documents | multipart upload (`file`, repeatable; `groups` comma-separated; `subject`; `meta`, repeatable `KEY=VALUE` like `ragft ingest --meta`) -> the ingest report | documents.py |
| GET /v1/documents, DELETE /v1/documents/{doc_id} | documents the caller may see (with their `meta`); delete is erasure | documents.py |
| POST /v1/search | `{"query", "k", "mode"}` -> hits the caller may see | documents.py |
| GET /v1/report | the HTML report of the latest `ragft compare --report` | pages.py |
| GET /healthz, GET /openapi.json, GET / | liveness, schema, web UI | pages.py |

`create_app` only assembles: one `ServerState` (workspace, model queue, rate limiter; deps.py) on
`app.state.ragft`, which routes receive through `Depends(get_state)`, the error handlers (errors.py), the body
size limit and the routers. Model calls (generation, embedding) run on `ModelQueue` threads, never on the event
loop; the queue is bounded (503 when full) and drained on shutdown, after uvicorn has let in-flight responses
finish. Each job is marked on the workspace generator's `Arrivals` (deps.generator_arrivals, asked at job time:
building the app loads no model), so that generator's batches wait for this server's requests and no other's.
Every error is the OpenAI error JSON `{"error": {"message", "type", "code"}}`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ragft import __version__
from ragft.server import chat, documents, pages
from ragft.server.chat import list_models, parse_model
from ragft.server.deps import ServerState, generator_arrivals
from ragft.server.documents import parse_meta
from ragft.server.errors import install_error_handlers
from ragft.server.limits import BodySizeLimit, LoginGuard, ModelQueue, RateLimiter
from ragft.server.pages import STATIC, latest_report
from ragft.server.schemas import ErrorResponse

if TYPE_CHECKING:
    from ragft.workspace import Workspace

__all__ = ["create_app", "latest_report", "list_models", "parse_meta", "parse_model"]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": "OpenAI error shape"} for code in (400, 401, 403, 404, 413, 429, 503)
}


log = logging.getLogger(__name__)


def warm_up(ws: "Workspace") -> None:
    """Load what a first request would otherwise wait for: the query embedder and the generator's weights (on
    the compute thread, models/compute.py). `ragft serve` runs this on a background thread as it starts, so
    the first chat request does not pay the library imports and the load (several seconds on a laptop CPU,
    docs/benchmarks.md ## Server); a request that comes sooner waits for the load in progress. A failure is
    only logged here: the request that needs the model raises it with the usual error."""
    started, ready = time.perf_counter(), True
    steps = (("embedder", lambda: ws.embedder.embed(["warm up"])),
             ("generator", lambda: getattr(ws.generator, "warm_up", lambda: None)()))
    for name, load in steps:  # each on its own: search needs only the embedder, a remote generator loads nothing
        try:
            load()
        except Exception as exc:  # noqa: BLE001 - reported again, with its error, by the request that needs it
            log.warning("warm-up: the %s did not load: %s: %s", name, type(exc).__name__, exc)
            ready = False
    if ready:
        log.info("models ready in %.1f s", time.perf_counter() - started)


def create_app(ws: "Workspace") -> FastAPI:
    """The FastAPI app over one workspace (settings from `ws.settings.server`)."""
    server = ws.settings.server
    state = ServerState(ws=ws, queue=ModelQueue(server.max_queue, server.workers, arrivals=generator_arrivals(ws)),
                        limiter=RateLimiter(server.rate_limit_per_minute),
                        logins=LoginGuard(server.max_failed_logins_per_minute))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # uvicorn has already waited for in-flight responses; finish anything still queued, then close the store.
        await run_in_threadpool(state.queue.shutdown)
        ws.close()

    app = FastAPI(
        title="ragft", version=__version__, lifespan=lifespan, responses=ERROR_RESPONSES,
        description="OpenAI-compatible chat over your documents (base, rag, ft:NAME, hybrid:NAME), document API, search.",
    )
    app.state.ragft = state
    app.state.ws = ws
    app.state.queue = state.queue
    app.add_middleware(BodySizeLimit, max_bytes=server.max_request_bytes)
    install_error_handlers(app)

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(chat.router)
    app.include_router(documents.router)
    return app
