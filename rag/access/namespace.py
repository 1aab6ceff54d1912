"""Which store collection holds a tenant's collection: the tenant isolation (RAG_TENANT_ISOLATION).

- `strict` (default): every tenant's collection is a collection of its own in the store, `<collection>@<tenant>`;
  the deployment's own tenant (RAG_TENANT) keeps the plain name, so a single-tenant store looks as it always did.
  Nothing is shared between tenants: BM25's IDF (Qdrant computes it per collection) counts only the tenant's own
  documents, and another tenant's collection reads as not found, exactly like one that does not exist.
- `shared`: one store collection per name for every tenant, each query filtered by tenant. Cheaper with many small
  tenants, but term statistics are shared (a tenant can learn which terms other tenants' documents hold by probing
  sparse scores) and a collection another tenant created answers with no data instead of not found.

The tenant filter stays on every query in both modes. A collection name given by a caller is checked here, in both
modes, so nobody can name another tenant's store collection directly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from rag.errors import InvalidInput
from rag.tenants import TENANT_NAME

TenantIsolation = Literal["strict", "shared"]

# A collection as callers name it; `@` is not allowed, so a caller can never name a tenant's store collection.
_COLLECTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
# A store collection: a caller's name, `@` and a tenant token appended in strict isolation (`store_name`).
_STORE_NAME = re.compile(rf"{_COLLECTION.pattern}(@~?{TENANT_NAME.pattern})?")
MAX_STORE_NAME = 255


def check_collection(name: str) -> str:
    """`name`, or InvalidInput when it is not a collection name a caller may use."""
    if not _COLLECTION.fullmatch(name):
        raise InvalidInput(
            f"invalid collection name {name!r}: letters, digits, '_', '-' and '.', starting with a letter or digit",
            param="collection",
        )
    return name


def check_store_name(name: str) -> str:
    """`name`, or InvalidInput when it cannot be a store collection: what every engine checks before it asks its
    database anything, so a bad name is the caller's error (400) on every engine."""
    if not _STORE_NAME.fullmatch(name):
        raise InvalidInput(f"invalid collection name '{name}'", param="collection")
    return name


def tenant_token(tenant: str) -> str:
    """The tenant as it appears in store names: itself when plain, else `~` and a hash (names stay portable)."""
    if TENANT_NAME.fullmatch(tenant):
        return tenant
    return "~" + hashlib.sha256(tenant.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CollectionNamespace:
    isolation: TenantIsolation = "strict"
    home_tenant: str = "default"  # keeps plain names in strict mode

    def store_name(self, collection: str, tenant: str) -> str:
        """The store collection that holds `tenant`'s `collection`."""
        check_collection(collection)
        if self.isolation == "shared" or tenant == self.home_tenant:
            return collection
        name = f"{collection}@{tenant_token(tenant)}"
        if len(name) > MAX_STORE_NAME:
            raise InvalidInput(f"collection name too long: at most {MAX_STORE_NAME} characters", param="collection")
        return name

    def caller_name(self, store_name: str, tenant: str) -> str | None:
        """The name `tenant` calls a store collection by, or None when it is not one of the tenant's (shared
        isolation: every collection is everyone's, filtered by tenant)."""
        if self.isolation == "shared":
            return store_name
        collection, at, token = store_name.partition("@")
        if not at:
            return collection if tenant == self.home_tenant else None
        return collection if tenant != self.home_tenant and token == tenant_token(tenant) else None
