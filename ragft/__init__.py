"""ragft: build, fine-tune, measure and serve RAG, fine-tuning and hybrid strategies, and choose one with numbers.

    from ragft import Workspace
    ws = Workspace("kb")
    ws.ingest(["docs/"])
    ws.ask("How long do I have to return an item?", strategy="rag")
"""

from ragft.workspace import Workspace

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__"]
