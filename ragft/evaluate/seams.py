"""What the evaluation code needs from a workspace, as a Protocol.

`ragft.workspace.Workspace` satisfies it; evaluation modules type against this seam instead of importing the
composition root (docs/architecture.md: only the application layer imports `ragft.workspace`), and tests may
pass anything with these members.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ragft.config import Settings
    from ragft.models.base import Embedder, Generator
    from ragft.store.base import Store
    from ragft.types import Answer, Hit


class EvalWorkspace(Protocol):
    """The members `compare` (qa.py, runner.py, freshness.py) uses: the same path the CLI and server answer by."""

    path: Path
    settings: "Settings"
    store: "Store"
    embedder: "Embedder"
    generator: "Generator"

    def ask(self, question: str, strategy: str = "rag", adapter: str | None = None, *, k: int | None = None) -> "Answer":
        """Answer `question` with a strategy, exactly as `ragft ask` does."""
        ...

    def ask_many(self, questions: Sequence[str], strategy: str = "rag", adapter: str | None = None, *,
                 k: int | None = None, batch_size: int = 8,
                 on_answer: Callable[[int, "Answer"], None] | None = None) -> list["Answer"]:
        """`ask` for many questions, generations batched (`compare --batch-size`); `on_answer(i, answer)` as each
        is ready (its `latency_ms` completed, in the same object, when all are)."""
        ...

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> Sequence["Hit"]:
        """Top-k chunks for `query`."""
        ...

    def finetune(self, name: str, **kwargs: Any) -> Any:
        """Train an adapter (used by `--train-missing`)."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...
