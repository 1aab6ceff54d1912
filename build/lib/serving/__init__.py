"""The OpenAI-compatible FastAPI service: wire models, routers, error mapping. Thin: validate, call `rag`, shape."""
