"""The servers the load benchmark starts on loopback: `rag serve` over a copy of the eval store, the instant
upstream (benchmarks/instant_llm.py) and the vLLM CPU server, with the model names and the answer length they
share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.corpus_vectors import ROOT
from evals.eval_index import TENANT
from rag.llm.cpu_dtype import cpu_llm_dtype
from rag.llm.model_files import dev_model_dir
from rag.settings import Settings
from tests.support.launcher import Server, free_port, rag_env, start_rag_serve, start_server

SERVED = "smollm2-135m-instruct"
INSTANT_MODEL = "instant"
MAX_TOKENS = 16


def serve(store: Path, collection: str, logs: Path, name: str, **env: str) -> Server:
    """A `rag serve` over `store`'s `collection` in the eval tenant, answering `MAX_TOKENS` tokens, its log in
    `logs/<name>.log`; `env` adds or overrides settings."""
    environ = rag_env(
        store, RAG_COLLECTION=collection, RAG_TENANT=TENANT, RAG_MAX_TOKENS=str(MAX_TOKENS), RAG_LOG_FORMAT="text",
        RAG_LLM_TIMEOUT_S="300", **env,
    )  # fmt: skip
    return start_rag_serve(environ, logs / f"{name}.log", "/readyz", 300)


def start_instant_llm(logs: Path) -> Server:
    """The upstream that answers at once (its time to first token is the round trip)."""
    port = free_port()
    cmd = [sys.executable, "-m", "benchmarks.instant_llm", "--port", str(port)]
    return start_server(cmd, dict(os.environ), port, logs / "instant-llm.log", "/v1/models", 60)


def start_vllm(logs: Path) -> Server:
    """vLLM's OpenAI server on the CPU, serving the dev model as `SERVED`, without prefix caching."""
    python = subprocess.run(
        [str(ROOT / "scripts" / "vllm-venv.sh")], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1"}
    model = dev_model_dir(Settings().embedding.cache_dir)
    cmd = [
        python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
        "--served-model-name", SERVED, "--dtype", cpu_llm_dtype(), "--enforce-eager",
        "--no-enable-prefix-caching",  # both paths send the same prompts: a cache would favour whichever runs second
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    return start_server(cmd, env, port, logs / "vllm.log", "/v1/models", 600)
