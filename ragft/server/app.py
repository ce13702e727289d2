"""The HTTP service: OpenAI-compatible chat API, document API, search, the latest compare report and the web UI.

    ragft serve -w kb --port 8000        # or: uvicorn.run(create_app(Workspace("kb")))

Routes (all /v1 routes need `Authorization: Bearer KEY` once the workspace has users):

| route | what |
|---|---|
| GET /v1/models | `base`, `rag`, and `ft:NAME` / `hybrid:NAME` per servable adapter |
| POST /v1/chat/completions | the last user message is the question; the model id picks strategy and adapter; stream or not |
| POST /v1/documents | multipart upload (`file`, repeatable; `groups` comma-separated; `subject`; `meta`, repeatable `KEY=VALUE` like `ragft ingest --meta`) -> the ingest report |
| GET /v1/documents, DELETE /v1/documents/{doc_id} | documents the caller may see (with their `meta`); delete is erasure |
| POST /v1/search | `{"query", "k", "mode"}` -> hits the caller may see |
| GET /v1/report | the HTML report of the latest `ragft compare --report` |
| GET /healthz, GET /openapi.json, GET / | liveness, schema, web UI |

Model calls (generation, embedding) run on `ModelQueue` threads, never on the event loop; the queue is
bounded (503 when full) and drained on shutdown, after uvicorn has let in-flight responses finish.
Every error is the OpenAI error JSON `{"error": {"message", "type", "code"}}`.

Once users exist, deleting needs an admin or membership of all the document's groups, and public uploads need
an admin (rules in `ragft.server.auth`); every such 403 is also an `access_denied` audit record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragft.errors import AccessDenied, ConfigError, DataError, ModelError, NotFoundError, PolicyError, RagftError
from ragft.governance.output import sanitize_answer
from ragft.server.auth import Caller, authenticate, delete_refusal, upload_refusal
from ragft.server.limits import ApiError, BodySizeLimit, BodyTooLarge, ModelQueue, RateLimiter, error_body
from ragft.server.schemas import (
    MAX_QUESTION_CHARS, ChatCompletion, ChatCompletionRequest, DeleteOut, DocumentList, DocumentOut, ErrorResponse,
    Health, HitOut, IngestOut, ModelCard, ModelList, ReportTicket, SearchRequest, SearchResponse,
)

if TYPE_CHECKING:
    from ragft.types import Answer
    from ragft.workspace import Workspace

log = logging.getLogger("ragft.server")
STATIC = Path(__file__).parent / "static"
ADAPTER_STRATEGY = {"ft": "ft", "raft": "hybrid"}  # adapter kind -> strategy that serves it
UI_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'"
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": "OpenAI error shape"} for code in (400, 401, 403, 404, 413, 429, 503)
}


# --------------------------------------------------------------------------- errors
def _ragft_error(exc: RagftError) -> ApiError:
    """Library errors -> HTTP: bad input 400, unknown thing 404, refused 403, policy 422, model failure 502."""
    if isinstance(exc, NotFoundError):
        return ApiError(404, str(exc), "invalid_request_error", "not_found")
    if isinstance(exc, AccessDenied):
        return ApiError(403, str(exc), "permission_error", "forbidden")
    if isinstance(exc, PolicyError):
        return ApiError(422, str(exc), "invalid_request_error", "policy_violation")
    if isinstance(exc, ModelError):
        return ApiError(502, str(exc), "server_error", "model_error")
    if isinstance(exc, (ConfigError, DataError)):
        return ApiError(400, str(exc), "invalid_request_error", "invalid_request")
    return ApiError(400, str(exc), "invalid_request_error", None)


def _json_error(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return _json_error(exc)

    @app.exception_handler(RagftError)
    async def _lib(_: Request, exc: RagftError) -> JSONResponse:
        return _json_error(_ragft_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:5]
        )
        return _json_error(ApiError(400, f"invalid request: {problems}", "invalid_request_error", "invalid_request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, BodyTooLarge):
            max_bytes = request.app.state.ws.settings.server.max_request_bytes
            return _json_error(ApiError(413, f"request body larger than {max_bytes} bytes; send a smaller file or "
                                             "raise server.max_request_bytes in ragft.toml", code="request_too_large"))
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}; see /openapi.json"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}; see /openapi.json"
        else:
            message = str(exc.detail)
        type_ = "server_error" if exc.status_code >= 500 else "invalid_request_error"
        return JSONResponse(error_body(message, type_, str(exc.status_code)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal server error; see the server log", "server_error", "internal_error"),
                            status_code=500)


# --------------------------------------------------------------------------- model names
def parse_model(ws: "Workspace", model: str) -> tuple[str, str | None]:
    """Model id -> (strategy, adapter). `ft`/`hybrid` alone mean the newest adapter of that kind."""
    if model in ("base", "rag", "ft", "hybrid"):
        return model, None
    strategy, sep, adapter = model.partition(":")
    if sep and strategy in ("ft", "hybrid") and adapter:
        from ragft.finetune.registry import AdapterRegistry

        registry = AdapterRegistry(ws.path)
        if registry.exists(adapter):
            info = registry.get_servable(adapter)  # AccessDenied (403) for a tainted, unapproved adapter
            if ADAPTER_STRATEGY.get(info.kind) == strategy:
                return strategy, adapter
    known = ", ".join(card.id for card in list_models(ws))
    raise ApiError(404, f"unknown model {model!r}; available: {known} (GET /v1/models)", "invalid_request_error",
                   "model_not_found")


def list_models(ws: "Workspace") -> list[ModelCard]:
    cards = [ModelCard(id="base", strategy="base"), ModelCard(id="rag", strategy="rag")]
    for info in ws.adapters():
        strategy = ADAPTER_STRATEGY.get(info.kind)
        if strategy is None or (info.tainted and not info.approved):
            continue  # refused at answer time anyway: do not advertise it
        cards.append(ModelCard(id=f"{strategy}:{info.name}", strategy=strategy, adapter=info.name))
    return cards


def _question(req: ChatCompletionRequest) -> str:
    for msg in reversed(req.messages):
        if msg.role == "user":
            text = msg.text().strip()
            if not text:
                break
            if len(text) > MAX_QUESTION_CHARS:
                raise ApiError(400, f"the question has {len(text)} characters; the limit is {MAX_QUESTION_CHARS}",
                               code="question_too_long")
            return text
    raise ApiError(400, "no non-empty user message: the last message with role 'user' is the question",
                   code="invalid_request")


# --------------------------------------------------------------------------- streaming
_HOLD = re.compile(r"(!?\[[^\]]*$|!?\[[^\]]*\]$|!?\[[^\]]*\]\([^)]*$|<[^>]*$|!$|&[#\w]*$)")


class StreamSanitizer:
    """Streams `sanitize_answer` output: each delta is a new suffix of the sanitised text so far.

    A construct that may still become live (an unclosed `<tag`, `![alt](url`, `[text](`) is held back until it
    closes. If sanitising later text rewrites something already sent, deltas stop; the final chunk's `answer`
    is the authoritative, fully sanitised text either way.
    """

    def __init__(self) -> None:
        self.raw = ""
        self.sent = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        self.raw += piece
        if self.stopped:
            return ""
        safe = sanitize_answer(self.raw)
        m = _HOLD.search(safe)
        stable = safe[: m.start()] if m else safe
        if not stable.startswith(self.sent):
            self.stopped = True
            return ""
        delta, self.sent = stable[len(self.sent):], stable
        return delta


class _ClientGone(Exception):
    """Raised inside the model thread when the HTTP client disconnected: stops generating early."""


def _sse(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _citations(answer: "Answer") -> list[dict[str, Any]]:
    return [c.to_dict() for c in answer.citations]


# --------------------------------------------------------------------------- the app
def create_app(ws: "Workspace") -> FastAPI:
    """The FastAPI app over one workspace (settings from `ws.settings.server`)."""
    server = ws.settings.server
    queue = ModelQueue(server.max_queue, server.workers)
    limiter = RateLimiter(server.rate_limit_per_minute)
    upload_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # uvicorn has already waited for in-flight responses; finish anything still queued, then close the store.
        await run_in_threadpool(queue.shutdown)
        ws.close()

    app = FastAPI(
        title="ragft", version="0.1.0", lifespan=lifespan, responses=ERROR_RESPONSES,
        description="OpenAI-compatible chat over your documents (base, rag, ft:NAME, hybrid:NAME), document API, search.",
    )
    app.state.ws = ws
    app.state.queue = queue
    app.add_middleware(BodySizeLimit, max_bytes=server.max_request_bytes)
    _install_error_handlers(app)

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    async def caller(request: Request) -> Caller:
        """Authenticate (401) then rate-limit (429) every /v1 request."""
        client = request.client.host if request.client else "unknown"
        who = await run_in_threadpool(authenticate, ws.users, request.headers.get("authorization"), client)
        limiter.check(who.rate_key)
        return who

    def own_groups(who: Caller) -> set[str] | None:
        return None if who.user is None else set(ws.users.groups_of(who.user))

    def denied(who: Caller, action: str, reason: str, **fields: Any) -> ApiError:
        """Record a refused change in the audit log (who, what, why; never content) and build its 403."""
        ws.audit.append("access_denied", principal=who.user, action=action, reason=reason, **fields)
        return ApiError(403, reason, "permission_error", "forbidden")

    def check_k(k: int | None) -> None:
        if k is not None and k > server.max_top_k:
            raise ApiError(400, f"k/top_k {k} is above the limit {server.max_top_k} (server.max_top_k in ragft.toml)",
                           code="top_k_too_large")

    # ------------------------------------------------------------------ UI and health
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": UI_CSP, "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(auth=await run_in_threadpool(ws.users.exists), queue=queue.pending)

    # ------------------------------------------------------------------ models and chat
    @app.get("/v1/models", response_model=ModelList)
    async def models(_: Caller = Depends(caller)) -> ModelList:
        return ModelList(data=await run_in_threadpool(list_models, ws))

    @app.post("/v1/chat/completions", response_model=ChatCompletion,
              responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE chunks when stream=true"}})
    async def chat(req: ChatCompletionRequest, who: Caller = Depends(caller)) -> Any:
        question = _question(req)
        strategy, adapter = await run_in_threadpool(parse_model, ws, req.model)
        check_k(req.top_k)
        max_tokens = req.max_completion_tokens or req.max_tokens
        if max_tokens is not None and max_tokens > server.max_tokens:
            raise ApiError(400, f"max_tokens {max_tokens} is above the limit {server.max_tokens} "
                                "(server.max_tokens in ragft.toml)", code="max_tokens_too_large")
        kwargs = dict(strategy=strategy, adapter=adapter, user=who.user, k=req.top_k, max_tokens=max_tokens)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not req.stream:
            answer = await queue.run(ws.ask, question, **kwargs)
            text = sanitize_answer(answer.answer)
            return ChatCompletion(
                id=completion_id, created=created, model=req.model, strategy=strategy,
                choices=[{"message": {"content": text, "citations": _citations(answer)}}],
                usage={"prompt_tokens": answer.tokens_in, "completion_tokens": answer.tokens_out,
                       "total_tokens": answer.tokens_in + answer.tokens_out},
                citations=_citations(answer), abstained=answer.abstained,
            )
        return _stream(question, kwargs, req, completion_id, created)

    def _stream(question: str, kwargs: dict[str, Any], req: ChatCompletionRequest, cid: str, created: int) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        gone = threading.Event()

        def on_token(piece: str) -> None:
            if gone.is_set():
                raise _ClientGone()
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        def work() -> "Answer":
            try:
                return ws.ask(question, on_token=on_token, **kwargs)
            finally:
                loop.call_soon_threadsafe(pieces.put_nowait, None)

        future = asyncio.wrap_future(queue.submit(work))  # QueueFull (503) here, before the response starts

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            return _sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

        async def events() -> AsyncIterator[bytes]:
            sanitizer = StreamSanitizer()
            try:
                yield chunk({"role": "assistant", "content": ""})
                while (piece := await pieces.get()) is not None:
                    if delta := sanitizer.feed(piece):
                        yield chunk({"content": delta})
                try:
                    answer = await future
                except RagftError as exc:
                    yield _sse(_ragft_error(exc).body())
                    return
                except Exception:
                    log.exception("streamed answer failed")
                    yield _sse(error_body("internal server error; see the server log", "server_error", "internal_error"))
                    return
                yield chunk({}, "stop", citations=_citations(answer), abstained=answer.abstained,
                            answer=sanitize_answer(answer.answer), strategy=answer.strategy)
                if req.stream_options is not None and req.stream_options.include_usage:
                    yield _sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
                                "choices": [], "usage": {"prompt_tokens": answer.tokens_in,
                                                         "completion_tokens": answer.tokens_out,
                                                         "total_tokens": answer.tokens_in + answer.tokens_out}})
                yield _sse("[DONE]")
            finally:
                gone.set()  # a disconnect cancels this generator: stop the model thread at its next token
                if not future.done():
                    future.add_done_callback(lambda f: f.exception())  # consume, so asyncio does not warn

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # ------------------------------------------------------------------ documents and search
    @app.post("/v1/documents", response_model=IngestOut)
    async def upload(
        file: list[UploadFile] = File(..., description="One or more files (txt, md, html, pdf, docx, csv, json)."),
        groups: str = Form("", description="Comma-separated groups allowed to read the documents; empty = public."),
        subject: str | None = Form(None, description="Data-subject id, for erasure with `ragft forget --subject`."),
        meta: list[str] = Form([], description="Your own `KEY=VALUE` tag on the documents (repeatable, as "
                                               "`ragft ingest --meta`); reserved keys such as groups are refused."),
        who: Caller = Depends(caller),
    ) -> IngestOut:
        wanted = sorted({g.strip() for g in groups.split(",") if g.strip()})
        metadata = parse_meta(meta)
        names = [_safe_name(f.filename) for f in file]

        def authorise() -> None:
            mine = own_groups(who)
            reason = upload_refusal(who, wanted, mine)
            if reason:
                raise denied(who, "upload", reason, groups=wanted)
            for doc_id in _upload_doc_ids(ws, names, who.user):  # re-uploading replaces: the delete rule applies
                doc = ws.store.get_document(doc_id)
                if doc is not None and (reason := delete_refusal(who, doc.groups, mine)):
                    raise denied(who, "upload", f"replacing document {doc_id}: {reason}", doc_id=doc_id)

        await run_in_threadpool(authorise)
        staged = [(name, await f.read()) for name, f in zip(names, file)]
        return await queue.run(_ingest_uploads, ws, staged, wanted, subject or None, who.user, upload_lock, metadata)

    @app.get("/v1/documents", response_model=DocumentList)
    async def documents(who: Caller = Depends(caller)) -> DocumentList:
        def visible() -> list[DocumentOut]:
            mine = own_groups(who)
            return [DocumentOut(doc_id=d.doc_id, source=d.source, title=d.title, groups=list(d.groups), subject=d.subject,
                                meta=dict(d.metadata.get("user") or {}))
                    for d in ws.store.list_documents() if who.may_see(d.groups, mine)]

        return DocumentList(data=await run_in_threadpool(visible))

    @app.delete("/v1/documents/{doc_id}", response_model=DeleteOut)
    async def delete(doc_id: str, who: Caller = Depends(caller)) -> DeleteOut:
        def run() -> DeleteOut:
            doc = ws.store.get_document(doc_id)
            mine = own_groups(who)
            if doc is None or not (who.admin or who.may_see(doc.groups, mine)):  # same 404: no existence oracle
                if doc is not None:
                    ws.audit.append("access_denied", principal=who.user, action="delete", doc_id=doc_id,
                                    reason="document not visible to the caller")
                raise ApiError(404, f"no document {doc_id!r}; GET /v1/documents lists yours", code="not_found")
            if reason := delete_refusal(who, doc.groups, mine):
                raise denied(who, "delete", reason, doc_id=doc_id)
            return DeleteOut(**ws.delete(doc_id, principal=who.user).to_dict())

        return await run_in_threadpool(run)

    @app.post("/v1/search", response_model=SearchResponse)
    async def search(req: SearchRequest, who: Caller = Depends(caller)) -> SearchResponse:
        check_k(req.k)

        def run() -> SearchResponse:
            hits = ws.search(req.query, k=req.k, mode=req.mode, user=who.user)
            ws.audit.append("search", principal=who.user, mode=req.mode or ws.settings.retrieval.mode,
                            chunk_ids=[h.chunk_id for h in hits])
            return SearchResponse(hits=[HitOut(**h.to_dict()) for h in hits])

        return await queue.run(run)

    # ------------------------------------------------------------------ compare report
    @app.get("/v1/report", response_class=HTMLResponse)
    async def report(_: Caller = Depends(caller)) -> HTMLResponse:
        folder = latest_report(ws)
        if folder is None:
            raise ApiError(404, "no compare report yet; run `ragft compare --report DIR` in this workspace",
                           code="not_found")
        html = await run_in_threadpool((folder / "index.html").read_text, encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})

    # A browser cannot put a bearer header on a link, so the UI trades its key for a one-time URL (60 s).
    tickets: dict[str, float] = {}

    @app.post("/v1/report/ticket", response_model=ReportTicket)
    async def report_ticket(_: Caller = Depends(caller)) -> ReportTicket:
        if latest_report(ws) is None:
            raise ApiError(404, "no compare report yet; run `ragft compare --report DIR` in this workspace",
                           code="not_found")
        now = time.monotonic()
        for token in [t for t, exp in tickets.items() if exp < now]:
            tickets.pop(token, None)
        token = secrets.token_urlsafe(24)
        tickets[token] = now + 60.0
        return ReportTicket(url=f"report/{token}", expires_in=60)

    @app.get("/report/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def report_by_ticket(token: str) -> HTMLResponse:
        expires = tickets.pop(token, None)
        folder = latest_report(ws)
        if expires is None or expires < time.monotonic() or folder is None:
            raise ApiError(404, "report link expired or already used; open the report again from the UI", code="not_found")
        html = await run_in_threadpool((folder / "index.html").read_text, encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})

    return app


def latest_report(ws: "Workspace") -> Path | None:
    """`server.report_dir` if set, else the folder the last `ragft compare --report` wrote (None if none)."""
    from ragft.workspace import LAST_REPORT_FILE

    configured = ws.settings.server.report_dir
    if configured:
        folder = Path(configured) if Path(configured).is_absolute() else ws.path / configured
    else:
        pointer = ws.path / LAST_REPORT_FILE
        if not pointer.is_file():
            return None
        folder = Path(pointer.read_text(encoding="utf-8").strip())
    return folder if (folder / "index.html").is_file() else None


def _safe_name(filename: str | None) -> str:
    """A plain file name (no folders, no dot files) that keeps the extension the loaders dispatch on."""
    name = Path((filename or "").replace("\\", "/")).name
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:128]
    return name or "upload.txt"


def parse_meta(pairs: list[str]) -> dict[str, str]:
    """The `meta` form fields (`KEY=VALUE`, repeatable; a later key wins, as with `ragft ingest --meta`), checked
    by the same `check_user_metadata` as the CLI: reserved ACL/lineage keys are a 400 naming the key."""
    from ragft.ingest import check_user_metadata

    parsed: dict[str, str] = {}
    for pair in pairs:
        if not pair.strip():
            continue  # an empty form input (a browser sends one for a blank field)
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ApiError(400, f"meta takes KEY=VALUE, got {pair!r}", code="invalid_request")
        parsed[key.strip()] = value
    return check_user_metadata(parsed)


def _upload_folder(ws: "Workspace", principal: str | None) -> Path:
    return ws.path / "uploads" / (principal or "_open")


def _upload_doc_ids(ws: "Workspace", names: list[str], principal: str | None) -> list[str]:
    """The document ids these uploads will have (ids derive from the per-user staging path)."""
    from ragft.ingest import doc_id_for

    return [doc_id_for(_upload_folder(ws, principal) / name) for name in names]


def _ingest_uploads(ws: "Workspace", files: list[tuple[str, bytes]], groups: list[str], subject: str | None,
                    principal: str | None, lock: threading.Lock, metadata: dict[str, str] | None = None) -> IngestOut:
    """Write uploads to a per-user staging folder, ingest them, delete the copies (the store keeps the content).

    The staging path is stable per user and file name, so re-uploading a changed file replaces the old
    document (doc ids derive from the path) and unchanged content is a no-op, as with `ragft ingest`.
    """
    from ragft.ingest import doc_id_for

    folder = _upload_folder(ws, principal)
    with lock:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in files:
            path = folder / name
            path.write_bytes(data)
            paths.append(path)
        try:
            report = ws.ingest(paths, groups=groups, subject=subject, principal=principal, metadata=metadata)
        finally:
            for path in paths:
                path.unlink(missing_ok=True)
    shown = {str(p): p.name for p in paths}
    failed = {f.path for f in report.failed} | {s.path for s in report.skipped}
    return IngestOut(
        added=report.added, updated=report.updated, unchanged=report.unchanged, chunks=report.chunks,
        failed=[{"path": shown.get(f.path, f.path), "error": f.error} for f in report.failed],
        skipped=[{"path": shown.get(s.path, s.path), "reason": s.reason} for s in report.skipped],
        doc_ids=[doc_id_for(p) for p in paths if str(p) not in failed],
    )
