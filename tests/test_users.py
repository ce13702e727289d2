"""Users, groups and API keys: keys stored only as hashes, constant-time compare, one error for every failure."""

from __future__ import annotations

import hmac
import json

import pytest
from typer.testing import CliRunner

from ragft.cli import app
from ragft.errors import AccessDenied, ConfigError, NotFoundError
from ragft.governance.users import AUTH_FAILED, UserRegistry, hash_key


def test_add_returns_key_once_and_stores_only_its_hash(tmp_path):
    reg = UserRegistry(tmp_path)
    new = reg.add("alice", ["support", "sales"])
    assert new.groups == ["sales", "support"]
    assert len(new.api_key) > 40
    raw = (tmp_path / "users.json").read_bytes()
    assert new.api_key.encode() not in raw  # an auditor greps the file for the key
    assert new.api_key[5:].encode() not in raw  # nor its random part
    assert hash_key(new.api_key).encode() in raw
    # listing never shows the key or the hash
    listed = json.dumps([u.public() for u in reg.list()])
    assert new.api_key not in listed and hash_key(new.api_key) not in listed


def test_authenticate_resolves_the_principal(tmp_path):
    reg = UserRegistry(tmp_path)
    a = reg.add("alice", ["support"])
    b = reg.add("bob", [])
    assert reg.authenticate(a.api_key) == "alice"
    assert reg.authenticate(b.api_key) == "bob"
    assert a.api_key != b.api_key


def test_same_error_for_missing_wrong_and_revoked_keys(tmp_path):
    reg = UserRegistry(tmp_path)
    a = reg.add("alice", ["support"])
    reg.revoke("alice")
    messages = []
    for key in (None, "", "rgft_wrong", a.api_key + "x", a.api_key):
        with pytest.raises(AccessDenied) as exc:
            reg.authenticate(key)
        messages.append(str(exc.value))
    assert set(messages) == {AUTH_FAILED}


def test_compare_is_constant_time_and_checks_every_user(tmp_path, monkeypatch):
    reg = UserRegistry(tmp_path)
    keys = [reg.add(f"user{i}", []).api_key for i in range(3)]
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert reg.authenticate(keys[0]) == "user0"
    assert len(calls) == 3  # no early exit: the first user matching does not skip the others
    calls.clear()
    with pytest.raises(AccessDenied):
        reg.authenticate("nope")
    assert len(calls) == 3


def test_groups_of_fails_closed_for_unknown_and_revoked(tmp_path):
    reg = UserRegistry(tmp_path)
    reg.add("alice", ["support"])
    assert reg.groups_of("alice") == ["support"]
    with pytest.raises(AccessDenied):
        reg.groups_of("mallory")
    reg.revoke("alice")
    with pytest.raises(AccessDenied):
        reg.groups_of("alice")


def test_workspace_resolve_groups_uses_the_registry(tmp_path):
    from ragft.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.users.add("carol", ["hr"])
    assert ws.resolve_groups("carol", None) == {"hr"}
    with pytest.raises(AccessDenied):
        ws.resolve_groups("nobody", None)


def test_bad_input_and_duplicates(tmp_path):
    reg = UserRegistry(tmp_path)
    reg.add("alice", [])
    with pytest.raises(ConfigError, match="already exists"):
        reg.add("alice", [])
    with pytest.raises(ConfigError, match="invalid user name"):
        reg.add("../etc", [])
    with pytest.raises(ConfigError, match="invalid group"):
        reg.add("bob", ["bad group!"])
    with pytest.raises(NotFoundError):
        reg.revoke("nobody")
    # revoke then re-add issues a new key; the old one stays dead
    old = reg.add("dave", []).api_key
    reg.revoke("dave")
    new = reg.add("dave", []).api_key
    assert reg.authenticate(new) == "dave"
    with pytest.raises(AccessDenied):
        reg.authenticate(old)


def test_user_events_are_audited(tmp_path):
    from ragft.governance.audit import AuditLog

    reg = UserRegistry(tmp_path)
    reg.add("alice", ["a"])
    reg.revoke("alice")
    events = [(r["event"], r["user"]) for r in AuditLog(tmp_path).records()]
    assert events == [("user_add", "alice"), ("user_revoke", "alice")]
    assert AuditLog(tmp_path).verify().ok


def test_cli_users_add_list_revoke(tmp_path):
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    res = runner.invoke(app, ["users", "add", "alice", "--groups", "support,sales", "-w", ws, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"user", "groups", "api_key", "admin"} and data["groups"] == ["sales", "support"]
    assert data["admin"] is False  # the contract's three fields, extended with the role (default: not admin)
    res = runner.invoke(app, ["users", "list", "-w", ws, "--json"])
    listed = json.loads(res.stdout)["users"]
    assert [u["user"] for u in listed] == ["alice"] and data["api_key"] not in res.stdout
    res = runner.invoke(app, ["users", "revoke", "alice", "-w", ws, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["revoked"] is True
    res = runner.invoke(app, ["users", "revoke", "nobody", "-w", ws])
    assert res.exit_code == 2 and "no user" in res.output
