"""`GET /v1/collections`: the collections of the caller's tenant that hold something it may see, with how many
chunks it may see in each (the playground's collection picker)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from rag.access.identity import Principal
from serving.deps import ReaderDep, StateDep
from serving.protocol import ErrorResponse
from serving.state import AppState

router = APIRouter()


class CollectionObject(BaseModel):
    object: Literal["collection"] = "collection"
    id: str
    chunks: int  # the chunks the caller may see


class CollectionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[CollectionObject]


def _collections(state: AppState, principal: Principal) -> CollectionList:
    components = state.components
    reader = components.requests.reader(principal)
    found = []
    for store_name in components.store.list_collections():
        name = components.namespace.caller_name(store_name, principal.tenant)
        if name is None:
            continue
        visible = components.store.count(store_name, reader)
        if visible or name == state.settings.store.collection:
            found.append(CollectionObject(id=name, chunks=visible))
    return CollectionList(data=sorted(found, key=lambda c: c.id))


@router.get("/v1/collections", response_model=CollectionList,
            responses={c: {"model": ErrorResponse} for c in (401, 429, 503)})  # fmt: skip
async def list_collections(state: StateDep, principal: ReaderDep) -> CollectionList:
    return await run_in_threadpool(_collections, state, principal)
