"""Embedder and Generator protocols (base.py), the bundled offline models and the OpenAI-compatible client."""
