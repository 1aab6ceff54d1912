"""Thin routers: validate, call `rag`, shape the response."""
