"""One error hierarchy. The CLI turns any RagftError into one line on stderr and its `exit_code`.

Exit codes (DESIGN.md): 0 ok, 1 partial failure (some inputs failed, the rest were processed),
2 usage/config error. Messages say what was given, what is allowed, and how to fix it.
"""

from __future__ import annotations


class RagftError(Exception):
    """Base class: a problem the user can act on. Never raised for internal invariants (use assert)."""

    exit_code: int = 2


class ConfigError(RagftError):
    """Bad settings in ragft.toml, bad flags, unknown model names, missing API keys."""


class MissingKeyError(ConfigError):
    """An API key environment variable named in the settings is not set."""


class NotFoundError(RagftError):
    """A named thing (document, adapter, user, source) does not exist."""


class StoreError(RagftError):
    """The store could not complete an operation (corrupt file, schema mismatch, lost connection)."""


class EmbedderMismatchError(StoreError):
    """The workspace was embedded with another model than the one configured: re-embed needed."""


class IngestError(RagftError):
    """One input could not be parsed. Collected per file into IngestReport.failed; never aborts a batch."""

    exit_code = 1


class ModelError(RagftError):
    """A generator or embedder failed to load or to answer (unreachable server, timeout, bad response)."""


class DataError(RagftError):
    """Malformed rows in a user-supplied dataset (QA JSONL, training data). Message lists the line numbers."""


class AccessDenied(RagftError):
    """Unknown or revoked principal, or a tainted adapter that may not be served."""


class PolicyError(RagftError):
    """A document or answer rejected by the workspace's PII/content policy."""

    exit_code = 1
