"""The web UI (`/`, `/static`), liveness (`/healthz`) and the latest compare report (`/v1/report`, and the
one-time `/report/{token}` links the UI opens, since a browser cannot put a bearer header on a link)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, HTMLResponse
from starlette.concurrency import run_in_threadpool

from ragft.server.auth import Caller
from ragft.server.deps import ServerState, caller, get_state
from ragft.server.limits import ApiError
from ragft.server.schemas import Health, ReportTicket

if TYPE_CHECKING:
    from ragft.workspace import Workspace

STATIC = Path(__file__).parent / "static"
UI_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'"
TICKET_SECONDS = 60
router = APIRouter()


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": UI_CSP, "Cache-Control": "no-cache"})


@router.get("/healthz", response_model=Health)
async def healthz(state: ServerState = Depends(get_state)) -> Health:
    return Health(auth=await run_in_threadpool(state.ws.users.exists), queue=state.queue.pending)


def _no_report() -> ApiError:
    return ApiError(404, "no compare report yet; run `ragft compare --report DIR` in this workspace", code="not_found")


@router.get("/v1/report", response_class=HTMLResponse)
async def report(_: Caller = Depends(caller), state: ServerState = Depends(get_state)) -> HTMLResponse:
    folder = latest_report(state.ws)
    if folder is None:
        raise _no_report()
    html = await run_in_threadpool((folder / "index.html").read_text, encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})


@router.post("/v1/report/ticket", response_model=ReportTicket)
async def report_ticket(_: Caller = Depends(caller), state: ServerState = Depends(get_state)) -> ReportTicket:
    if latest_report(state.ws) is None:
        raise _no_report()
    tickets = state.tickets
    now = time.monotonic()
    for token in [t for t, exp in tickets.items() if exp < now]:
        tickets.pop(token, None)
    token = secrets.token_urlsafe(24)
    tickets[token] = now + TICKET_SECONDS
    return ReportTicket(url=f"report/{token}", expires_in=TICKET_SECONDS)


@router.get("/report/{token}", response_class=HTMLResponse, include_in_schema=False)
async def report_by_ticket(token: str, state: ServerState = Depends(get_state)) -> HTMLResponse:
    expires = state.tickets.pop(token, None)
    folder = latest_report(state.ws)
    if expires is None or expires < time.monotonic() or folder is None:
        raise ApiError(404, "report link expired or already used; open the report again from the UI", code="not_found")
    html = await run_in_threadpool((folder / "index.html").read_text, encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})


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
