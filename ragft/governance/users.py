"""Users, their groups and API keys: the principals of a workspace.

Stored in `<workspace>/users.json`, rewritten atomically (temp file + fsync + os.replace) so a crash never
leaves half a file. API keys are 32 random bytes (`secrets.token_urlsafe(32)`), shown once by `add` and
stored only as a SHA-256 hash: a key has 256 bits of entropy, so a fast hash is enough (no password
stretching needed), and the file alone never lets anyone authenticate.

`authenticate` compares hashes with `hmac.compare_digest` against *every* stored key (no early exit), and
raises the same `AccessDenied` message for a missing, wrong or revoked key, so a caller learns nothing
about which users exist. `groups_of` fails closed: an unknown or revoked user is an error, never "public".

`admin` marks the users who may erase any document over HTTP, including public ones (no groups) and
documents in groups they are not fully in (`ragft.server.auth.delete_refusal`). It defaults to False, so a
`users.json` written before the flag existed loads unchanged and grants nobody new powers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.errors import AccessDenied, ConfigError, NotFoundError
from ragft.governance.audit import AuditLog
from ragft.fsutil import atomic_write

USERS_FILE = "users.json"
KEY_PREFIX = "rgft_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
# One message for every authentication failure (missing, malformed, wrong, revoked): no oracle.
AUTH_FAILED = "invalid or missing API key"


@dataclass
class User:
    """A principal. `key_sha256` is the hex SHA-256 of the API key; the key itself is never stored."""

    name: str
    groups: list[str] = field(default_factory=list)
    key_sha256: str = ""
    created: float = 0.0
    revoked: bool = False
    admin: bool = False

    def public(self) -> dict[str, Any]:
        """What `users list` shows: never the hash."""
        return {"user": self.name, "groups": list(self.groups), "created": self.created, "revoked": self.revoked,
                "admin": self.admin}


@dataclass(frozen=True)
class NewUser:
    """Result of `UserRegistry.add`: the one and only time the API key is visible."""

    user: str
    groups: list[str]
    api_key: str
    admin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "groups": list(self.groups), "api_key": self.api_key, "admin": self.admin}


def hash_key(api_key: str) -> str:
    """Hex SHA-256 of an API key (keys are 256-bit random tokens, so no salt or stretching is needed)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _check_groups(groups: list[str]) -> list[str]:
    clean = sorted({g.strip() for g in groups if g and g.strip()})
    bad = [g for g in clean if not _GROUP.match(g)]
    if bad:
        raise ConfigError(f"invalid group name(s) {bad}: use letters, digits and . _ : - (max 64 chars)")
    return clean


class UserRegistry:
    """The users of one workspace folder. Cheap to construct; reads the file on every call (CLI and server
    processes may change it concurrently, and a revoked key must stop working at once)."""

    def __init__(self, workspace: str | Path, audit: AuditLog | None = None) -> None:
        self.path = Path(workspace) / USERS_FILE
        self.audit = audit if audit is not None else AuditLog(workspace)  # the Workspace passes its one log

    # ------------------------------------------------------------------ storage
    def _load(self) -> dict[str, User]:
        if not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {u["name"]: User(**u) for u in raw.get("users", [])}
        except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"{self.path}: not a valid users file ({exc}); restore it from backup") from exc

    def _save(self, users: dict[str, User]) -> None:
        data = {"version": 1, "users": [vars(u) for u in sorted(users.values(), key=lambda u: u.name)]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(data, indent=1), mode=0o600)

    # ------------------------------------------------------------------ management
    def add(self, name: str, groups: list[str] | tuple[str, ...] = (), admin: bool = False) -> NewUser:
        """Create a user with a fresh API key. Re-adding a revoked name issues a new key (old one stays dead).
        `admin` lets the user erase any document over HTTP (public ones and other groups' included)."""
        if not _NAME.match(name or ""):
            raise ConfigError(f"invalid user name {name!r}: 1-64 chars of letters, digits and . _ @ -")
        clean = _check_groups(list(groups))
        users = self._load()
        if name in users and not users[name].revoked:
            raise ConfigError(f"user {name!r} already exists; revoke it first (`ragft users revoke {name}`) to issue a new key")
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        users[name] = User(name=name, groups=clean, key_sha256=hash_key(api_key), created=time.time(), admin=bool(admin))
        self._save(users)
        self.audit.append("user_add", user=name, groups=clean, admin=bool(admin))
        return NewUser(user=name, groups=clean, api_key=api_key, admin=bool(admin))

    def revoke(self, name: str) -> User:
        """Disable the user's key at once; the record stays for the audit trail."""
        users = self._load()
        if name not in users:
            raise NotFoundError(f"no user {name!r}; see `ragft users list`")
        users[name].revoked = True
        self._save(users)
        self.audit.append("user_revoke", user=name)
        return users[name]

    def list(self) -> list[User]:
        return sorted(self._load().values(), key=lambda u: u.name)

    def exists(self) -> bool:
        """True when at least one active user exists (the server then requires a bearer key)."""
        return any(not u.revoked for u in self._load().values())

    # ------------------------------------------------------------------ checks
    def groups_of(self, name: str) -> list[str]:
        """The groups of an active user. Unknown or revoked users fail closed with AccessDenied."""
        user = self._load().get(name)
        if user is None or user.revoked:
            raise AccessDenied(f"unknown or revoked user {name!r}; see `ragft users list`")
        return list(user.groups)

    def authenticate(self, api_key: str | None) -> str:
        """The principal name for `api_key`; AccessDenied with one fixed message for any failure.

        Every stored hash is compared in constant time, without stopping at the first match, so timing does
        not reveal how many users exist or which one matched.
        """
        return self.authenticate_user(api_key).name

    def authenticate_user(self, api_key: str | None) -> User:
        """Like `authenticate`, but the whole (active) user record: the server needs `admin` and `groups` too,
        read from the same file load as the key check."""
        presented = hash_key(api_key) if isinstance(api_key, str) and api_key else "0" * 64
        found: User | None = None
        for user in self._load().values():
            if hmac.compare_digest(presented, user.key_sha256) and found is None:
                found = user
        if found is None or found.revoked or not api_key:
            raise AccessDenied(AUTH_FAILED)
        return found
