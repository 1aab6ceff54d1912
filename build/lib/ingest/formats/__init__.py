"""One loader per file format; `ingest.loaders` picks them by suffix."""
