"""Evaluation harness for `rag`: quality against eval/questions.jsonl, a LlamaIndex peer, benchmarks.

    python -m eval run        # product (and peer) metrics -> eval/reports/<timestamp>/
    python -m eval compare    # the product next to a plain LlamaIndex pipeline
    python -m eval bench      # latency, ingest rate, import and cold-start times, scaling
"""
from __future__ import annotations

from .gate import compare_to_baseline

__all__ = ["compare_to_baseline"]
