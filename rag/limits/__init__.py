"""Hot counters shared by every replica: request rates, token quotas and usage (docs/limits.md).

`StateBackend` is the narrow interface, with two backends: in-process (`MemoryState`, the default, for one process)
and Redis (`RedisState`, selected by RAG_STATE_URL). `GuardedState` applies the failure policy around either, and
`Limiter` turns the limits file into checks and records. One test suite (rag/limits/testing.py) runs against both.
"""
