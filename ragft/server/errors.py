"""Every server error as the OpenAI error JSON `{"error": {"message", "type", "code"}}`: library errors mapped
to HTTP statuses, validation errors, unknown routes, oversized bodies and crashes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragft.errors import AccessDenied, ConfigError, DataError, ModelError, NotFoundError, PolicyError, RagftError
from ragft.server.limits import ApiError, BodyTooLarge, error_body

log = logging.getLogger("ragft.server")


def ragft_error(exc: RagftError) -> ApiError:
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


def _problem(e: dict) -> str:  # type: ignore[type-arg]
    """One validation problem in words: a JSON syntax error says so (it read "27: JSON decode error"), and a body
    that is no JSON object names the likely cause (curl -d without a JSON Content-Type)."""
    if e.get("type") == "json_invalid":
        return f"the body is not valid JSON ({e.get('ctx', {}).get('error', 'decode error')} at character {e.get('loc', ('', '?'))[-1]})"
    where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
    if where == "body" and e.get("type") == "model_attributes_type":
        return "body: expected a JSON object (send it with Content-Type: application/json)"
    return f"{where}: {e.get('msg', 'invalid')}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return _json_error(exc)

    @app.exception_handler(RagftError)
    async def _lib(_: Request, exc: RagftError) -> JSONResponse:
        return _json_error(ragft_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(e) for e in exc.errors()[:5])
        return _json_error(ApiError(400, f"invalid request: {problems}", "invalid_request_error", "invalid_request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, BodyTooLarge):
            max_bytes = request.app.state.ws.settings.server.max_request_bytes
            return _json_error(ApiError(413, f"request body larger than {max_bytes} bytes; send a smaller file or "
                                             "raise server.max_request_bytes in ragft.toml", code="request_too_large"))
        code = str(exc.status_code)
        if exc.status_code == 404:
            message, code = f"no route {request.method} {request.url.path}; see /openapi.json", "no_route"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}; see /openapi.json"
            code = "method_not_allowed"
        else:
            message = str(exc.detail)
        type_ = "server_error" if exc.status_code >= 500 else "invalid_request_error"
        return JSONResponse(error_body(message, type_, code), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal server error; see the server log", "server_error", "internal_error"),
                            status_code=500)
