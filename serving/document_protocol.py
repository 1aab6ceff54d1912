"""The document endpoints' bodies: `POST /v1/documents`, `GET /v1/documents`, `DELETE /v1/documents/{doc_id}`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.access.document_access import MAX_PRINCIPAL_NAME, DocumentAccess
from serving.protocol import MetadataValue, Utf8Str, ValidUnicode

Name = Annotated[Utf8Str, Field(min_length=1, max_length=MAX_PRINCIPAL_NAME)]


class AccessBody(BaseModel):
    """Who may see a document besides its tenant's admins: everyone in the tenant (`tenant_wide`), or the listed
    users (OIDC subjects), services (API keys' subjects) and groups."""

    model_config = ConfigDict(extra="forbid")
    tenant_wide: bool = False
    users: list[Name] = Field(default_factory=list, max_length=1_000)
    groups: list[Name] = Field(default_factory=list, max_length=1_000)
    services: list[Name] = Field(default_factory=list, max_length=1_000)

    @field_validator("users", "groups", "services")
    @classmethod
    def _no_blank(cls, names: list[str]) -> list[str]:
        if any(not n.strip() for n in names):
            raise ValueError("names may not be blank")
        return names

    def domain(self) -> DocumentAccess:
        return DocumentAccess.of(
            users=self.users, groups=self.groups, services=self.services, tenant_wide=self.tenant_wide
        )

    @classmethod
    def of(cls, access: DocumentAccess | None) -> AccessBody | None:
        if access is None:
            return None
        return cls(
            tenant_wide=access.tenant_wide,
            users=sorted(access.users),
            groups=sorted(access.groups),
            services=sorted(access.services),
        )


class DocumentUpload(BaseModel):
    """`POST /v1/documents`: one document, stored in the caller's tenant (an existing id is replaced). Without
    `access` it is seen as the deployment's default says (RAG_DEFAULT_ACCESS)."""

    model_config = ConfigDict(extra="forbid")
    id: Utf8Str = Field(min_length=1, max_length=512)
    text: Utf8Str = Field(min_length=1, max_length=5_000_000)
    title: Utf8Str = Field(default="", max_length=1_000)
    metadata: Annotated[dict[str, MetadataValue], ValidUnicode] = Field(default_factory=dict, max_length=64)
    collection: Utf8Str | None = Field(default=None, min_length=1, max_length=255)
    access: AccessBody | None = None


class DocumentStored(BaseModel):
    id: str
    object: Literal["document"] = "document"
    collection: str
    status: Literal["created", "updated", "access_updated", "unchanged"]
    chunks: int


class DocumentDeleted(BaseModel):
    """`DELETE /v1/documents/{doc_id}`: what went (OpenAI's deletion shape, plus the chunk count)."""

    id: str
    object: Literal["document"] = "document"
    deleted: bool = True
    collection: str
    chunks_deleted: int


class DocumentInfo(BaseModel):
    """A stored document the caller may see: its id, title, source and access (null: the deployment's default)."""

    id: str
    object: Literal["document"] = "document"
    title: str
    source: str
    access: AccessBody | None


class DocumentList(BaseModel):
    """`GET /v1/documents`: one page of the documents the caller may see, by id; `last_id` is the `after` of the
    next page while `has_more`."""

    object: Literal["list"] = "list"
    collection: str
    data: list[DocumentInfo]
    has_more: bool
    last_id: str | None
