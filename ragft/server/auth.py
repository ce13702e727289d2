"""Bearer API keys: who is calling, and what they may see.

Once any active user exists (`UserRegistry.exists()`), every /v1 route needs `Authorization: Bearer KEY`.
Missing, malformed, wrong and revoked keys all get the same 401 body, so a caller learns nothing about which
users exist. The principal's groups come from the user table, never from the request body (a classic tenant
leak); the routes pass `user=principal` to the workspace, which filters retrieval inside the store query.
The registry is re-read on every request, so `ragft users revoke` takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragft.errors import AccessDenied
from ragft.governance.users import AUTH_FAILED, UserRegistry
from ragft.server.limits import ApiError


@dataclass(frozen=True)
class Caller:
    """The authenticated principal (`user` None when the workspace has no users: open mode) and the rate-limit key."""

    user: str | None
    rate_key: str

    def may_see(self, groups: tuple[str, ...] | list[str], own_groups: set[str] | None) -> bool:
        """Document visibility: public documents (no groups) or a shared group; everything in open mode."""
        if own_groups is None or not groups:
            return True
        return bool(own_groups & set(groups))


def unauthorized() -> ApiError:
    return ApiError(401, AUTH_FAILED, "invalid_request_error", "invalid_api_key",
                    headers={"WWW-Authenticate": 'Bearer realm="ragft"'})


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, or None when absent or not a bearer header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(users: UserRegistry, header: str | None, client: str) -> Caller:
    """The caller for this request; ApiError 401 with one fixed body for every failure."""
    if not users.exists():
        return Caller(user=None, rate_key=f"ip:{client}")
    try:
        name = users.authenticate(bearer_token(header))
    except AccessDenied:
        raise unauthorized() from None
    return Caller(user=name, rate_key=f"user:{name}")
