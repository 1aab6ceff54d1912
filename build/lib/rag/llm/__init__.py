"""Chat models: the factory choosing vLLM (OpenAI API) or the in-process engine, and the dev model files."""
