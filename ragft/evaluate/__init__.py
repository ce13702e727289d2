"""Evaluation: retrieval metrics on BEIR data (beir.py, retrieval_metrics.py), QA metrics and the compare runner."""
