"""The `admin` flag on users: stored, listed, audited, and absent from old `users.json` files without harm."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ragft.cli import app
from ragft.governance.audit import AuditLog
from ragft.governance.users import UserRegistry, hash_key


def test_users_json_without_admin_field_still_loads(tmp_path):
    key = "rgft_" + "k" * 43
    old = {"version": 1, "users": [{"name": "alice", "groups": ["hr"], "key_sha256": hash_key(key),
                                    "created": 1.0, "revoked": False}]}
    (tmp_path / "users.json").write_text(json.dumps(old), encoding="utf-8")
    reg = UserRegistry(tmp_path)
    assert [u.public() for u in reg.list()] == [
        {"user": "alice", "groups": ["hr"], "created": 1.0, "revoked": False, "admin": False}]
    user = reg.authenticate_user(key)
    assert reg.authenticate(key) == "alice" and user.admin is False
    reg.add("root", admin=True)  # rewriting the file keeps alice and stores the flag for everyone
    saved = {u["name"]: u for u in json.loads((tmp_path / "users.json").read_text())["users"]}
    assert saved["alice"]["admin"] is False and saved["root"]["admin"] is True
    assert reg.authenticate(key) == "alice"


def test_add_admin_is_audited(tmp_path):
    reg = UserRegistry(tmp_path)
    new = reg.add("root", ["ops"], admin=True)
    assert new.admin is True and new.to_dict()["admin"] is True
    assert reg.authenticate_user(new.api_key).admin is True
    adds = [(r["user"], r["admin"]) for r in AuditLog(tmp_path).records() if r["event"] == "user_add"]
    assert adds == [("root", True)]


def test_cli_users_add_admin_and_list_show_the_flag(tmp_path):
    ws = str(tmp_path / "ws")
    runner = CliRunner()
    res = runner.invoke(app, ["users", "add", "root", "--admin", "-w", ws, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["admin"] is True
    res = runner.invoke(app, ["users", "add", "alice", "--groups", "hr", "-w", ws, "--json"])
    assert set(json.loads(res.stdout)) == {"user", "groups", "api_key", "admin"}
    res = runner.invoke(app, ["users", "list", "-w", ws, "--json"])
    assert {u["user"]: u["admin"] for u in json.loads(res.stdout)["users"]} == {"alice": False, "root": True}
    res = runner.invoke(app, ["users", "list", "-w", ws])
    lines = {line.split()[0]: line for line in res.stdout.splitlines()}
    assert "admin" in lines["root"] and "admin" not in lines["alice"]
