#!/usr/bin/env bash
# Build (once) and cache JSON Schemas of OpenAI's chat completion and chat completion chunk, generated from the
# types of OpenAI's official Node.js library (npm `openai`, generated from OpenAI's OpenAPI specification) by
# ts-json-schema-generator. The wire tests validate every response against them (tests/test_evidence_api.py).
# Outside the clone, so CI reuses it; needs Node.js 20 and the npm registry. Prints the schema folder on stdout.
set -euo pipefail
OPENAI_NODE_VERSION="${OPENAI_NODE_VERSION:-7.59.0}"
GENERATOR_VERSION="${TS_JSON_SCHEMA_GENERATOR_VERSION:-2.10.0}"
TYPESCRIPT_VERSION="${TYPESCRIPT_VERSION:-5.9.3}"
CACHE_ROOT="${RAG_CACHE_DIR:-$HOME/.cache/rag-platform}"
DIR="$CACHE_ROOT/openai-schema-$OPENAI_NODE_VERSION-$GENERATOR_VERSION-$TYPESCRIPT_VERSION"

if [ ! -f "$DIR/.complete" ]; then
  rm -rf "$DIR"
  mkdir -p "$DIR"
  (
    cd "$DIR"
    npm init -y >/dev/null
    npm install --no-audit --no-fund --silent "openai@$OPENAI_NODE_VERSION" \
      "ts-json-schema-generator@$GENERATOR_VERSION" "typescript@$TYPESCRIPT_VERSION" >&2
    types=node_modules/openai/resources/chat/completions/completions.d.ts
    for type in ChatCompletion ChatCompletionChunk; do
      npx --no-install ts-json-schema-generator --path "$types" --type "$type" --no-type-check --expose none \
        -o "$type.schema.json" >&2
    done
  )
  touch "$DIR/.complete"
fi
echo "$DIR"
