"""What the routers share, as FastAPI dependencies: the server state (workspace, model queue, rate limiter)
and the authenticated caller. `create_app` puts one `ServerState` on `app.state.ragft`; routes ask for it with
`Depends(get_state)`, so no route closes over a workspace and each router module stands alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ragft.errors import RagftError
from ragft.models.batcher import arrivals_of
from ragft.server.auth import Caller, authenticate
from ragft.server.limits import ApiError, ArrivalsSource, LoginGuard, ModelQueue, RateLimiter

if TYPE_CHECKING:
    from ragft.models.batcher import Arrivals
    from ragft.workspace import Workspace


@dataclass
class ServerState:
    """Everything a request may need, built once per app."""

    ws: "Workspace"
    queue: ModelQueue
    limiter: RateLimiter
    logins: LoginGuard
    upload_lock: threading.Lock = field(default_factory=threading.Lock)
    tickets: dict[str, tuple[float, Path]] = field(default_factory=dict)  # one-time report links: token -> (expiry, folder)

    def own_groups(self, who: Caller) -> set[str] | None:
        return None if who.user is None else set(self.ws.users.groups_of(who.user))

    def denied(self, who: Caller, action: str, reason: str, **fields: Any) -> ApiError:
        """Record a refused change in the audit log (who, what, why; never content) and build its 403."""
        self.ws.audit.append("access_denied", principal=who.user, action=action, reason=reason, **fields)
        return ApiError(403, reason, "permission_error", "forbidden")

    def check_k(self, k: int | None) -> None:
        limit = self.ws.settings.server.max_top_k
        if k is not None and k > limit:
            raise ApiError(400, f"k/top_k {k} is above the limit {limit} (server.max_top_k in ragft.toml)",
                           code="top_k_too_large")


def public_source(ws: "Workspace", doc_id: str, source: str) -> str:
    """What the API shows as a document's source: the path relative to the folder it was ingested from (recorded
    at ingest), else relative to the workspace, else the file name; never the server's absolute path."""
    if source.startswith("sql:"):
        return source
    doc = ws.store.get_document(doc_id)
    rel = doc.metadata.get("relpath") if doc is not None else None
    if rel:
        return str(rel)
    try:
        return Path(source).resolve().relative_to(ws.path.resolve()).as_posix()
    except ValueError:
        return Path(source).name


def generator_arrivals(ws: "Workspace") -> ArrivalsSource:
    """For the `ModelQueue`: where to mark a job, asked on the job's thread when it starts, so building the app
    builds no generator. The answer is the `Arrivals` of `ws.generator`, the one generator every strategy of this
    workspace answers through (adapters switch on it per call), or None when it batches nothing (remote engine).

    The generator object is built here on the first job (its weights still load on the first generation); the
    Workspace builds it once even for concurrent first jobs, so they mark the one their answers use. A generator
    that cannot be built (a missing API key) marks nothing; the job itself then reports the error, or runs if it
    needs no generator.
    """

    def arrivals() -> "Arrivals | None":
        try:
            generator = ws.generator
        except RagftError:
            return None
        return arrivals_of(generator)

    return arrivals


def get_state(request: Request) -> ServerState:
    return request.app.state.ragft


async def caller(request: Request, state: ServerState = Depends(get_state)) -> Caller:
    """Authenticate (401) then rate-limit (429) every /v1 request. Failed logins are audited (address, never the key
    tried) and limited per client address (`server.max_failed_logins_per_minute`)."""
    client = request.client.host if request.client else "unknown"
    state.logins.check(client)
    try:
        who = await run_in_threadpool(authenticate, state.ws.users, request.headers.get("authorization"), client)
    except ApiError as exc:
        if exc.status == 401:
            failures = state.logins.failed(client)
            await run_in_threadpool(state.ws.audit.append, "auth_failed", client=client, path=request.url.path,
                                    failures_this_minute=failures)
        raise
    state.limiter.check(who.rate_key)
    return who


