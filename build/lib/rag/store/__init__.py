"""Qdrant, the one database, behind the narrow `VectorStore` interface in `base`."""
