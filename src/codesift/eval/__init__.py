"""Retrieval evaluation: every training decision is read off this harness, so it is exact and comparable.

metrics (pure numpy) <- retrieval (systems x benchmarks) <- systems (BM25, dense, hybrid) + benchmarks (loaders,
protocols); report renders results; stage is the pipeline's `eval` stage and the standalone command.
"""
