"""OpenAIGenerator against a fake OpenAI-compatible server on 127.0.0.1 (started by the test, real HTTP)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from ragft.config import GeneratorSettings
from ragft.errors import ConfigError, MissingKeyError, ModelError
from ragft.models.base import Generator
from ragft.models.openai_client import OpenAIGenerator
from tests.loopback import JsonHandler, LoopbackServer

Q = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Capital of France?"}]
PIECES = ["Paris", " is", " the", " capital", ".", " ###", " extra"]


class FakeServer:
    """Scripted chat-completions server. `script` is consumed one entry per request; when empty it answers ok.

    Entries: "ok" (JSON or SSE, following the request's `stream`), "500", "slow". Requests are recorded.
    """

    def __init__(self, key: str | None = None) -> None:
        self.key = key
        self.script: list[str] = []
        self.requests: list[dict] = []
        self.auth: list[str] = []
        fake = self

        class Handler(JsonHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):  # noqa: N802 - http.server naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.auth.append(self.headers.get("Authorization", ""))
                if self.path != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": "no route"}})
                if fake.key is not None and self.headers.get("Authorization") != f"Bearer {fake.key}":
                    return self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
                if body["model"] != "fake-model":
                    return self._json(404, {"error": {"message": f"model {body['model']} not found"}})
                action = fake.script.pop(0) if fake.script else "ok"
                if action == "500":
                    return self._json(500, {"error": {"message": "boom"}}, {"retry-after-ms": "10"})
                if action == "slow":
                    time.sleep(2.0)
                if body.get("stream"):
                    return self._sse()
                text = "".join(PIECES)
                return self._json(200, {
                    "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
                })

            def _sse(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i, piece in enumerate(PIECES):
                    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake-model",
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    if i == 0:
                        chunk["choices"][0]["delta"]["role"] = "assistant"
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


def _gen(url: str, **kw) -> OpenAIGenerator:
    return OpenAIGenerator(GeneratorSettings(kind="openai", model=kw.pop("model", "fake-model"), base_url=url, **kw))


def test_generate_sends_the_request_and_returns_text(server):
    gen = _gen(server.url)
    assert isinstance(gen, Generator)
    assert gen.generate(Q, max_tokens=20, temperature=0.0) == "".join(PIECES)
    req = server.requests[-1]
    assert req["messages"] == Q and req["max_tokens"] == 20 and req["temperature"] == 0.0 and not req.get("stream")
    assert server.auth[-1] == "Bearer not-needed"  # local servers accept any key


def test_stream_yields_pieces_in_order(server):
    pieces = list(_gen(server.url).stream(Q, max_tokens=20))
    assert len(pieces) == len(PIECES) and "".join(pieces) == "".join(PIECES)
    assert server.requests[-1]["stream"] is True


def test_stop_strings_are_sent_and_applied_client_side(server):
    gen = _gen(server.url)
    assert gen.generate(Q, stop=["###"]) == "Paris is the capital. "
    assert server.requests[-1]["stop"] == ["###"]
    assert "".join(gen.stream(Q, stop=["###"])) == "Paris is the capital. "


def test_http_500_is_retried_then_succeeds(server):
    server.script = ["500", "ok"]
    assert _gen(server.url, max_retries=2).generate(Q) == "".join(PIECES)
    assert len(server.requests) == 2


def test_http_500_after_all_retries_is_a_model_error(server):
    server.script = ["500", "500", "500"]
    with pytest.raises(ModelError, match=r"HTTP 500") as err:
        _gen(server.url, max_retries=1).generate(Q)
    assert server.url in str(err.value)
    assert len(server.requests) == 2  # one try + one retry


def test_timeout_is_a_clear_model_error(server):
    server.script = ["slow"]
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="did not answer within 0.3 s"):
        _gen(server.url, timeout_s=0.3, max_retries=0).generate(Q)
    assert time.perf_counter() - t0 < 1.8


def test_bad_key_401_names_the_variable(monkeypatch):
    fake = FakeServer(key="right-key")
    try:
        monkeypatch.setenv("RAGFT_TEST_KEY", "wrong-key")
        with pytest.raises(ConfigError, match=r"RAGFT_TEST_KEY.*401"):
            _gen(fake.url, api_key_env="RAGFT_TEST_KEY", max_retries=0).generate(Q)
        monkeypatch.setenv("RAGFT_TEST_KEY", "right-key")
        assert _gen(fake.url, api_key_env="RAGFT_TEST_KEY").generate(Q)
        assert fake.auth[-1] == "Bearer right-key"
    finally:
        fake.close()


def test_missing_key_variable_fails_before_any_request(monkeypatch, server):
    monkeypatch.delenv("RAGFT_UNSET_KEY", raising=False)
    with pytest.raises(MissingKeyError, match="RAGFT_UNSET_KEY"):
        _gen(server.url, api_key_env="RAGFT_UNSET_KEY")
    assert server.requests == []


def test_unknown_remote_model_is_a_config_error(server):
    with pytest.raises(ConfigError, match="no model 'other-model'"):
        _gen(server.url, model="other-model", max_retries=0).generate(Q)


def test_unreachable_url_names_the_url():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(ModelError, match=f"could not connect to {url}"):
        _gen(url, max_retries=0).generate(Q)
    with pytest.raises(ModelError, match="could not connect"):
        list(_gen(url, max_retries=0).stream(Q))


def test_openai_without_url_or_key_is_a_config_error():
    with pytest.raises(ConfigError, match="api_key_env"):
        OpenAIGenerator(GeneratorSettings(kind="openai", model="gpt-4o-mini"))


def test_unregistered_adapters_and_bad_arguments_are_refused(server, tmp_path):
    from ragft.errors import NotFoundError

    gen = _gen(server.url)
    with pytest.raises(NotFoundError, match="not a registered adapter"):  # remote adapters: tests/test_remote_adapters.py
        gen.generate(Q, adapter=str(tmp_path / "adapters" / "stray"))
    with pytest.raises(ConfigError, match="max_tokens"):
        gen.stream(Q, max_tokens=0)
    assert server.requests == []


def test_count_tokens_is_a_documented_estimate(server):
    gen = _gen(server.url)
    assert gen.count_tokens("") == 0
    text = "The quick brown fox jumps over the lazy dog. " * 20
    n = gen.count_tokens(text)
    # ~1 token per 4 characters of English (or tiktoken's exact count): 900 chars -> roughly 180-260 tokens
    assert 150 <= n <= 300


def test_registry_builds_the_openai_generator(server):
    from ragft.models.registry import clear_cache, load_generator

    clear_cache()
    gen = load_generator(GeneratorSettings(kind="openai", model="fake-model", base_url=server.url))
    assert isinstance(gen, OpenAIGenerator) and gen.name == "fake-model"
    assert gen.generate(Q) == "".join(PIECES)
    clear_cache()
