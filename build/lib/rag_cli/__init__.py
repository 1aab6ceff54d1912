"""The `rag` console script: one entry point with subcommands over the `rag`, `ingest` and `serving` packages."""
