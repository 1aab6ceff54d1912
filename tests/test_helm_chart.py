"""The Helm chart, rendered by the real `helm` for every values profile: lint, Kubernetes schema validation
(kubernetes-validate --strict, two minor versions), and the properties a platform engineer relies on."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.partition import shard_from_env
from serving.auth import ApiKeys, read_key_file
from tests.support.helm import (
    CHART,
    PROFILES,
    SERVICE_MONITOR_API,
    Manifests,
    RenderError,
    component_of,
    containers,
    env_of,
    helm_run,
    render,
    render_text,
)

KUBERNETES_VERSIONS = ["1.30.0", "1.35.0"]
PROFILE_FILES = {name: [a for f in files for a in ("-f", str(CHART / f))] for name, files in PROFILES.items()}

# Ingestion sources, one of each kind (values.yaml documents the keys): an S3 prefix on a MinIO endpoint with an
# access manifest and four shards, an intranet sitemap over two shards, a link crawl, and a volume.
S3_SOURCE: dict[str, Any] = {
    "name": "handbook", "type": "s3", "uri": "s3://acme-docs/handbook/", "schedule": "0 2 * * *",
    "collection": "handbook", "tenant": "acme", "shards": 4, "credentialsSecret": "handbook-s3",
    "env": {"AWS_ENDPOINT_URL": "https://minio.storage.svc:9000", "AWS_REGION": "us-east-1"},
    "accessManifest": {"configMap": "handbook-access"}, "access": {"groups": ["staff", "ops"]},
}  # fmt: skip
SITEMAP_SOURCE: dict[str, Any] = {
    "name": "intranet", "type": "web", "uri": "https://intranet.acme.internal/sitemap.xml", "schedule": "@daily",
    "credentialsSecret": "intranet-auth", "shards": 2, "prune": False, "access": {"tenantWide": True},
}  # fmt: skip
CRAWL_SOURCE: dict[str, Any] = {
    "name": "wiki", "type": "web", "uri": "http://wiki.acme.internal:8080/docs/", "schedule": "0 5 * * *",
    "maxDepth": 2, "maxPages": 500,
}  # fmt: skip
PVC_SOURCE: dict[str, Any] = {
    "name": "contracts", "type": "pvc", "pvc": {"claimName": "contracts-blob", "subPath": "signed"},
    "schedule": "0 4 * * 0", "followLinks": True, "serviceAccountName": "contracts-reader",
}  # fmt: skip
SOURCES = [S3_SOURCE, SITEMAP_SOURCE, CRAWL_SOURCE, PVC_SOURCE]


def render_sources_text(
    sources: list[dict[str, Any]], profile: str = "default", sets: dict[str, str] | None = None
) -> str:
    """The chart rendered with these `ingest.sources` (as JSON: --set cannot write a list of objects plainly)."""
    args = [*PROFILE_FILES[profile], *[a for k, v in (sets or {}).items() for a in ("--set", f"{k}={v}")]]
    done = helm_run(
        "template",
        "rag",
        str(CHART),
        "--namespace",
        "rag",
        *args,
        "--set-json",
        f"ingest.sources={json.dumps(sources)}",
    )
    if done.returncode != 0:
        raise RenderError(done.stderr)
    return done.stdout


def render_sources(
    sources: list[dict[str, Any]], profile: str = "default", sets: dict[str, str] | None = None
) -> Manifests:
    return Manifests([o for o in yaml.safe_load_all(render_sources_text(sources, profile, sets)) if o])


@pytest.fixture(scope="module")
def profiles() -> dict[str, Manifests]:
    return {name: render(name) for name in PROFILES}


@pytest.mark.parametrize("profile", PROFILES)
def test_lint_strict(profile: str) -> None:
    done = helm_run("lint", "--strict", str(CHART), *PROFILE_FILES[profile])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_rendered_object_is_valid_kubernetes(profile: str, version: str, tmp_path: Path) -> None:
    path = tmp_path / "rendered.yaml"
    path.write_text(render_sources_text(SOURCES, profile, {"ingest.job.enabled": "true"}))
    validator = Path(sys.executable).parent / "kubernetes-validate"
    done = subprocess.run(
        [str(validator), "--strict", "-k", version, str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed for resource cronjob/" in done.stdout and "passed for resource statefulset/" in done.stdout


OIDC_ON = {"oidc.issuer": "https://login.example.com/realms/acme", "oidc.audience": "rag-api"}


def test_oidc_on_renders_valid_objects_wired_to_the_issuer(tmp_path: Path) -> None:
    """Off is every other test's rendering; on: the settings in the ConfigMap, egress to the issuer's port."""
    path = tmp_path / "rendered.yaml"
    path.write_text(render_text("default", OIDC_ON))
    validator = Path(sys.executable).parent / "kubernetes-validate"
    done = subprocess.run(
        [str(validator), "--strict", "-k", KUBERNETES_VERSIONS[-1], str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    on = render("default", OIDC_ON)
    config = on.config()
    assert config["RAG_OIDC_ISSUER"] == OIDC_ON["oidc.issuer"] and config["RAG_OIDC_AUDIENCE"] == "rag-api"
    assert config["RAG_OIDC_ALGORITHMS"] == "RS256,PS256,ES256,EdDSA" and config["RAG_OIDC_ALLOW_HTTP"] == "false"
    api_policy = next(p for p in on.of("NetworkPolicy") if component_of(p) == "api")
    assert {"port": 443, "protocol": "TCP"} in [
        port for rule in api_policy["spec"]["egress"] for port in rule.get("ports", [])
    ]
    off = render("default")
    assert not any(k.startswith("RAG_OIDC") for k in off.config())


@pytest.mark.parametrize(
    ("sets", "error"),
    [
        ({"oidc.issuer": "http://login.example.com", "oidc.audience": "a"}, "issuer"),
        ({"oidc.issuer": "https://login.example.com"}, "audience"),
        ({**OIDC_ON, "oidc.algorithms": "{HS256}"}, "algorithms"),
    ],
)
def test_the_schema_refuses_an_unsafe_oidc_setup(sets: dict[str, str], error: str) -> None:
    with pytest.raises(RenderError, match=error):
        render_text("default", sets)
    if sets.get("oidc.issuer", "").startswith("http://"):  # the development flag allows http
        assert render("default", {**sets, "oidc.allowHttp": "true"}).config()["RAG_OIDC_ALLOW_HTTP"] == "true"


def test_ingest_jobs_mount_the_access_manifest_and_pass_the_runs_access() -> None:
    source = {**PVC_SOURCE, "accessManifest": {"configMap": "team-access", "key": "rules.yaml"},
              "access": {"groups": ["staff", "ops"], "users": ["ann"], "services": ["hr-bot"]}}  # fmt: skip
    (job,) = _ingest_jobs(render_sources([source], sets={"ingest.job.enabled": "true"}))
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    args = container["args"]
    assert args[args.index("--access-manifest") + 1] == "/etc/rag/access/rules.yaml"
    assert args[args.index("--access-groups") + 1] == "staff,ops" and "--access-tenant-wide" not in args
    assert args[args.index("--access-users") + 1] == "ann" and args[args.index("--access-services") + 1] == "hr-bot"
    assert {"name": "access", "configMap": {"name": "team-access"}} in spec["volumes"]
    assert {"name": "access", "mountPath": "/etc/rag/access", "readOnly": True} in container["volumeMounts"]


def test_gpu_requests_and_the_served_model_wired_into_the_api(profiles: dict[str, Manifests]) -> None:
    for name, gpus in (("default", 1), ("gpu", 2), ("ha", 2)):
        vllm = profiles[name].get("Deployment", "vllm")
        (container,) = vllm["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert container["resources"]["requests"]["nvidia.com/gpu"] == gpus
        args = container["args"]
        assert ("--tensor-parallel-size" in args) == (gpus > 1)
        if gpus > 1:
            assert args[args.index("--tensor-parallel-size") + 1] == str(gpus)
        tolerations = vllm["spec"]["template"]["spec"]["tolerations"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
        served = args[args.index("--served-model-name") + 1]
        config = profiles[name].config()
        assert config["RAG_LLM_MODEL"] == served
        service = profiles[name].get("Service", "vllm")
        assert config["RAG_LLM_BASE_URL"] == f"http://{service['metadata']['name']}:8000/v1"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/models", "/dev/shm"} <= mounts  # the model cache volume, shared memory
    assert profiles["gpu"].get("Deployment", "vllm")["spec"]["template"]["spec"]["nodeSelector"]
    # the dev profile: no GPU anywhere, the in-process engine (no LLM URL)
    dev = profiles["dev"]
    assert not dev.has("Deployment", "vllm") and "nvidia.com/gpu" not in render_text("dev")
    assert "RAG_LLM_BASE_URL" not in dev.config()


def test_probes(profiles: dict[str, Manifests]) -> None:
    for manifests in profiles.values():
        for kind in ("Deployment", "StatefulSet"):
            for workload in manifests.of(kind):
                for container in workload["spec"]["template"]["spec"]["containers"]:
                    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                        assert probe in container, (workload["metadata"]["name"], probe)
        api = manifests.get("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
        assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"  # readiness follows the dependencies
        assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"  # liveness does not
    for name in ("default", "gpu"):
        startup = profiles[name].get("Deployment", "vllm")["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 30 * 60  # model download and load
    api_pod = profiles["default"].get("Deployment", "api")["spec"]["template"]["spec"]
    config = profiles["default"].config()
    grace = int(config["RAG_SHUTDOWN_DRAIN_S"]) + int(config["RAG_SHUTDOWN_TIMEOUT_S"])
    assert api_pod["terminationGracePeriodSeconds"] > grace  # SIGTERM drain and in-flight streams fit before SIGKILL


def test_secure_by_default(profiles: dict[str, Manifests]) -> None:
    with_sources = render_sources(SOURCES, sets={"ingest.job.enabled": "true"})
    assert len([c for c, _ in with_sources.pod_specs() if c == "ingest"]) == 2 * len(SOURCES)
    for manifests in [*profiles.values(), with_sources]:
        specs = manifests.pod_specs()
        assert {c for c, _ in specs} >= {"api", "qdrant", "test"}
        for component, spec in specs:
            assert spec["securityContext"]["runAsNonRoot"] is True, component
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, component
            assert spec["automountServiceAccountToken"] is False, component
            for container in containers(spec):
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, (component, container["name"])
                assert context["readOnlyRootFilesystem"] is True, (component, container["name"])
                assert context["capabilities"]["drop"] == ["ALL"], (component, container["name"])
                assert "resources" in container and container["resources"].get("limits"), container["name"]


def test_secrets_never_in_config_maps_or_plain_env(profiles: dict[str, Manifests]) -> None:
    sets = {"apiKeys.keys[0].key": "sk-0123456789abcdef0123", "apiKeys.keys[0].tenant": "acme"}
    for manifests in [*profiles.values(), render("default", sets)]:
        secrets = [s for s in manifests.secret_values() for s in s.splitlines() for s in s.split("=")]
        assert secrets
        for configmap in manifests.of("ConfigMap"):
            for key, value in configmap["data"].items():
                assert not any(secret and secret in value for secret in secrets if len(secret) >= 16), key
        for _, spec in manifests.pod_specs():
            for container in containers(spec):
                for name, entry in env_of(container).items():
                    if any(word in name for word in ("KEY", "TOKEN", "PASSWORD")):
                        assert "secretKeyRef" in entry.get("valueFrom", {}), (container["name"], name)
    api = profiles["default"].get("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(api)["RAG_QDRANT_API_KEY"]["valueFrom"]["secretKeyRef"]["name"].endswith("qdrant-key")


def test_generated_api_keys_are_what_the_api_reads(profiles: dict[str, Manifests], tmp_path: Path) -> None:
    (secret,) = [s for s in profiles["default"].of("Secret") if s["metadata"]["name"].endswith("api-keys")]
    keys_file = tmp_path / "keys"
    keys_file.write_text(base64.b64decode(secret["data"]["keys"]).decode())
    keys = read_key_file(keys_file)  # the API's own parser
    assert [grant.tenant for grant in keys.values()] == ["default"] and len(next(iter(keys))) >= 40
    assert profiles["default"].config()["RAG_API_KEYS_FILE"] == "/etc/rag/api-keys/keys"
    # a second render makes other keys (`helm upgrade` keeps the cluster's, through lookup)
    assert render("default").of("Secret")[0]["data"] != profiles["default"].of("Secret")[0]["data"]
    existing = render("default", {"apiKeys.existingSecret": "team-keys"})
    assert not any(s["metadata"]["name"].endswith("api-keys") for s in existing.of("Secret"))
    volumes = existing.get("Deployment", "api")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "api-keys", "secret": {"secretName": "team-keys"}} in volumes


def test_keys_with_roles_groups_and_subjects_render_to_principals_the_api_reads(tmp_path: Path) -> None:
    sets = {
        "apiKeys.keys[0].key": "k" * 20,
        "apiKeys.keys[0].tenant": "acme",
        "apiKeys.keys[0].roles": "{reader}",
        "apiKeys.keys[0].groups": "{hr,legal}",
        "apiKeys.keys[0].subject": "hr-bot",
        "apiKeys.keys[1].key": "j" * 20,
        "apiKeys.keys[1].tenant": "acme",
    }
    (secret,) = [s for s in render("default", sets).of("Secret") if s["metadata"]["name"].endswith("api-keys")]
    keys_file = tmp_path / "keys"
    keys_file.write_text(base64.b64decode(secret["data"]["keys"]).decode())
    api_keys = ApiKeys(read_key_file(keys_file))
    hr = api_keys.find("k" * 20)
    assert hr is not None and api_keys.find("nope" * 5) is None
    assert (hr.tenant, hr.subject, hr.groups, hr.roles) == ("acme", "hr-bot", {"hr", "legal"}, {"reader"})
    assert getattr(api_keys.find("j" * 20), "roles", None) == {
        "reader",
        "writer",
    }  # a key without roles: what keys could do
    with pytest.raises(RenderError, match="roles"):  # the schema knows the roles
        render_text("default", {"apiKeys.keys[0].key": "k" * 20, "apiKeys.keys[0].tenant": "a",
                                "apiKeys.keys[0].roles": "{root}"})  # fmt: skip


def test_authentication_input_settings_and_padded_keys_reach_the_api(tmp_path: Path) -> None:
    """The bounds and the failure limit are in the ConfigMap, as the settings read them; a base64 key with `=`
    padding renders to an entry the API's parser reads as that whole key (an entry splits at its last `=`)."""
    from rag.settings import Settings

    config = render("default").config()
    bounds = {k: config[k] for k in ("RAG_MAX_HEADER_BYTES", "RAG_MAX_TOKEN_BYTES", "RAG_AUTH_FAILURES_PER_MINUTE")}
    settings = Settings(**{k.removeprefix("RAG_").lower(): v for k, v in bounds.items()})
    read = (settings.access.max_header_bytes, settings.access.max_token_bytes, settings.limits.auth_failures_per_minute)
    assert read == (65_536, 16_384, 30)
    uploads = {k: config[k] for k in ("RAG_UPLOAD_MAX_DOCUMENTS", "RAG_UPLOAD_MAX_CHUNKS", "RAG_UPLOAD_MAX_CONCURRENT")}
    read = Settings(**{k.removeprefix("RAG_").lower(): v for k, v in uploads.items()})
    assert (read.uploads.max_documents, read.uploads.max_chunks, read.uploads.max_concurrent) == (10_000, 10_000, 2)
    sets = {"apiKeys.keys[0].key": "c2VjcmV0a2V5LWZvci1hY21lIQ==", "apiKeys.keys[0].tenant": "acme.eu_1-a"}
    (secret,) = [s for s in render("default", sets).of("Secret") if s["metadata"]["name"].endswith("api-keys")]
    keys_file = tmp_path / "keys"
    keys_file.write_text(base64.b64decode(secret["data"]["keys"]).decode())
    found = ApiKeys(read_key_file(keys_file)).find("c2VjcmV0a2V5LWZvci1hY21lIQ==")
    assert found is not None and found.tenant == "acme.eu_1-a"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_allows(rule: dict[str, Any], peer_key: str, other: dict[str, str]) -> bool:
    peers = rule.get(peer_key)
    if not peers:
        return True  # no `from`/`to`: any peer
    return any("podSelector" in p and "namespaceSelector" not in p and _selects(p["podSelector"], other) for p in peers)


def _port_allows(rule: dict[str, Any], port: int, names: dict[str, int]) -> bool:
    ports = rule.get("ports")
    return not ports or any(names.get(p["port"], p["port"]) == port for p in ports)


def _allowed(manifests: Manifests) -> set[tuple[str, str, int]]:
    """(from component, to component, port) that the NetworkPolicies let through, among the chart's pods: the
    source's egress and the destination's ingress must both allow it (policies select pods by labels)."""
    pods: dict[str, dict[str, str]] = {}
    ports: dict[str, dict[str, int]] = {}
    templates: list[tuple[str, dict[str, str]]] = []
    for obj in manifests.objects:
        template = None
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            template = obj["spec"]["template"]
        elif obj["kind"] == "CronJob":
            template = obj["spec"]["jobTemplate"]["spec"]["template"]
        elif obj["kind"] == "Pod":
            template = obj
        if template is not None:
            templates.append((obj["metadata"]["name"], template["metadata"]["labels"]))
            pods[component_of(obj)] = template["metadata"]["labels"]
            ports[component_of(obj)] = {
                p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])
            }
    policies = manifests.of("NetworkPolicy")
    for name, labels in templates:
        selected = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        assert len(selected) == 1 and selected[0]["spec"]["policyTypes"] == ["Ingress", "Egress"], name
    candidate_ports = {6333, 6334, 6335, 6379, 8000}
    allowed = set()
    for src, src_labels in pods.items():
        (egress_policy,) = [p for p in policies if _selects(p["spec"]["podSelector"], src_labels)]
        for dst, dst_labels in pods.items():
            (ingress_policy,) = [p for p in policies if _selects(p["spec"]["podSelector"], dst_labels)]
            for port in candidate_ports & set(ports[dst].values()):
                out = any(
                    _peer_allows(r, "to", dst_labels) and _port_allows(r, port, ports[dst])
                    for r in egress_policy["spec"].get("egress", [])
                )
                into = any(
                    _peer_allows(r, "from", src_labels) and _port_allows(r, port, ports[dst])
                    for r in ingress_policy["spec"].get("ingress", [])
                )
                if out and into:
                    allowed.add((src, dst, port))
    return allowed


def test_network_policies_allow_only_the_architecture(profiles: dict[str, Manifests]) -> None:
    sets = {"ingest.job.enabled": "true"}
    expected = {
        ("api", "vllm", 8000),
        ("api", "qdrant", 6333),
        ("api", "qdrant", 6334),
        ("ingest", "qdrant", 6333),
        ("ingest", "qdrant", 6334),
        ("qdrant", "qdrant", 6335),  # cluster peers
        ("test", "api", 8000),
    }
    assert _allowed(render_sources(SOURCES, "default", sets)) == expected  # no shared state: no Redis
    ha = _allowed(render_sources(SOURCES, "ha", sets))
    assert ha == expected | {("api", "redis", 6379), ("ingest", "redis", 6379)}
    dev = _allowed(render_sources(SOURCES, "dev", sets))
    assert dev == {e for e in expected if "vllm" not in e}
    # ingress -> API: open to every namespace by default, or to the given peers only
    api_policy = next(p for p in profiles["default"].of("NetworkPolicy") if component_of(p) == "api")
    assert "from" not in api_policy["spec"]["ingress"][0]
    restricted = render("default", {"networkPolicy.apiIngressFrom[0].namespaceSelector.matchLabels.team": "edge"})
    api_policy = next(p for p in restricted.of("NetworkPolicy") if component_of(p) == "api")
    assert {"namespaceSelector": {"matchLabels": {"team": "edge"}}} in api_policy["spec"]["ingress"][0]["from"]


def _ingest_jobs(manifests: Manifests) -> list[dict[str, Any]]:
    return [j for j in manifests.of("Job") if component_of(j) == "ingest"]


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a Job or a CronJob."""
    job = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    pod: dict[str, Any] = job["template"]["spec"]
    return pod


def test_each_source_is_a_cronjob_running_rag_ingest_over_it() -> None:
    """Two sources, two CronJobs: `rag ingest URI` with the source's flags, its credentials Secret's keys as
    variables, its plain variables, its shards as the Indexed Job's completions and parallelism and JOB_COMPLETIONS;
    its pods labelled with its name. No volume but the scratch /tmp for a remote source."""
    manifests = render_sources([S3_SOURCE, SITEMAP_SOURCE])
    crons = {c["metadata"]["labels"]["rag-platform/ingest-source"]: c for c in manifests.of("CronJob")}
    assert sorted(crons) == ["handbook", "intranet"] and not _ingest_jobs(manifests)  # ingest.job is off
    assert crons["handbook"]["metadata"]["name"] == "rag-rag-platform-ingest-handbook"
    assert (crons["handbook"]["spec"]["schedule"], crons["intranet"]["spec"]["schedule"]) == ("0 2 * * *", "@daily")
    assert crons["handbook"]["spec"]["suspend"] is False and crons["handbook"]["spec"]["concurrencyPolicy"] == "Forbid"
    s3, web = _pod(crons["handbook"]), _pod(crons["intranet"])
    assert s3["containers"][0]["args"] == [
        "ingest", "s3://acme-docs/handbook/", "--collection", "handbook", "--tenant", "acme", "--prune",
        "--access-manifest", "/etc/rag/access/access.yaml", "--access-groups", "staff,ops",
    ]  # fmt: skip
    assert web["containers"][0]["args"] == ["ingest", "https://intranet.acme.internal/sitemap.xml",
                                            "--access-tenant-wide"]  # prune: false  # fmt: skip
    for pod, secret in ((s3, "handbook-s3"), (web, "intranet-auth")):
        (container,) = pod["containers"]
        assert container["envFrom"][1:] == [{"secretRef": {"name": secret}}]  # after the settings ConfigMap
        assert "initContainers" not in pod and {v["name"] for v in pod["volumes"]} <= {"tmp", "access"}
    s3_env = env_of(s3["containers"][0])
    assert s3_env["AWS_ENDPOINT_URL"]["value"] == "https://minio.storage.svc:9000"
    assert s3_env["AWS_REGION"]["value"] == "us-east-1"
    for name, shards in (("handbook", 4), ("intranet", 2)):
        job = crons[name]["spec"]["jobTemplate"]["spec"]
        assert (job["completionMode"], job["completions"], job["parallelism"]) == ("Indexed", shards, shards)
        assert env_of(job["template"]["spec"]["containers"][0])["JOB_COMPLETIONS"]["value"] == str(shards)
        assert job["template"]["metadata"]["labels"]["rag-platform/ingest-source"] == name
    # what each pod's `rag ingest` makes of it: Kubernetes sets JOB_COMPLETION_INDEX per pod
    partitions = [shard_from_env({"JOB_COMPLETION_INDEX": str(i), "JOB_COMPLETIONS": "4"}) for i in range(4)]
    doc_ids = [f"doc-{n}.md" for n in range(300)]
    owners = [sum(shard.owns(d) for shard in partitions) for d in doc_ids]
    assert owners == [1] * len(doc_ids)  # every document ingested by exactly one pod


def test_a_volume_source_and_the_one_off_jobs() -> None:
    """A pvc source mounts its claim read-only at /data (links followed only when asked); a crawl passes its bounds;
    with ingest.job.enabled every source also gets a Job named after the release revision."""
    manifests = render_sources([PVC_SOURCE, CRAWL_SOURCE], sets={"ingest.job.enabled": "true"})
    jobs = {j["metadata"]["name"]: j for j in _ingest_jobs(manifests)}
    assert sorted(jobs) == ["rag-rag-platform-ingest-contracts-1", "rag-rag-platform-ingest-wiki-1"]
    volume = _pod(jobs["rag-rag-platform-ingest-contracts-1"])
    (container,) = volume["containers"]
    assert container["args"] == ["ingest", "/data", "--prune", "--follow-links"]
    volumes = {v["name"]: v for v in volume["volumes"]}
    assert volumes["source"]["persistentVolumeClaim"] == {"claimName": "contracts-blob", "readOnly": True}
    assert {"name": "source", "mountPath": "/data", "readOnly": True, "subPath": "signed"} in container["volumeMounts"]
    assert volume["serviceAccountName"] == "contracts-reader" and volume["automountServiceAccountToken"] is False
    unlinked = _pod(render_sources([{**PVC_SOURCE, "followLinks": False}]).of("CronJob")[0])
    assert "--follow-links" not in unlinked["containers"][0]["args"]  # links in the source are refused unless asked
    crawl = _pod(jobs["rag-rag-platform-ingest-wiki-1"])
    assert crawl["containers"][0]["args"] == ["ingest", "http://wiki.acme.internal:8080/docs/", "--prune",
                                              "--max-depth", "2", "--max-pages", "500"]  # fmt: skip
    assert crawl["serviceAccountName"] == "rag-rag-platform"  # the chart's
    job = jobs["rag-rag-platform-ingest-wiki-1"]["spec"]
    assert (job["completions"], job["backoffLimitPerIndex"], job["ttlSecondsAfterFinished"]) == (1, 2, 86400)
    assert {c["metadata"]["name"] for c in manifests.of("CronJob")} == {"rag-rag-platform-ingest-contracts",
                                                                        "rag-rag-platform-ingest-wiki"}  # fmt: skip
    assert not render("default", {"ingest.job.enabled": "true"}).of("CronJob")  # no source: no job


def test_ingest_jobs_scratch_space_is_sized_for_downloads() -> None:
    """Remote sources download each changed document into /tmp while it is loaded: its size is ingest.scratchSize."""
    for size, expected in ((None, "4Gi"), ("20Gi", "20Gi")):
        sets = {"ingest.scratchSize": size} if size else None
        pod = _pod(render_sources([S3_SOURCE], sets=sets).of("CronJob")[0])
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["tmp"]["emptyDir"] == {"sizeLimit": expected}
        assert {"name": "tmp", "mountPath": "/tmp"} in pod["containers"][0]["volumeMounts"]
    with pytest.raises(RenderError, match="scratchSize"):
        render_sources([S3_SOURCE], sets={"ingest.scratchSize": "lots"})


def test_each_source_has_a_network_policy_of_its_own() -> None:
    """Each source's pods: DNS, Qdrant, Redis, and the source's own egress: the endpoint's port (`env`'s
    AWS_ENDPOINT_URL, 443 for AWS, the web URI's), any address; the rules it lists instead; nothing more for a
    volume. Never the records database."""
    aws = {**S3_SOURCE, "name": "aws", "env": {"AWS_REGION": "eu-west-1"}}
    listed = {**S3_SOURCE, "name": "listed", "egress": [
        {"cidr": "10.20.0.0/16", "except": ["10.20.1.0/24"], "ports": [9000]},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "storage"}},
         "podSelector": {"matchLabels": {"app": "minio"}}, "ports": [9000, 9001]},
    ]}  # fmt: skip
    manifests = render_sources([*SOURCES, aws, listed], "ha")
    policies = {p["spec"]["podSelector"]["matchLabels"].get("rag-platform/ingest-source"): p["spec"]
                for p in manifests.of("NetworkPolicy") if component_of(p) == "ingest"}  # fmt: skip
    assert sorted(policies) == sorted(s["name"] for s in [*SOURCES, aws, listed])
    for name, policy in policies.items():
        assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "ingest"
        assert policy["policyTypes"] == ["Ingress", "Egress"] and policy["ingress"] == []
        egress = policy["egress"]
        assert egress[0] == {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
        to = [r["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for r in egress[1:3]]
        assert to == ["qdrant", "redis"], name
        assert not any({"port": 5432, "protocol": "TCP"} in r["ports"] for r in egress), name
    own = {name: policy["egress"][3:] for name, policy in policies.items()}
    assert own["handbook"] == [{"ports": [{"port": 9000, "protocol": "TCP"}]}]  # the endpoint's port, any address
    assert own["aws"] == own["intranet"] == [{"ports": [{"port": 443, "protocol": "TCP"}]}]
    assert own["wiki"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
    assert own["contracts"] == []  # a volume: no network source
    assert own["listed"] == [
        {"ports": [{"port": 9000, "protocol": "TCP"}],
         "to": [{"ipBlock": {"cidr": "10.20.0.0/16", "except": ["10.20.1.0/24"]}}]},
        {"ports": [{"port": 9000, "protocol": "TCP"}, {"port": 9001, "protocol": "TCP"}],
         "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "storage"}},
                 "podSelector": {"matchLabels": {"app": "minio"}}}]},
    ]  # fmt: skip
    # the pods each policy selects are that source's only
    for cron in manifests.of("CronJob"):
        labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        assert [n for n, p in policies.items() if _selects(p["podSelector"], labels)] == [
            labels["rag-platform/ingest-source"]
        ]
    assert not render_sources(SOURCES, sets={"networkPolicy.enabled": "false"}).of("NetworkPolicy")


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ([{**S3_SOURCE, "type": "ftp"}], "/ingest/sources/0/type"),
        ([{k: v for k, v in S3_SOURCE.items() if k != "uri"}], "missing property 'uri'"),
        ([{**S3_SOURCE, "uri": "https://acme-docs.s3.amazonaws.com/handbook/"}], "/ingest/sources/0/uri"),
        ([{**SITEMAP_SOURCE, "uri": "s3://acme-docs/site/"}], "/ingest/sources/0/uri"),
        ([{**PVC_SOURCE, "uri": "s3://acme-docs/"}], "/ingest/sources/0/uri"),
        ([{k: v for k, v in PVC_SOURCE.items() if k != "pvc"}], "missing property 'pvc'"),
        ([{**CRAWL_SOURCE, "shards": 2}], "/ingest/sources/0/shards"),  # a link crawl cannot be sharded
        ([{**S3_SOURCE, "followLinks": True}], "/ingest/sources/0/followLinks"),
        ([{**S3_SOURCE, "maxPages": 10}], "/ingest/sources/0/maxPages"),
        ([{**S3_SOURCE, "name": "Handbook_EU"}], "/ingest/sources/0/name"),
        ([{**S3_SOURCE, "name": "a-name-longer-than-24-chars"}], "/ingest/sources/0/name"),
        ([{**S3_SOURCE, "schedule": "daily"}], "/ingest/sources/0/schedule"),
        ([{**S3_SOURCE, "credentials": "handbook-s3"}], "credentials"),
        ([{**S3_SOURCE, "env": {"AWS_SECRET_ACCESS_KEY": "x"}}], "AWS_SECRET_ACCESS_KEY"),  # a Secret's, never plain
        ([{**SITEMAP_SOURCE, "env": {"RAG_WEB_AUTHORIZATION": "Bearer x"}}], "RAG_WEB_AUTHORIZATION"),
        ([{**S3_SOURCE, "egress": [{"ports": [0]}]}], "/ingest/sources/0/egress/0/ports/0"),
        ([{**S3_SOURCE, "egress": [{"cidr": "10.0.0.0/8", "podSelector": {}, "ports": [1]}]}], "podSelector"),
        ([S3_SOURCE, {**SITEMAP_SOURCE, "name": "handbook"}], 'two sources are named "handbook"'),
    ],
)
def test_the_schema_refuses_bad_sources(sources: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(RenderError) as failure:
        render_sources_text(sources)
    assert message in str(failure.value)


def test_a_sitemap_is_a_uri_whose_path_ends_in_xml_as_rag_ingest_reads_it() -> None:
    """Sharded: a sitemap (the path ends in .xml or .xml.gz, any case, a query after it); one pod: a crawl."""
    sitemaps = ("https://intranet.acme.internal/Sitemap.XML?lang=en", "https://intranet.acme.internal/a/b.xml")
    for uri in (*sitemaps, "https://intranet.acme.internal/sitemap.xml.gz"):
        (cron,) = render_sources([{**SITEMAP_SOURCE, "uri": uri}]).of("CronJob")
        assert cron["spec"]["jobTemplate"]["spec"]["completions"] == 2
    for uri in ("https://intranet.acme.internal/feed.xml/", "https://sitemap.xml", "https://intranet.acme.internal/"):
        with pytest.raises(RenderError, match="/ingest/sources/0/shards"):
            render_sources_text([{**SITEMAP_SOURCE, "uri": uri}])


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"ingest.source.type": "pvc", "ingest.source.pvc.claimName": "docs"}, "/ingest/source"),
        ({"ingest.cronJob.enabled": "true"}, "/ingest/cronJob"),
        ({"ingest.job.shards": "3"}, "shards"),  # a source's now
        ({"ingest.collection": "docs"}, "collection"),  # a source's now
    ],
)
def test_the_schema_refuses_the_replaced_single_source_keys(sets: dict[str, str], message: str) -> None:
    with pytest.raises(RenderError, match="schema") as failure:
        render_text("default", sets)
    assert message in str(failure.value)


def test_notes_tell_how_to_run_each_source_now() -> None:
    done = helm_run("install", "rag", str(CHART), "--dry-run=client", "--namespace", "rag",
                    "--set-json", f"ingest.sources={json.dumps([S3_SOURCE, PVC_SOURCE])}")  # fmt: skip
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert "handbook (s3 s3://acme-docs/handbook/)" in notes and "contracts (pvc claim contracts-blob)" in notes
    assert "create job --from=cronjob/rag-rag-platform-ingest-handbook rag-rag-platform-ingest-handbook-now" in notes


def test_config_checksum_rolls_the_pods_when_settings_change(profiles: dict[str, Manifests]) -> None:
    def checksum(m: Manifests) -> str:
        return str(m.get("Deployment", "api")["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum(profiles["default"]) == checksum(render("default"))
    assert checksum(profiles["default"]) != checksum(render("default", {"config.RAG_TOP_K": "5"}))


def test_qdrant_single_cluster_and_external(profiles: dict[str, Manifests]) -> None:
    single = profiles["default"].get("StatefulSet", "qdrant")
    assert single["spec"]["replicas"] == 1
    assert single["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "RAG_QDRANT_SHARD_NUMBER" not in profiles["default"].config()
    ha = profiles["ha"]
    cluster = ha.get("StatefulSet", "qdrant")
    assert cluster["spec"]["replicas"] == 3
    assert env_of(cluster["spec"]["template"]["spec"]["containers"][0])["QDRANT__CLUSTER__ENABLED"]["value"] == "true"
    assert "--bootstrap" in cluster["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert (ha.config()["RAG_QDRANT_SHARD_NUMBER"], ha.config()["RAG_QDRANT_REPLICATION_FACTOR"]) == ("6", "2")
    assert {component_of(p) for p in ha.of("PodDisruptionBudget")} == {"api", "vllm", "qdrant"}
    assert ha.get("PodDisruptionBudget", "api")["spec"]["minAvailable"] == 2
    assert ha.get("HorizontalPodAutoscaler", "api")["spec"]["minReplicas"] == 3
    external = render(
        "default",
        {"qdrant.mode": "external", "qdrant.external.url": "https://q.example.com:6333",
         "qdrant.external.apiKeySecret.name": "qdrant-cloud"},
    )  # fmt: skip
    assert {component_of(s) for s in external.of("StatefulSet")} == {"postgres"}  # no Qdrant of its own
    assert external.config()["RAG_QDRANT_URL"] == "https://q.example.com:6333"
    api = external.get("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(api)["RAG_QDRANT_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "qdrant-cloud", "key": "api-key"}
    api_policy = next(p for p in external.of("NetworkPolicy") if component_of(p) == "api")
    assert {"ports": [{"port": 6333, "protocol": "TCP"}]} in api_policy["spec"]["egress"]


def test_external_llm_instead_of_vllm() -> None:
    manifests = render(
        "default",
        {"llm.backend": "external", "llm.external.baseUrl": "https://llm.example.com/v1",
         "llm.external.model": "big", "llm.external.apiKeySecret.name": "llm-key"},
    )  # fmt: skip
    assert not manifests.has("Deployment", "vllm")
    assert (manifests.config()["RAG_LLM_BASE_URL"], manifests.config()["RAG_LLM_MODEL"]) == (
        "https://llm.example.com/v1",
        "big",
    )
    api = manifests.get("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(api)["RAG_LLM_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "llm-key"


def test_service_monitor_only_where_the_crd_is(profiles: dict[str, Manifests]) -> None:
    assert not profiles["default"].of("ServiceMonitor")
    monitors = render("default", api_versions=(SERVICE_MONITOR_API,)).of("ServiceMonitor")
    assert {component_of(m) for m in monitors} == {"api", "vllm"}
    assert all(m["spec"]["endpoints"][0]["path"] == "/metrics" for m in monitors)


def test_helm_test_pod_runs_the_smoke_check(profiles: dict[str, Manifests]) -> None:
    (pod,) = profiles["default"].of("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    args = pod["spec"]["containers"][0]["args"]
    assert args[0] == "smoke" and args[args.index("--url") + 1] == "http://rag-rag-platform-api:80"
    assert args[args.index("--api-key-file") + 1] == "/etc/rag/api-keys/keys"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"llm.backend": "gpt"}, "/llm/backend"),
        ({"config.RAG_QDRANT_API_KEY": "secret"}, "RAG_QDRANT_API_KEY"),
        ({"config.RAG_WEB_AUTHORIZATION": "Bearer x"}, "RAG_WEB_AUTHORIZATION"),  # a source's credentialsSecret's
        ({"config.MY_SETTING": "x"}, "MY_SETTING"),
        ({"qdrant.replicas": "3"}, "/qdrant/cluster/enabled"),  # several replicas without cluster mode
        ({"llm.backend": "external"}, "/llm/external"),  # no URL
        ({"qdrant.mode": "external"}, "/qdrant/external/url"),
        ({"api.port": "80"}, "/api/port"),  # a privileged port in a non-root container
        ({"podSecurityContext.runAsNonRoot": "false"}, "runAsNonRoot"),
        ({"vllm.securityContext.allowPrivilegeEscalation": "true"}, "allowPrivilegeEscalation"),
        ({"apiKeys.keys[0].key": "short", "apiKeys.keys[0].tenant": "t"}, "/apiKeys/keys/0/key"),
        ({"vllm.gpus": "-1"}, "/vllm/gpus"),
        ({"unknownTopLevel": "x"}, "unknownTopLevel"),
        ({"config.RAG_TENANT_ISOLATION": "none"}, "RAG_TENANT_ISOLATION"),
        ({"config.RAG_INJECTED_SOURCES": "ignore"}, "RAG_INJECTED_SOURCES"),
        ({"config.RAG_UNSUPPORTED_ANSWERS": "hide"}, "RAG_UNSUPPORTED_ANSWERS"),
        ({"config.RAG_ANSWERABILITY_MIN": "1.5"}, "RAG_ANSWERABILITY_MIN"),
        ({"ingest.job.enabled": "yes"}, "/ingest/job/enabled"),
        ({"state.mode": "external"}, "/state/external/url"),  # no URL
        ({"state.mode": "external", "state.external.url": "http://r:6379"}, "/state/external/url"),
        ({"state.mode": "shared"}, "/state/mode"),
        ({"state.failure": "ignore"}, "/state/failure"),
        ({"limits.tenants.acme.tokens_per_day": "-1"}, "tokens_per_day"),
        ({"limits.default.burst": "0"}, "/limits/default/burst"),
        ({"limits.default.tokens_per_week": "5"}, "tokens_per_week"),
        # a URL that may hold a password never goes into the ConfigMap: database.* sets it
        ({"config.RAG_DATABASE_URL": "postgresql://u:pw@db/rag"}, "invalid propertyName 'RAG_DATABASE_URL'"),
        ({"database.mode": "external", "database.external.urlSecret.name": ""}, "/database/external/urlSecret/name"),
        ({"database.mode": "mysql"}, "/database/mode"),
        ({"traces.tenants.acme": "0"}, "/traces/tenants/acme"),
        ({"config.RAG_AUTH_FAILURES_PER_MINUTE": "lots"}, "RAG_AUTH_FAILURES_PER_MINUTE"),
        ({"config.RAG_MAX_HEADER_BYTES": "-1"}, "RAG_MAX_HEADER_BYTES"),
        ({"config.RAG_MAX_TOKEN_BYTES": "16k"}, "RAG_MAX_TOKEN_BYTES"),
        ({"config.RAG_TENANT": "acme/eu"}, "RAG_TENANT"),
        ({"config.RAG_UPLOAD_MAX_DOCUMENTS": "0"}, "RAG_UPLOAD_MAX_DOCUMENTS"),
        ({"config.RAG_UPLOAD_MAX_CHUNKS": "20k"}, "RAG_UPLOAD_MAX_CHUNKS"),
        ({"config.RAG_UPLOAD_MAX_CONCURRENT": -1}, "RAG_UPLOAD_MAX_CONCURRENT"),
        ({"apiKeys.keys[0].key": "k" * 20, "apiKeys.keys[0].tenant": "acme/eu"}, "/apiKeys/keys/0/tenant"),
        ({"apiKeys.generateForTenants[0]": "a" * 65}, "/apiKeys/generateForTenants/0"),
    ],
)
def test_the_schema_rejects_bad_values(sets: dict[str, str], message: str) -> None:
    with pytest.raises(RenderError, match="schema") as failure:
        render_text("default", sets)
    assert message in str(failure.value)


def test_notes_tell_how_to_reach_and_call_the_api(profiles: dict[str, Manifests]) -> None:
    done = helm_run("install", "rag", str(CHART), "--dry-run=client", "--namespace", "rag")
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    api_service = profiles["default"].get("Service", "api")["metadata"]["name"]
    keys_secret = next(
        s["metadata"]["name"] for s in profiles["default"].of("Secret") if "api-keys" in s["metadata"]["name"]
    )
    assert f"port-forward svc/{api_service} 8000:80" in notes
    assert f"get secret {keys_secret} -o jsonpath='{{.data.keys}}'" in notes
    assert 'OpenAI(base_url="http://127.0.0.1:8000/v1"' in notes and "helm test rag -n rag" in notes


def test_shared_state_internal_external_and_off(profiles: dict[str, Manifests]) -> None:
    """Off by default (one process counts alone); the HA profile runs the chart's Redis with a generated password
    and a volume; an external Redis is a URL and a Secret. The API and the jobs get the URL and the password."""
    default = profiles["default"]
    assert not default.has("StatefulSet", "redis") and "RAG_STATE_URL" not in default.config()

    ha = profiles["ha"]
    redis = ha.get("StatefulSet", "redis")
    container = redis["spec"]["template"]["spec"]["containers"][0]
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert container["args"][container["args"].index("--appendonly") + 1] == "yes"
    service = ha.get("Service", "redis")["metadata"]["name"]
    assert ha.config()["RAG_STATE_URL"] == f"redis://{service}:6379/0" and ha.config()["RAG_STATE_FAILURE"] == "open"
    (secret,) = [s for s in ha.of("Secret") if s["metadata"]["name"].endswith("redis-password")]
    password_ref = {"name": secret["metadata"]["name"], "key": "password"}
    assert env_of(container)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == password_ref
    assert len(base64.b64decode(secret["data"]["password"])) >= 32
    for component, spec in ha.pod_specs():
        if component in ("api", "ingest"):
            assert env_of(spec["containers"][0])["RAG_STATE_PASSWORD"]["valueFrom"]["secretKeyRef"] == password_ref
    ephemeral = render("ha", {"state.redis.persistence.enabled": "false"}).get("StatefulSet", "redis")
    assert "volumeClaimTemplates" not in ephemeral["spec"]

    external = render(
        "default",
        {"state.mode": "external", "state.external.url": "rediss://cache.example.com:6380/2",
         "state.external.passwordSecret.name": "redis-cloud", "state.failure": "closed"},
    )  # fmt: skip
    assert not external.has("StatefulSet", "redis")
    assert external.config()["RAG_STATE_URL"] == "rediss://cache.example.com:6380/2"
    assert external.config()["RAG_STATE_FAILURE"] == "closed"
    api = external.get("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(api)["RAG_STATE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "redis-cloud", "key": "password"}
    api_policy = next(p for p in external.of("NetworkPolicy") if component_of(p) == "api")
    assert {"ports": [{"port": 6380, "protocol": "TCP"}]} in api_policy["spec"]["egress"]


def test_the_limits_file_is_a_config_map_the_api_reads_and_an_edit_rolls_the_pods(tmp_path: Path) -> None:
    from rag.limits.limits_file import Limits, LimitsFile, TenantLimits

    sets = {"limits.default.tokens_per_day": "100000", "limits.tenants.acme.tokens_per_month": "5000000",
            "limits.tenants.acme.requests_per_minute": "30"}  # fmt: skip
    manifests = render("default", sets)
    (limits_map,) = [c for c in manifests.of("ConfigMap") if component_of(c) == "limits"]
    path = tmp_path / "limits.yaml"
    path.write_text(limits_map["data"]["limits.yaml"])
    limits = Limits(TenantLimits(), LimitsFile.load(path))  # what `rag serve` makes of the mounted file
    assert limits.for_tenant("acme") == TenantLimits(requests_per_minute=30, tokens_per_day=100_000,
                                                     tokens_per_month=5_000_000)  # fmt: skip
    assert limits.for_tenant("other").tokens_per_day == 100_000
    pod = manifests.get("Deployment", "api")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert manifests.config()["RAG_LIMITS_FILE"] == f"{mounts['limits']}/limits.yaml"
    assert volumes["limits"]["configMap"]["name"] == limits_map["metadata"]["name"]

    def checksum(m: Manifests) -> str:
        return str(m.get("Deployment", "api")["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    edited = render("default", {**sets, "limits.tenants.acme.requests_per_minute": "60"})
    assert checksum(edited) != checksum(manifests) == checksum(render("default", sets))
    plain = render("default")
    assert "RAG_LIMITS_FILE" not in plain.config() and not [c for c in plain.of("ConfigMap") if component_of(c)]


def test_the_records_database_internal_external_and_sqlite(profiles: dict[str, Manifests]) -> None:
    """By default the chart's PostgreSQL (official image, a volume, a generated password) holds the records; the API
    and the pre-upgrade migration Job get its URL and password, and only they may reach it. An external PostgreSQL
    is a URL in a Secret. The dev profile keeps SQLite on the API's one replica's volume, with no Job."""
    default = profiles["default"]
    postgres = default.get("StatefulSet", "postgres")
    container = postgres["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("postgres:") and postgres["spec"]["volumeClaimTemplates"]
    service = default.get("Service", "postgres")["metadata"]["name"]
    assert default.config()["RAG_DATABASE_URL"] == f"postgresql://rag@{service}:5432/rag"
    (secret,) = [s for s in default.of("Secret") if s["metadata"]["name"].endswith("postgres-password")]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(base64.b64decode(secret["data"]["password"])) >= 32
    password_ref = {"name": secret["metadata"]["name"], "key": "password"}
    assert env_of(container)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == password_ref
    migrate = default.get("Job", "migrate")
    assert migrate["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    job = migrate["spec"]["template"]["spec"]["containers"][0]
    assert job["args"] == ["db", "upgrade"]
    for component, spec in default.pod_specs():
        if component in ("api", "migrate"):
            assert env_of(spec["containers"][0])["RAG_DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == password_ref
        elif component != "postgres":
            assert "RAG_DATABASE_PASSWORD" not in env_of(spec["containers"][0]), component
    policies = {component_of(p): p["spec"] for p in default.of("NetworkPolicy")}
    callers = [peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
               for peer in policies["postgres"]["ingress"][0]["from"]]  # fmt: skip
    assert sorted(callers) == ["api", "migrate"] and policies["postgres"]["egress"] == []
    for component in ("api", "migrate"):
        to_db = [r for r in policies[component]["egress"] if r.get("ports") == [{"port": 5432, "protocol": "TCP"}]]
        assert to_db and to_db[0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "postgres"

    external = render("default", {"database.mode": "external", "database.external.urlSecret.name": "records-db"})
    assert not external.has("StatefulSet", "postgres") and "RAG_DATABASE_URL" not in external.config()
    for component in ("api", "migrate"):
        pod = external.get("Deployment" if component == "api" else "Job", component)["spec"]["template"]["spec"]
        url = env_of(pod["containers"][0])["RAG_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert url == {"name": "records-db", "key": "url"}
    with pytest.raises(RenderError, match="schema"):
        render_text("default", {"database.mode": "external"})  # which Secret?

    dev = profiles["dev"]
    assert not dev.has("StatefulSet", "postgres") and not dev.of("Job")
    assert dev.config()["RAG_DATABASE_URL"] == "sqlite:////var/lib/rag/records.db"
    api = dev.get("Deployment", "api")
    assert api["spec"]["replicas"] == 1 and api["spec"]["strategy"]["type"] == "Recreate"
    mounts = {m["name"]: m["mountPath"] for m in api["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["records"] == "/var/lib/rag"
    kept = render("dev", {"database.sqlite.persistence.enabled": "true"})
    (claim,) = kept.of("PersistentVolumeClaim")
    volumes = {v["name"]: v for v in kept.get("Deployment", "api")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["records"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


@pytest.mark.parametrize(
    "sets", [{"database.mode": "sqlite"}, {"database.mode": "sqlite", "api.autoscaling.enabled": "false"}]
)
def test_the_schema_refuses_sqlite_records_with_more_than_one_api_replica(sets: dict[str, str]) -> None:
    with pytest.raises(RenderError, match="schema"):
        render_text("default", sets)  # two replicas (and autoscaling) by default
    assert (
        render("default", {**sets, "api.replicaCount": "1", "api.autoscaling.enabled": "false"})
        .config()["RAG_DATABASE_URL"]
        .startswith("sqlite:")
    )


def test_traces_and_the_playground_are_wired_to_their_settings(tmp_path: Path) -> None:
    manifests = render("default", {"traces.tenants.acme": "30", "traces.tenants.globex": "7",
                                   "traces.content": "true", "playground.oidc.clientId": "rag-playground",
                                   **OIDC_ON})  # fmt: skip
    config = manifests.config()
    assert (config["RAG_TRACE_TENANTS"], config["RAG_TRACE_CONTENT"]) == ("acme=30,globex=7", "true")
    assert config["RAG_UI_ENABLED"] == "true" and config["RAG_UI_OIDC_CLIENT_ID"] == "rag-playground"
    from rag.settings import Settings

    settings = Settings(**{k.removeprefix("RAG_").lower(): v for k, v in config.items()
                           if k.startswith(("RAG_TRACE", "RAG_UI", "RAG_FEEDBACK"))})  # fmt: skip
    assert settings.records.trace_tenants == {"acme": 30, "globex": 7} and settings.records.trace_content
    assert "RAG_TRACE_TENANTS" not in render("default").config()  # none by default
    with pytest.raises(RenderError, match="schema"):
        render_text("default", {"traces.tenants.acme": "0"})


def test_the_cap_on_a_tenants_chats_in_flight_reaches_the_api_and_the_limits_file(tmp_path: Path) -> None:
    """RAG_TENANT_MAX_CONCURRENT_CHATS in the ConfigMap, as the settings read it; the limits file sets it per tenant
    (`max_concurrent_chats`), the rest of the tenants keep the setting's; the schema refuses what is not a count."""
    from rag.limits.limits_file import Limits, LimitsFile, TenantLimits
    from rag.settings import Settings

    manifests = render("default", {"limits.tenants.acme.max_concurrent_chats": "8"})
    config = manifests.config()
    settings = Settings.model_validate({"tenant_max_concurrent_chats": config["RAG_TENANT_MAX_CONCURRENT_CHATS"]})
    assert settings.limits.tenant_max_concurrent_chats == 64
    (limits_map,) = [c for c in manifests.of("ConfigMap") if component_of(c) == "limits"]
    path = tmp_path / "limits.yaml"
    path.write_text(limits_map["data"]["limits.yaml"])
    limits = Limits(
        TenantLimits(max_concurrent_chats=settings.limits.tenant_max_concurrent_chats), LimitsFile.load(path)
    )
    assert limits.for_tenant("acme").max_concurrent_chats == 8 and limits.for_tenant("other").max_concurrent_chats == 64
    assert (
        render("default", {"config.RAG_TENANT_MAX_CONCURRENT_CHATS": "0"}).config()["RAG_TENANT_MAX_CONCURRENT_CHATS"]
        == "0"
    )  # no cap
    for sets, where in (
        ({"config.RAG_TENANT_MAX_CONCURRENT_CHATS": "-1"}, "RAG_TENANT_MAX_CONCURRENT_CHATS"),
        ({"config.RAG_TENANT_MAX_CONCURRENT_CHATS": "many"}, "RAG_TENANT_MAX_CONCURRENT_CHATS"),
        ({"limits.tenants.acme.max_concurrent_chats": "-1"}, "/limits/tenants/acme/max_concurrent_chats"),
    ):
        with pytest.raises(RenderError, match="schema") as failure:
            render_text("default", sets)
        assert where in str(failure.value)
