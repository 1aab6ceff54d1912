#!/usr/bin/env bash
# Install, ingest the platform's own docs into the embedded store, answer a question, serve the API on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
.venv/bin/rag ingest docs/
.venv/bin/rag ask "how do I deploy it?"
echo "Serving the OpenAI-compatible API on http://127.0.0.1:8000/v1 (model 'rag'); Ctrl+C stops it."
exec .venv/bin/rag serve --host 127.0.0.1 --port 8000
