"""`GET /v1/eval/reports` and `GET /v1/eval/reports/{name}/{image}`: the latest evaluation reports `rag eval` wrote
under RAG_REPORTS_DIR, their tables and PNG plots, for the tenant's admins (the playground shows them). The reports
are the deployment's, not a tenant's: they describe the platform's quality on evaluation datasets."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from evals.report_index import latest_reports, report_image
from rag.errors import NotFound
from serving.deps import AdminDep, StateDep
from serving.protocol import ErrorResponse

router = APIRouter()
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in (401, 403, 429)}


class TableObject(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    caption: str
    columns: list[str]
    rows: list[list[Any]]


class ReportObject(BaseModel):
    object: Literal["eval.report"] = "eval.report"
    name: str
    modified: int  # Unix seconds
    dataset: str
    tables: list[TableObject]
    images: list[str]


class ReportList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ReportObject]


@router.get("/v1/eval/reports", response_model=ReportList, responses=_ERRORS)
async def list_reports(state: StateDep, principal: AdminDep) -> ReportList:
    entries = await run_in_threadpool(latest_reports, state.settings.evals.reports_dir)
    return ReportList(data=[ReportObject.model_validate(e, from_attributes=True) for e in entries])


@router.get(
    "/v1/eval/reports/{name}/{image}",
    response_class=FileResponse,
    responses={**_ERRORS, 404: {"model": ErrorResponse}, 200: {"content": {"image/png": {}}}},
)
async def get_report_image(name: str, image: str, state: StateDep, principal: AdminDep) -> FileResponse:
    path = await run_in_threadpool(report_image, state.settings.evals.reports_dir, name, image)
    if path is None:
        raise NotFound(f"no plot '{image}' in report '{name}'")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})
