#!/usr/bin/env bash
# Install (once) and cache the npm package oidc-provider, the real OpenID Connect provider the OIDC tests start on
# loopback (tests/support/oidc_provider.mjs). Outside the clone, so CI reuses it; needs Node.js 20 and the npm registry.
# Prints the installed package's entry module on stdout.
set -euo pipefail
OIDC_PROVIDER_VERSION="${OIDC_PROVIDER_VERSION:-9.7.0}"
CACHE_ROOT="${RAG_CACHE_DIR:-$HOME/.cache/rag-platform}"
DIR="$CACHE_ROOT/oidc-provider-$OIDC_PROVIDER_VERSION"

if [ ! -f "$DIR/.complete" ]; then
  rm -rf "$DIR"
  mkdir -p "$DIR"
  (cd "$DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent "oidc-provider@$OIDC_PROVIDER_VERSION" >&2)
  touch "$DIR/.complete"
fi
PACKAGE="$DIR/node_modules/oidc-provider"
node -p "require('node:path').join('$PACKAGE', require('$PACKAGE/package.json').main)"
