"""Bearer API keys: who is calling, and what they may see.

Once any active user exists (`UserRegistry.exists()`), every /v1 route needs `Authorization: Bearer KEY`.
Missing, malformed, wrong and revoked keys all get the same 401 body, so a caller learns nothing about which
users exist. The principal's groups come from the user table, never from the request body (a classic tenant
leak); the routes pass `user=principal` to the workspace, which filters retrieval inside the store query.
The registry is re-read on every request, so `ragft users revoke` takes effect at once.

Who may change the knowledge base once users exist (open mode, no users: anyone, as before):
- delete a document: an admin (any document), or a user who belongs to ALL of the document's groups. A public
  document (no groups) is everyone's, so erasing it is an admin's call; a document shared with a group the
  caller is not in is partly someone else's data. (`ragft delete` on the server's own shell is the operator.)
- upload: into groups the caller belongs to, all of them; public uploads (no groups) need an admin, because a
  public document lands in every user's answers and only an admin could delete it again. Re-uploading a file
  replaces the caller's earlier document of that name, which counts as deleting it: same rule.
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
    admin: bool = False

    def may_see(self, groups: tuple[str, ...] | list[str], own_groups: set[str] | None) -> bool:
        """Document visibility: public documents (no groups) or a shared group; everything in open mode."""
        if own_groups is None or not groups:
            return True
        return bool(own_groups & set(groups))


def delete_refusal(who: Caller, groups: tuple[str, ...] | list[str], own_groups: set[str] | None) -> str | None:
    """Why `who` may not delete (or replace) a document with these `groups`, or None when they may.

    `own_groups` is None in open mode (no users): everything is allowed, as before the admin role existed.
    """
    if own_groups is None or who.admin:
        return None
    if not groups:
        return "public documents (no groups) can only be deleted by an admin (`ragft users add NAME --admin`)"
    missing = sorted(set(groups) - own_groups)
    if missing:
        return (f"the document is also in group(s) {', '.join(missing)} that you are not in; only an admin or a "
                "member of all its groups may delete it")
    return None


def upload_refusal(who: Caller, groups: list[str], own_groups: set[str] | None) -> str | None:
    """Why `who` may not upload documents into `groups` (empty = public), or None when they may."""
    if own_groups is None or who.admin:
        return None
    if not groups:
        return ("public uploads (no groups) need an admin; pass groups= one or more of yours "
                f"({', '.join(sorted(own_groups)) or 'none'})")
    outside = sorted(set(groups) - own_groups)
    if outside:
        return (f"you may only upload into your own groups ({', '.join(sorted(own_groups)) or 'none'}); "
                f"not {', '.join(outside)}")
    return None


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
        user = users.authenticate_user(bearer_token(header))
    except AccessDenied:
        raise unauthorized() from None
    return Caller(user=user.name, rate_key=f"user:{user.name}", admin=user.admin)
