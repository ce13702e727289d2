"""Documents: loaders that turn files into structured text (loaders.py) and heading-aware chunking (chunking.py).

The ingestion pipeline that uses them (hashing, embedding, storing) is `ragft.ingest`.
"""

from ragft.documents.chunking import approx_tokens, chunk_blocks
from ragft.documents.loaders import LOADERS, Block, LoadedDocument, load_file

__all__ = ["LOADERS", "Block", "LoadedDocument", "approx_tokens", "chunk_blocks", "load_file"]
