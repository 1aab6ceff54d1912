#!/usr/bin/env bash
# What the playground's browser test needs (tests/test_playground_browser.py): Debian's chromium and its
# chromium-driver (apt-get as root, here and in CI; no browser is downloaded at run time), and the npm package
# axe-core, cached outside the clone, whose axe.min.js the test injects into the page. Prints that file's path.
set -euo pipefail
AXE_VERSION="${AXE_VERSION:-4.10.3}"
CACHE_ROOT="${RAG_CACHE_DIR:-$HOME/.cache/rag-platform}"
DIR="$CACHE_ROOT/axe-core-$AXE_VERSION"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "chromium and chromium-driver are missing: install Debian's packages as root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2 \
    || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2; }
fi
if [ ! -f "$DIR/.complete" ]; then
  rm -rf "$DIR"
  mkdir -p "$DIR"
  (cd "$DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent "axe-core@$AXE_VERSION" >&2)
  touch "$DIR/.complete"
fi
echo "$DIR/node_modules/axe-core/axe.min.js"
