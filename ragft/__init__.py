"""ragft: build, fine-tune, measure and serve RAG, fine-tuning and hybrid strategies, and choose one with numbers."""

__version__ = "0.1.0"
