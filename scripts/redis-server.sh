#!/usr/bin/env bash
# Make sure Debian's redis-server is installed (the tests start their own on loopback: tests/support/launcher.py) and
# print its path. Installs with apt-get when missing: root here and in CI. Nothing else needs Redis: without
# RAG_STATE_URL the platform keeps its counters in-process.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "redis-server is missing: install Debian's package (apt-get install redis-server) as root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2 \
    || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2; }
fi
command -v redis-server
