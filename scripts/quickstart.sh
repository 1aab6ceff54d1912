#!/usr/bin/env bash
# Install, ingest the platform's own docs into the embedded store, answer a question, serve the API and the
# playground on :8000. This one machine's own tenant keeps traces with their content (30 days), so feedback given in
# the playground becomes the next `rag eval feedback` dataset.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
.venv/bin/rag ingest docs/
.venv/bin/rag ask "How do I deploy the platform with Helm?"
echo "Serving the OpenAI-compatible API on http://127.0.0.1:8000/v1 (model 'rag') and the playground on"
echo "http://127.0.0.1:8000/ui; Ctrl+C stops it."
RAG_TRACE_TENANTS="${RAG_TRACE_TENANTS:-default=30}" RAG_TRACE_CONTENT="${RAG_TRACE_CONTENT:-true}" \
  exec .venv/bin/rag serve --host 127.0.0.1 --port 8000
