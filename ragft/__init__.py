"""ragft: build, fine-tune, measure and serve RAG, fine-tuning and hybrid strategies, and choose one with numbers.

    from ragft import Workspace
    ws = Workspace("kb")
    ws.ingest(["docs/"])
    ws.ask("How long do I have to return an item?", strategy="rag")
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__"]

if TYPE_CHECKING:
    from ragft.workspace import Workspace


def __getattr__(name: str):  # PEP 562: `import ragft.errors` (every CLI start) must not build the settings models
    if name == "Workspace":
        from ragft.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'ragft' has no attribute {name!r}")
