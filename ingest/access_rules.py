"""Who may see the documents an ingestion run stores: the access each document gets when its loader gave none.

Three routes, the first that speaks wins:
1. a record's own fields (JSONL/CSV): `access_users`, `access_groups` (a list, or names separated by `,` or `;`)
   and `access_tenant_wide` (true/false), read by ingest/formats/record_files.py;
2. an access manifest (`rag ingest --access-manifest FILE`, YAML): a list of rules, the first whose glob matches the
   document's id (its path under the ingested folder; a record's file path) gives the access;
3. the run's flags, for every other document: `--access-users`, `--access-groups`, `--access-tenant-wide`.

A document none of them speaks for declares no access: RAG_DEFAULT_ACCESS decides who sees it, at query time.

    # access.yaml
    - match: "hr/*"
      groups: [hr]
    - match: "legal/contracts/*.pdf"
      groups: [legal]
      users: [alice@example.com]
    - match: "handbook/*"
      tenant_wide: true
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingest.formats.base import LoadFailure
from ingest.sources.base import Unchanged, glob_matches
from rag.access.document_access import DocumentAccess
from rag.domain import Document

Sourced = Document | LoadFailure | Unchanged


class AccessManifestError(ValueError):
    """The manifest cannot be read or does not hold rules; the run stops before it stores anything."""


@dataclass(frozen=True, slots=True)
class AccessRule:
    match: str
    access: DocumentAccess


def _names(rule: dict[str, Any], key: str, where: str) -> list[str]:
    value = rule.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AccessManifestError(f"{where}: '{key}' must be a list of names")
    return value


def read_manifest(path: Path) -> list[AccessRule]:
    """The rules of an access manifest, in order; AccessManifestError naming the file (and rule) otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AccessManifestError(f"cannot read the access manifest {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise AccessManifestError(f"{path}: not YAML: {exc}") from None
    if not isinstance(data, list):
        raise AccessManifestError(f"{path}: expected a list of rules (- match: GLOB, groups: [...], users: [...])")
    rules: list[AccessRule] = []
    for n, rule in enumerate(data, start=1):
        where = f"{path}: rule {n}"
        if not isinstance(rule, dict) or not isinstance(rule.get("match"), str) or not rule["match"]:
            raise AccessManifestError(f"{where}: every rule needs 'match: GLOB'")
        unknown = set(rule) - {"match", "users", "groups", "services", "tenant_wide"}
        if unknown:
            raise AccessManifestError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        tenant_wide = rule.get("tenant_wide", False)
        if not isinstance(tenant_wide, bool):
            raise AccessManifestError(f"{where}: 'tenant_wide' must be true or false")
        try:
            access = DocumentAccess.of(
                users=_names(rule, "users", where),
                groups=_names(rule, "groups", where),
                services=_names(rule, "services", where),
                tenant_wide=tenant_wide,
            )
        except ValueError as exc:
            raise AccessManifestError(f"{where}: {exc}") from None
        rules.append(AccessRule(rule["match"], access))
    return rules


@dataclass(frozen=True, slots=True)
class AccessRules:
    """The manifest's rules, then the run's own access (None: declare none)."""

    rules: Sequence[AccessRule] = ()
    fallback: DocumentAccess | None = None

    def fingerprint(self) -> str:
        """Changes when the access these rules give any document may change (the same in every process)."""

        def spelled(access: DocumentAccess | None) -> object:
            if access is None:
                return None
            names = (sorted(access.users), sorted(access.groups), sorted(access.services))
            return (*names, access.tenant_wide)

        return repr(([(r.match, spelled(r.access)) for r in self.rules], spelled(self.fallback)))

    def access_for(self, doc_id: str) -> DocumentAccess | None:
        path = doc_id.split("#", 1)[0]  # a record's id is its file's, then `#key`
        for rule in self.rules:
            if glob_matches(path, rule.match):
                return rule.access
        return self.fallback

    def apply(self, items: Iterable[Sourced]) -> Iterator[Sourced]:
        """Each document with the access it declares, else what these rules give it; a document its source says is
        unchanged (not fetched) gets what these rules give its id."""
        if not self.rules and self.fallback is None:
            yield from items
            return
        for item in items:
            if isinstance(item, Document | Unchanged) and item.access is None:
                access = self.access_for(item.doc_id)
                yield dataclasses.replace(item, access=access) if access is not None else item
            else:
                yield item
