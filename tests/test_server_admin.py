"""Who may change the knowledge base over HTTP: upload metadata (`meta`) and the admin role for deletion.

Against a live uvicorn on loopback with the hash embedder and a fixed generator (tests/test_server.py helpers):
reserved metadata keys are refused with a 400 naming the key; a non-admin cannot delete a public document or
one in a group they are not in, can delete one wholly in their groups; an admin can delete anything; every
refusal is an `access_denied` audit record and the chain still verifies; open mode (no users) is unchanged.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from ragft.server import create_app, serve_in_thread
from ragft.server.auth import Caller, delete_refusal, upload_refusal
from ragft.workspace import Workspace
from tests.test_server import FixedGenerator, _assert_error_shape, _audit, _workspace

HR = "# Payroll\n\nPayroll runs on the 25th; overtime needs a signed form.\n"


def _doc(ws: Workspace, tmp_path: Path, name: str, groups: list[str]) -> str:
    """Ingest one markdown file into `groups` and return its doc id."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.md").write_text(HR.replace("Payroll", name.title()), encoding="utf-8")
    ws.ingest([folder], groups=groups)
    return next(d.doc_id for d in ws.store.list_documents() if d.source.endswith(f"{name}.md"))


def _public_id(ws: Workspace) -> str:
    """The public `returns.md` that `_workspace` ingests."""
    return next(d.doc_id for d in ws.store.list_documents() if d.source.endswith("returns.md"))


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _denials(ws: Workspace) -> list[dict]:
    return [r for r in _audit(ws) if r["event"] == "access_denied"]


# --------------------------------------------------------------------------- upload metadata
def test_upload_meta_is_stored_listed_and_reserved_keys_refused(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    with serve_in_thread(create_app(ws)) as url:
        up = lambda meta, name="policy.md": httpx.post(  # noqa: E731
            url + "/v1/documents", data={"groups": "", "meta": meta},
            files={"file": (name, b"# Policy\n\nRetention is seven years.\n", "text/markdown")}, timeout=60)
        r = up(["team=billing", "retention=7y", "note=a=b"])
        assert r.status_code == 200, r.text
        doc_id = r.json()["doc_ids"][0]
        listed = {d["doc_id"]: d for d in httpx.get(url + "/v1/documents").json()["data"]}
        assert listed[doc_id]["meta"] == {"note": "a=b", "retention": "7y", "team": "billing"}
        assert listed[_public_id(ws)]["meta"] == {}  # ingested without metadata: an empty object, not missing
        for meta, key in ((["groups=hr"], "'groups'"), (["Subject=bob"], "'Subject'"), (["team=x", "acl=open"], "'acl'")):
            body = _assert_error_shape(up(meta, "other.md"), 400)
            assert key in body["error"]["message"] and "reserved" in body["error"]["message"]
            assert "\n" not in body["error"]["message"]
        body = _assert_error_shape(up(["novalue"], "other.md"), 400)
        assert "KEY=VALUE" in body["error"]["message"]
    assert ws.store.get_document(doc_id).metadata["user"] == {"note": "a=b", "retention": "7y", "team": "billing"}
    assert not [d for d in ws.store.list_documents() if d.source.endswith("other.md")], "refused uploads stored nothing"
    assert ws.audit.verify().ok


# --------------------------------------------------------------------------- deletion
def test_non_admin_delete_rules_and_admin_override(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    public = _public_id(ws)
    shared = _doc(ws, tmp_path, "shared", ["hr", "support"])  # alice sees it (support) but is not in hr
    own = _doc(ws, tmp_path, "own", ["support"])
    hr_only = _doc(ws, tmp_path, "hronly", ["hr"])
    alice = _bearer(ws.users.add("alice", ["support"]).api_key)
    root = _bearer(ws.users.add("root", [], admin=True).api_key)
    with serve_in_thread(create_app(ws)) as url:
        r = httpx.delete(url + f"/v1/documents/{public}", headers=alice)
        assert "admin" in _assert_error_shape(r, 403)["error"]["message"]
        r = httpx.delete(url + f"/v1/documents/{shared}", headers=alice)
        assert "hr" in _assert_error_shape(r, 403)["error"]["message"]
        _assert_error_shape(httpx.delete(url + f"/v1/documents/{hr_only}", headers=alice), 404)  # not even visible
        listed = {d["doc_id"] for d in httpx.get(url + "/v1/documents", headers=alice).json()["data"]}
        assert {public, shared, own} <= listed, "refused deletions must leave the documents in place"
        r = httpx.delete(url + f"/v1/documents/{own}", headers=alice)
        assert r.status_code == 200 and r.json()["documents"] == 1
        for doc_id in (public, hr_only):  # admin: public, and a group the admin is not in
            r = httpx.delete(url + f"/v1/documents/{doc_id}", headers=root)
            assert r.status_code == 200 and r.json()["documents"] == 1, r.text
    remaining = {d.doc_id for d in ws.store.list_documents()}
    assert shared in remaining and not remaining & {public, own, hr_only}
    denials = [(d["principal"], d["action"], d["doc_id"]) for d in _denials(ws)]
    assert denials == [("alice", "delete", public), ("alice", "delete", shared), ("alice", "delete", hr_only)]
    deletes = [r["principal"] for r in _audit(ws) if r["event"] == "delete"]
    assert deletes == ["alice", "root", "root"]
    assert ws.audit.verify().ok


def test_open_mode_keeps_deleting_public_documents(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    public = _public_id(ws)
    with serve_in_thread(create_app(ws)) as url:
        assert httpx.get(url + "/healthz").json()["auth"] is False
        r = httpx.delete(url + f"/v1/documents/{public}")
        assert r.status_code == 200 and r.json()["documents"] == 1
    assert ws.store.get_document(public) is None and not _denials(ws)


# --------------------------------------------------------------------------- uploads
def test_upload_rules_public_needs_admin_and_replacing_needs_delete_rights(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    alice_key = ws.users.add("alice", ["hr", "support"]).api_key
    root = _bearer(ws.users.add("root", [], admin=True).api_key)
    file = {"file": ("x.md", b"# X\n\nThe xylophone budget is fixed.\n", "text/markdown")}
    with serve_in_thread(create_app(ws)) as url:
        post = lambda headers, groups, f=file: httpx.post(  # noqa: E731
            url + "/v1/documents", headers=headers, data={"groups": groups}, files=f, timeout=60)
        r = post(_bearer(alice_key), "")
        assert "admin" in _assert_error_shape(r, 403)["error"]["message"]
        r = post(_bearer(alice_key), "hr,support")
        assert r.status_code == 200 and r.json()["added"] == 1, r.text
        x_id = r.json()["doc_ids"][0]
        r = post(root, "", {"file": ("pub.md", b"# Pub\n\nOpening hours are nine to five.\n", "text/markdown")})
        assert r.status_code == 200 and r.json()["added"] == 1, r.text
        # alice leaves hr: re-uploading x.md would replace a document partly in hr -> refused, document unchanged
        ws.users.revoke("alice")
        alice = _bearer(ws.users.add("alice", ["support"]).api_key)
        r = post(alice, "support", {"file": ("x.md", b"# X\n\nThe xylophone budget was cut.\n", "text/markdown")})
        message = _assert_error_shape(r, 403)["error"]["message"]
        assert x_id in message and "hr" in message
    assert ws.store.get_document(x_id).groups == ("hr", "support")
    assert [(d["principal"], d["action"]) for d in _denials(ws)] == [("alice", "upload"), ("alice", "upload")]
    assert ws.audit.verify().ok


def test_refusal_rules_as_a_table():
    user, admin = Caller("u", "user:u"), Caller("a", "user:a", admin=True)
    mine = {"support", "sales"}
    assert delete_refusal(user, (), mine) and delete_refusal(user, ("support", "hr"), mine)
    assert delete_refusal(user, ("support", "sales"), mine) is None
    assert delete_refusal(admin, (), set()) is None and delete_refusal(admin, ("hr",), set()) is None
    assert delete_refusal(Caller(None, "ip:x"), (), None) is None  # open mode
    assert upload_refusal(user, [], mine) and upload_refusal(user, ["hr"], mine)
    assert upload_refusal(user, ["support"], mine) is None and upload_refusal(admin, [], set()) is None
    assert upload_refusal(Caller(None, "ip:x"), [], None) is None
