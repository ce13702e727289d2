"""The document API and search: `POST /v1/documents` (multipart upload -> ingest report), `GET /v1/documents`
(the caller's documents), `DELETE /v1/documents/{doc_id}` (erasure), `POST /v1/search`.

Once users exist, deleting needs an admin or membership of all the document's groups, and public uploads need
an admin (rules in `ragft.server.auth`); every such 403 is also an `access_denied` audit record.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ragft.ingest import check_user_metadata, doc_id_for
from ragft.server.auth import Caller, delete_refusal, upload_refusal
from ragft.server.deps import ServerState, caller, get_state, public_source
from ragft.server.limits import ApiError, error_body
from ragft.server.schemas import (
    DeleteOut, DocumentList, DocumentOut, HitOut, IngestOut, SearchRequest, SearchResponse,
)

if TYPE_CHECKING:
    from ragft.workspace import Workspace

router = APIRouter()


@router.post("/v1/documents", response_model=IngestOut,
             responses={422: {"description": "no file of the batch was stored: the error body, with the report as "
                                             "`error.report` (each file's reason)"}})
async def upload(
    file: list[UploadFile] = File(..., description="One or more files (txt, md, html, pdf, docx, csv, json)."),
    groups: str = Form("", description="Comma-separated groups allowed to read the documents; empty = public."),
    subject: str | None = Form(None, description="Data-subject id, for erasure with `ragft forget --subject`."),
    meta: list[str] = Form([], description="Your own `KEY=VALUE` tag on the documents (repeatable, as "
                                           "`ragft ingest --meta`); reserved keys such as groups are refused."),
    who: Caller = Depends(caller),
    state: ServerState = Depends(get_state),
) -> Any:
    ws = state.ws
    wanted = sorted({g.strip() for g in groups.split(",") if g.strip()})
    metadata = parse_meta(meta)
    names = [_safe_name(f.filename) for f in file]

    def authorise() -> None:
        mine = state.own_groups(who)
        reason = upload_refusal(who, wanted, mine)
        if reason:
            raise state.denied(who, "upload", reason, groups=wanted)
        for doc_id in _upload_doc_ids(ws, names, who.user):  # re-uploading replaces: the delete rule applies
            doc = ws.store.get_document(doc_id)
            if doc is not None and (reason := delete_refusal(who, doc.groups, mine)):
                raise state.denied(who, "upload", f"replacing document {doc_id}: {reason}", doc_id=doc_id)

    await run_in_threadpool(authorise)
    staged = [(name, await f.read()) for name, f in zip(names, file)]
    report = await state.queue.run(_ingest_uploads, ws, staged, wanted, subject or None, who.user,
                                   state.upload_lock, metadata)
    if not (report.added or report.updated or report.unchanged):
        # nothing of the batch was stored: a client checking only the status must not read success. The error
        # body every non-2xx response has, with the report (each file's reason) in it
        reasons = "; ".join(f"{f['path']}: {f.get('error') or f.get('reason')}" for f in report.failed + report.skipped)
        body = error_body(f"no file was stored: {reasons or 'no files'}", "invalid_request_error", "nothing_stored")
        body["error"]["report"] = report.model_dump()
        return JSONResponse(status_code=422, content=body)
    return report


@router.get("/v1/documents", response_model=DocumentList)
async def documents(who: Caller = Depends(caller), state: ServerState = Depends(get_state)) -> DocumentList:
    def visible() -> list[DocumentOut]:
        mine = state.own_groups(who)
        return [DocumentOut(**{**d.view().to_dict(), "source": public_source(state.ws, d.doc_id, d.source)})
                for d in state.ws.store.list_documents() if who.may_see(d.groups, mine)]

    return DocumentList(data=await run_in_threadpool(visible))


@router.delete("/v1/documents/{doc_id}", response_model=DeleteOut)
async def delete(doc_id: str, who: Caller = Depends(caller), state: ServerState = Depends(get_state)) -> DeleteOut:
    ws = state.ws

    def run() -> DeleteOut:
        doc = ws.store.get_document(doc_id)
        mine = state.own_groups(who)
        if doc is None or not (who.admin or who.may_see(doc.groups, mine)):  # same 404: no existence oracle
            if doc is not None:
                ws.audit.append("access_denied", principal=who.user, action="delete", doc_id=doc_id,
                                reason="document not visible to the caller")
            raise ApiError(404, f"no document {doc_id!r}; GET /v1/documents lists yours", code="not_found")
        if reason := delete_refusal(who, doc.groups, mine):
            raise state.denied(who, "delete", reason, doc_id=doc_id)
        return DeleteOut(**ws.delete(doc_id, principal=who.user).to_dict())

    return await run_in_threadpool(run)


@router.post("/v1/search", response_model=SearchResponse)
async def search(req: SearchRequest, who: Caller = Depends(caller), state: ServerState = Depends(get_state)) -> SearchResponse:
    state.check_k(req.k)

    def run() -> SearchResponse:
        hits = state.ws.search(req.query, k=req.k, mode=req.mode, user=who.user)  # audited by the Workspace
        return SearchResponse(hits=[HitOut(**{**h.to_dict(), "source": public_source(state.ws, h.doc_id, h.source)})
                                    for h in hits])

    return await state.queue.run(run)


# --------------------------------------------------------------------------- uploads
def _safe_name(filename: str | None) -> str:
    """A plain file name (no folders, no dot files) that keeps the extension the loaders dispatch on."""
    name = Path((filename or "").replace("\\", "/")).name
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:128]
    return name or "upload.txt"


def parse_meta(pairs: list[str]) -> dict[str, str]:
    """The `meta` form fields (`KEY=VALUE`, repeatable; a later key wins, as with `ragft ingest --meta`), checked
    by the same `check_user_metadata` as the CLI: reserved ACL/lineage keys are a 400 naming the key."""
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
    return [doc_id_for(_upload_folder(ws, principal) / name) for name in names]


def _ingest_uploads(ws: "Workspace", files: list[tuple[str, bytes]], groups: list[str], subject: str | None,
                    principal: str | None, lock: threading.Lock, metadata: dict[str, str] | None = None) -> IngestOut:
    """Write uploads to a per-user staging folder, ingest them, delete the copies (the store keeps the content).

    The staging path is stable per user and file name, so re-uploading a changed file replaces the old
    document (doc ids derive from the path) and unchanged content is a no-op, as with `ragft ingest`.
    """
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
