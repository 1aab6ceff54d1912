"""`GET /v1/models`: the one model this API serves (retrieval-augmented generation over the collections)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import StateDep
from serving.protocol import ModelCard, ModelList

router = APIRouter()


@router.get("/v1/models", response_model=ModelList)
async def list_models(state: StateDep) -> ModelList:
    return ModelList(data=[ModelCard(id=state.settings.api.model_name, created=state.started)])
