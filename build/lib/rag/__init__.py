"""Core library of the RAG platform: settings, domain types, embedders, store, retrieval, prompts, LLM, pipeline.

Nothing in here imports a web framework or the other top-level packages (`ingest`, `serving`, `evals`).
"""
