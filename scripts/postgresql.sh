#!/usr/bin/env bash
# Make sure Debian's PostgreSQL server is installed (the tests start their own on loopback: tests/support/postgres.py)
# and print the folder of its binaries. Installs with apt-get when missing: root here and in CI. Nothing else needs
# PostgreSQL: without RAG_DATABASE_URL the platform keeps its records in SQLite under the data folder.
set -euo pipefail
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(find_bin)" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL is missing: install Debian's package (apt-get install postgresql) as root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 \
    || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2; }
fi
find_bin
