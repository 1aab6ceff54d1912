"""`GET /v1/me`: who the caller is, as the API resolved its credential: tenant, subject, roles, groups (the playground
shows what the caller may do from it)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from rag.access.identity import ROLES, Role
from serving.deps import ReaderDep
from serving.protocol import ErrorResponse

router = APIRouter()


class PrincipalObject(BaseModel):
    object: Literal["principal"] = "principal"
    tenant: str
    subject: str
    roles: list[Role]  # the granted ones, in the order reader, writer, admin (each includes those before it)
    groups: list[str]
    key_id: str | None  # the short hash of the API key, when one was used


@router.get("/v1/me", response_model=PrincipalObject, responses={c: {"model": ErrorResponse} for c in (401, 429)})
async def me(principal: ReaderDep) -> PrincipalObject:
    return PrincipalObject(
        tenant=principal.tenant,
        subject=principal.subject,
        roles=[r for r in ROLES if r in principal.roles],
        groups=sorted(principal.groups),
        key_id=principal.key_id,
    )
