"""Ingestion: loaders per format, chunking, and the diffing sync of documents into the store."""
