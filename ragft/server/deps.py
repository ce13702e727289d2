"""What the routers share, as FastAPI dependencies: the server state (workspace, model queue, rate limiter)
and the authenticated caller. `create_app` puts one `ServerState` on `app.state.ragft`; routes ask for it with
`Depends(get_state)`, so no route closes over a workspace and each router module stands alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ragft.server.auth import Caller, authenticate
from ragft.server.limits import ApiError, ModelQueue, RateLimiter

if TYPE_CHECKING:
    from ragft.workspace import Workspace


@dataclass
class ServerState:
    """Everything a request may need, built once per app."""

    ws: "Workspace"
    queue: ModelQueue
    limiter: RateLimiter
    upload_lock: threading.Lock = field(default_factory=threading.Lock)
    tickets: dict[str, float] = field(default_factory=dict)  # one-time report links: token -> expiry (monotonic)

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


def get_state(request: Request) -> ServerState:
    return request.app.state.ragft


async def caller(request: Request, state: ServerState = Depends(get_state)) -> Caller:
    """Authenticate (401) then rate-limit (429) every /v1 request."""
    client = request.client.host if request.client else "unknown"
    who = await run_in_threadpool(authenticate, state.ws.users, request.headers.get("authorization"), client)
    state.limiter.check(who.rate_key)
    return who
