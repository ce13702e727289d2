"""Request and response models of the HTTP API (they are also the OpenAPI schema at /openapi.json).

The chat models follow the OpenAI Chat Completions wire format closely enough that the official `openai`
client works unchanged; ragft adds `citations`, `abstained` and `strategy` to responses, and `top_k` to
requests. Unknown request fields are ignored (clients send options such as `n` or `seed` we do not use),
but the fields we do use are validated strictly: a bad value is a 400 in the OpenAI error shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragft.config import RetrievalMode

MAX_QUESTION_CHARS = 8000


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Request):
    type: str = Field(..., description="Only `text` parts are read; others are ignored.")
    text: str | None = None


class ChatMessage(_Request):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if not self.content:
            return ""
        return "".join(p.text or "" for p in self.content if p.type == "text")


class StreamOptions(_Request):
    include_usage: bool = False


class ChatCompletionRequest(_Request):
    model: str = Field(..., min_length=1, max_length=200, description="A model id from GET /v1/models: base, rag, ft:NAME, hybrid:NAME.")
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=256, description="The last user message is the question.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, description="Answer length; capped by server.max_tokens.")
    max_completion_tokens: int | None = Field(None, ge=1, description="Newer name of max_tokens (wins when both are given).")
    temperature: float | None = Field(None, ge=0, le=2, description="Accepted for compatibility; the workspace setting decides.")
    top_k: int | None = Field(None, ge=1, description="ragft extension: chunks to retrieve (capped by server.max_top_k).")


class CitationOut(BaseModel):
    n: int
    doc_id: str
    chunk_id: str
    source: str
    text: str


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    citations: list[CitationOut] = Field(default_factory=list)  # the same list as ChatCompletion.citations


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(BaseModel):
    """An OpenAI `chat.completion` plus ragft's `citations` ([n] in the answer is citations[n-1]) and `abstained`."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[CitationOut] = Field(default_factory=list)
    abstained: bool = False
    strategy: str


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "ragft"
    strategy: str
    adapter: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class SearchRequest(_Request):
    query: str = Field(..., min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int = Field(5, ge=1, description="Hits to return (capped by server.max_top_k).")
    mode: RetrievalMode | None = None


class HitOut(BaseModel):
    doc_id: str
    chunk_id: str
    source: str
    score: float
    text: str


class SearchResponse(BaseModel):
    hits: list[HitOut]


class DocumentOut(BaseModel):
    doc_id: str
    source: str
    title: str
    groups: list[str]
    subject: str | None = None
    meta: dict[str, str] = Field(default_factory=dict, description="The uploader's own KEY=VALUE tags (`meta` / `--meta`).")


class DocumentList(BaseModel):
    object: Literal["list"] = "list"
    data: list[DocumentOut]


class IngestOut(BaseModel):
    """The `ragft ingest --json` report (DESIGN.md), plus the ids of the uploaded documents."""

    added: int
    updated: int
    unchanged: int
    failed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    chunks: int
    doc_ids: list[str] = Field(default_factory=list)


class DeleteOut(BaseModel):
    documents: int
    chunks: int
    tainted_adapters: list[str]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    auth: bool = Field(..., description="True when a bearer API key is required on /v1 routes.")
    queue: int = Field(..., description="Model requests running or waiting.")


class ReportTicket(BaseModel):
    url: str = Field(..., description="Relative one-time URL of the latest compare report (no bearer header needed).")
    expires_in: int = Field(..., description="Seconds the URL stays valid.")


class ErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorResponse(BaseModel):
    """The OpenAI error shape, used by every error response of this server."""

    error: ErrorBody
