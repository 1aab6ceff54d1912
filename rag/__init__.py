"""Core library of the RAG platform, a package per concern: access, answering, evidence, embedding, store, llm,
limits, records; the settings (a group per concern) and the domain types beside them (docs/architecture.md).

Nothing in here imports a web framework or the other top-level packages (`ingest`, `serving`, `evals`).
"""
