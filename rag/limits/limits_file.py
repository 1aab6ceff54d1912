"""The limits file (RAG_LIMITS_FILE, a ConfigMap in the chart): request rates, token quotas and chats in flight, a
default and per-tenant overrides. Without a file, the rate is RAG_RATE_LIMIT_PER_MINUTE / RAG_RATE_LIMIT_BURST,
tokens are unlimited and chats in flight are RAG_TENANT_MAX_CONCURRENT_CHATS per tenant.

    default:
      requests_per_minute: 600   # per API key or per user (OIDC subject)
      burst: 60                  # at most this many in any (60 * burst / requests_per_minute) seconds
      tokens_per_day: 2000000    # per tenant, prompt plus completion tokens, UTC day; null: unlimited
      tokens_per_month: 40000000 # per tenant, UTC calendar month; null: unlimited
      max_concurrent_chats: 64   # per tenant, chats in flight at once (every replica's, with Redis); 0: no cap
    tenants:
      acme:
        tokens_per_day: 10000000 # what a tenant leaves out comes from `default`
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class LimitsFileError(ValueError):
    """The limits file cannot be read or says something wrong (the message names the file and the entry)."""


class TenantLimits(BaseModel):
    """One tenant's limits, resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int = Field(default=600, ge=0)  # 0: no rate limit
    burst: int = Field(default=60, ge=1)
    tokens_per_day: int | None = Field(default=None, ge=0)
    tokens_per_month: int | None = Field(default=None, ge=0)
    max_concurrent_chats: int = Field(default=64, ge=0)  # 0: no cap


class LimitsEntry(BaseModel):
    """What the file says for the default or a tenant: only the limits it names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int | None = Field(default=None, ge=0)
    burst: int | None = Field(default=None, ge=1)
    tokens_per_day: int | None = Field(default=None, ge=0)
    tokens_per_month: int | None = Field(default=None, ge=0)
    max_concurrent_chats: int | None = Field(default=None, ge=0)


class LimitsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: LimitsEntry = LimitsEntry()
    tenants: dict[str, LimitsEntry] = {}

    @classmethod
    def load(cls, path: Path) -> LimitsFile:
        """The file parsed and checked (LimitsFileError naming the file and the bad entry)."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            return cls.model_validate(raw)
        except OSError as exc:
            raise LimitsFileError(f"{path}: cannot read the limits file ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise LimitsFileError(f"{path}: not YAML ({exc})") from exc
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise LimitsFileError(f"{path}: {problems}") from exc


class Limits:
    """Each tenant's limits: the settings' (RAG_RATE_LIMIT_PER_MINUTE, RAG_RATE_LIMIT_BURST,
    RAG_TENANT_MAX_CONCURRENT_CHATS), then what the file's `default` names, then what its entry for the tenant
    names."""

    def __init__(self, base: TenantLimits, file: LimitsFile | None = None) -> None:
        file = file or LimitsFile()
        self._default = base.model_copy(update=file.default.model_dump(exclude_unset=True))
        self._tenants = {
            name: self._default.model_copy(update=entry.model_dump(exclude_unset=True))
            for name, entry in file.tenants.items()
        }

    def for_tenant(self, tenant: str) -> TenantLimits:
        return self._tenants.get(tenant, self._default)

    @classmethod
    def of(cls, path: Path | None, *, requests_per_minute: int, burst: int, max_concurrent_chats: int = 64) -> Limits:
        base = TenantLimits(
            requests_per_minute=requests_per_minute, burst=burst, max_concurrent_chats=max_concurrent_chats
        )
        return cls(base, LimitsFile.load(path) if path is not None else None)
