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


def _readable_report(state: ServerState, who: Caller) -> Path:
    """The latest report folder if `who` may read it: reports hold text of every document their runs touched, so
    only admins and callers holding every one of those groups may (governance/reports.py); 403 otherwise."""
    from ragft.governance.reports import may_read

    folder = latest_report(state.ws)
    if folder is None:
        raise _no_report()
    if not may_read(folder, state.own_groups(who), who.admin):
        raise state.denied(who, "read_report", "this report draws on documents or sources of groups you do not all "
                                              "hold; ask an admin, or run `ragft compare --report` as yourself")
    return folder


@router.get("/v1/report", response_class=HTMLResponse)
async def report(who: Caller = Depends(caller), state: ServerState = Depends(get_state)) -> HTMLResponse:
    folder = await run_in_threadpool(_readable_report, state, who)
    html = await run_in_threadpool((folder / "index.html").read_text, encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})


@router.post("/v1/report/ticket", response_model=ReportTicket)
async def report_ticket(who: Caller = Depends(caller), state: ServerState = Depends(get_state)) -> ReportTicket:
    folder = await run_in_threadpool(_readable_report, state, who)
    tickets = state.tickets
    now = time.monotonic()
    for token in [t for t, (exp, _) in tickets.items() if exp < now]:
        tickets.pop(token, None)
    token = secrets.token_urlsafe(24)
    tickets[token] = (now + TICKET_SECONDS, folder)  # the link opens the report that was checked, nothing else
    return ReportTicket(url=f"report/{token}", expires_in=TICKET_SECONDS)


@router.get("/report/{token}", response_class=HTMLResponse, include_in_schema=False)
async def report_by_ticket(token: str, state: ServerState = Depends(get_state)) -> HTMLResponse:
    expires, folder = state.tickets.pop(token, (None, None))
    if expires is None or expires < time.monotonic() or folder is None:
        raise ApiError(404, "report link expired or already used; open the report again from the UI", code="not_found")
    html = await run_in_threadpool((folder / "index.html").read_text, encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})


def latest_report(ws: "Workspace") -> Path | None:
    """`server.report_dir` if set, else the folder the last `ragft compare --report` wrote (None if none)."""
    from ragft.evaluate.report import LAST_REPORT_FILE

    configured = ws.settings.server.report_dir
    if configured:
        folder = Path(configured) if Path(configured).is_absolute() else ws.path / configured
    else:
        pointer = ws.path / LAST_REPORT_FILE
        if not pointer.is_file():
            return None
        folder = Path(pointer.read_text(encoding="utf-8").strip())
    return folder if (folder / "index.html").is_file() else None
