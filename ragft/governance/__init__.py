"""Governance: users and API keys, the hash-chained audit log, PII policy, erasure, injection flags, output
sanitising. Light to import: Presidio loads only when a PII scan actually runs (pii.py)."""

from __future__ import annotations

from ragft.governance.audit import AuditLog, VerifyReport
from ragft.governance.users import UserRegistry

__all__ = ["AuditLog", "UserRegistry", "VerifyReport"]
