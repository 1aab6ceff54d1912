"""A real OIDC provider for the tests: the npm package oidc-provider (scripts/oidc-provider.sh installs it outside
the clone) run on loopback by tests/support/oidc_provider.mjs, signing with an RSA key made here, so that a test
can also sign tokens the provider would never issue."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.launcher import Server, launch_server
from tests.support.paths import ROOT

AUDIENCE = "https://rag.example/api"  # the API's audience in the provider's tokens
SCRIPT = ROOT / "tests" / "support" / "oidc_provider.mjs"
PATH_ONLY = {"PATH": "/usr/bin:/bin:/usr/local/bin"}  # the provider's environment: node on the PATH, nothing else


def provider_module() -> str:
    """The installed oidc-provider's entry module (scripts/oidc-provider.sh installs it once and prints it)."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "oidc-provider.sh")], capture_output=True, text=True, check=True, timeout=600
    )
    return done.stdout.strip()


def private_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The private JWK the provider signs with."""
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.pop("key_ops", None)  # PyJWT writes ["sign"]; the provider looks for keys that verify
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def new_signing_key(kid: str) -> tuple[dict[str, Any], rsa.RSAPrivateKey]:
    """A fresh RSA key: its private JWK (for the provider) and the key (for tokens signed here)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private_jwk(key, kid), key


def launch_provider(module: str, port: int, files: list[Path], log: Path) -> Server:
    """The provider on `port` with the AUDIENCE, its files given in the script's order (JWKS, clients, and
    optionally accounts), not yet waited for (`Server.wait_ready("/.well-known/openid-configuration", ...)`)."""
    args = [module, str(port), AUDIENCE, *(str(f) for f in files)]
    return launch_server(["node", str(SCRIPT), *args], PATH_ONLY, port, log)
