"""Ingestion: sources listed and fetched only where changed, loaders per format, chunking, and the diffing sync of
documents into the store."""
