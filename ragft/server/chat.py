"""`GET /v1/models` and `POST /v1/chat/completions` (JSON or SSE stream): the model id picks strategy and adapter,
the last user message is the question, `Workspace.ask` answers on a `ModelQueue` thread."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ragft.config import ADAPTER_KIND, STRATEGIES
from ragft.errors import ConfigError, RagftError
from ragft.governance.output import sanitize_answer
from ragft.server.auth import Caller
from ragft.server.deps import ServerState, caller, get_state, public_source
from ragft.server.errors import ragft_error
from ragft.server.limits import ApiError, error_body
from ragft.server.schemas import MAX_QUESTION_CHARS, ChatCompletion, ChatCompletionRequest, ModelCard, ModelList

if TYPE_CHECKING:
    from ragft.types import Answer
    from ragft.workspace import Workspace

log = logging.getLogger("ragft.server")
ADAPTER_STRATEGY = {kind: strategy for strategy, kind in ADAPTER_KIND.items()}  # adapter kind -> strategy serving it
router = APIRouter()


# --------------------------------------------------------------------------- model names
def parse_model(ws: "Workspace", model: str) -> tuple[str, str | None]:
    """Model id -> (strategy, adapter). `ft`/`hybrid` alone mean the newest servable adapter of that kind: with
    none, a 400 before any answering starts, so a streamed request gets the same status as a plain one (it got
    200 and an error inside the stream)."""
    if model in ADAPTER_KIND:
        try:
            ws.registry.newest_servable(ADAPTER_KIND[model])
        except ConfigError as exc:
            known = ", ".join(card.id for card in list_models(ws))
            raise ApiError(400, f"model {model!r} needs a {ADAPTER_KIND[model]} adapter: {exc}; served models: "
                                f"{known} (GET /v1/models)", "invalid_request_error", "adapter_missing") from None
        return model, None
    if model in STRATEGIES:
        return model, None
    strategy, sep, adapter = model.partition(":")
    if sep and strategy in ADAPTER_KIND and adapter:
        registry = ws.registry
        if registry.exists(adapter):
            info = registry.get_servable(adapter)  # AccessDenied (403) for a tainted, unapproved adapter
            if ADAPTER_STRATEGY.get(info.kind) == strategy:
                return strategy, adapter
    known = ", ".join(card.id for card in list_models(ws))
    raise ApiError(404, f"unknown model {model!r}; available: {known} (GET /v1/models)", "invalid_request_error",
                   "model_not_found")


def list_models(ws: "Workspace") -> list[ModelCard]:
    cards = [ModelCard(id=s, strategy=s) for s in STRATEGIES if s not in ADAPTER_KIND]
    named: list[ModelCard] = []
    for info in ws.adapters():
        strategy = ADAPTER_STRATEGY.get(info.kind)
        if strategy is None or (info.tainted and not info.approved):
            continue  # refused at answer time anyway: do not advertise it
        named.append(ModelCard(id=f"{strategy}:{info.name}", strategy=strategy, adapter=info.name))
    # "ft"/"hybrid" alone (the newest adapter of the kind) are served exactly when such an adapter is
    cards += [ModelCard(id=s, strategy=s) for s in STRATEGIES if s in ADAPTER_KIND and any(c.strategy == s for c in named)]
    return cards + named


def _question(req: ChatCompletionRequest) -> str:
    for msg in reversed(req.messages):
        if msg.role == "user":
            text = msg.text().strip()
            if not text:
                break
            if len(text) > MAX_QUESTION_CHARS:
                raise ApiError(400, f"the question has {len(text)} characters; the limit is {MAX_QUESTION_CHARS}",
                               code="question_too_long")
            return text
    raise ApiError(400, "no non-empty user message: the last message with role 'user' is the question",
                   code="invalid_request")


# --------------------------------------------------------------------------- streaming
_PIECE = re.compile(r"\S+\s*|\s+")


def answer_text(answer: "Answer") -> str:
    """The text the API returns, streamed or not: sanitised for rendering (no remote images, no live HTML), and
    keeping only links whose URL the cited sources contain verbatim (an injected document cannot make the model
    emit a link that carries data out)."""
    return sanitize_answer(answer.answer, sources="\n".join(c.text for c in answer.citations))


def pieces_of(text: str) -> list[str]:
    """`text` split into word-sized stream deltas that concatenate back to exactly `text`."""
    return _PIECE.findall(text)


class _ClientGone(Exception):
    """Raised inside the model thread when the HTTP client disconnected: stops generating early."""


def _sse(data: dict[str, Any] | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _citations(ws: "Workspace", answer: "Answer") -> list[dict[str, Any]]:
    return [{**c.to_dict(), "source": public_source(ws, c.doc_id, c.source)} for c in answer.citations]


def _finish(answer: "Answer", limit: int) -> str:
    """OpenAI's finish_reason: "length" when a closed-book (base, ft) answer is its generation cut at the token
    limit; "stop" otherwise (a rag/hybrid answer is checked, and a failed generation is replaced by a whole
    source sentence or an abstention, which the limit does not cut)."""
    return "length" if answer.strategy in ("base", "ft") and answer.tokens_out >= limit else "stop"


def _usage(answer: "Answer") -> dict[str, int]:
    return {"prompt_tokens": answer.tokens_in, "completion_tokens": answer.tokens_out,
            "total_tokens": answer.tokens_in + answer.tokens_out}


# --------------------------------------------------------------------------- routes
@router.get("/v1/models", response_model=ModelList)
async def models(_: Caller = Depends(caller), state: ServerState = Depends(get_state)) -> ModelList:
    return ModelList(data=await run_in_threadpool(list_models, state.ws))


@router.post("/v1/chat/completions", response_model=ChatCompletion,
             responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE chunks when stream=true"}})
async def chat(req: ChatCompletionRequest, who: Caller = Depends(caller),
               state: ServerState = Depends(get_state)) -> Any:
    ws, server = state.ws, state.ws.settings.server
    question = _question(req)
    strategy, adapter = await run_in_threadpool(parse_model, ws, req.model)
    state.check_k(req.top_k)
    max_tokens = req.max_completion_tokens or req.max_tokens
    if max_tokens is not None and max_tokens > server.max_tokens:
        raise ApiError(400, f"max_tokens {max_tokens} is above the limit {server.max_tokens} "
                            "(server.max_tokens in ragft.toml)", code="max_tokens_too_large")
    kwargs = dict(strategy=strategy, adapter=adapter, user=who.user, k=req.top_k, max_tokens=max_tokens,
                  quarantine=server.quarantine_flagged)
    limit = max_tokens or ws.settings.generator.max_new_tokens  # what `_finish` compares the generation with
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not req.stream:
        answer = await state.queue.run(ws.ask, question, **kwargs)
        citations = await run_in_threadpool(_citations, ws, answer)
        return ChatCompletion(
            id=completion_id, created=created, model=req.model, strategy=strategy,
            choices=[{"message": {"content": answer_text(answer), "citations": citations},
                      "finish_reason": _finish(answer, limit)}],
            usage=_usage(answer), citations=citations, abstained=answer.abstained,
        )
    return _stream(state, question, kwargs, req, completion_id, created, limit)


def _stream(state: ServerState, question: str, kwargs: dict[str, Any], req: ChatCompletionRequest, cid: str,
            created: int, limit: int) -> StreamingResponse:
    """SSE: the deltas concatenate to exactly the final answer text (citation markers included), which the last
    chunk repeats with the citations. The answer path only releases an answer once it is checked (cited,
    supported, well-formed), so the deltas are the sanitised final text in word-sized pieces; the model thread
    still watches for a client that left, and stops generating early."""
    gone = threading.Event()

    def on_token(_piece: str) -> None:
        if gone.is_set():
            raise _ClientGone()

    def work() -> "Answer":
        return state.ws.ask(question, on_token=on_token, **kwargs)

    future = asyncio.wrap_future(state.queue.submit(work))  # QueueFull (503) here, before the response starts

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

    async def events() -> AsyncIterator[bytes]:
        try:
            yield chunk({"role": "assistant", "content": ""})
            try:
                answer = await future
                citations = await run_in_threadpool(_citations, state.ws, answer)
            except RagftError as exc:
                yield _sse(ragft_error(exc).body())
                return
            except Exception:
                log.exception("streamed answer failed")
                yield _sse(error_body("internal server error; see the server log", "server_error", "internal_error"))
                return
            text = answer_text(answer)
            for piece in pieces_of(text):
                yield chunk({"content": piece})
            yield chunk({}, _finish(answer, limit), citations=citations, abstained=answer.abstained, answer=text,
                        strategy=answer.strategy)
            if req.stream_options is not None and req.stream_options.include_usage:
                yield _sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
                            "choices": [], "usage": _usage(answer)})
            yield _sse("[DONE]")
        finally:
            gone.set()  # a disconnect cancels this generator: stop the model thread at its next token
            if not future.done():
                future.add_done_callback(lambda f: f.exception())  # consume, so asyncio does not warn

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
