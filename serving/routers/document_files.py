"""`POST /v1/documents/files`: files uploaded as multipart/form-data (fields `files`, and optionally `collection`),
loaded by the loaders `rag ingest` uses (PDF, DOCX, Markdown, HTML, text, JSON Lines and CSV records) and synced
like it (writers). A document's id is its file's name (a record file's records keep their own ids), so uploading a
file again updates it. A file that cannot be loaded is reported as the CLI reports it (`failed: NAME: REASON`) and
the others are stored; the request fails (400) only when nothing could be stored."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from ingest.formats.base import LoadFailure, LoadOptions
from ingest.loaders import load
from ingest.sources import SourceFile
from ingest.sync import Ingestor
from rag.domain import Document
from rag.errors import InvalidInput
from rag.identity import Principal
from rag.state.usage import UsageCounts
from serving.deps import StateDep, WriterDep
from serving.metering import meter
from serving.protocol import ErrorResponse
from serving.state import AppState

router = APIRouter()
MAX_FILES = 100
UPLOAD_PATH = "/v1/documents/files"
UPLOADED = "upload:"  # an uploaded document's source: this, then its file's name (and `#KEY` for a record)


class UploadedDocument(BaseModel):
    id: str
    file: str


class FailedFile(BaseModel):
    file: str  # the uploaded file's name (`NAME:LINE` for one record of a record file)
    error: str  # the loader's reason, as `rag ingest` prints it


class FilesStored(BaseModel):
    object: Literal["upload"] = "upload"
    collection: str
    documents: list[UploadedDocument]  # loaded and synced (added, updated or unchanged)
    failed: list[FailedFile]
    documents_added: int
    documents_updated: int
    documents_unchanged: int
    chunks: int


def _name(upload: UploadFile, taken: set[str]) -> str:
    name = Path((upload.filename or "").replace("\\", "/")).name.strip()
    if not name or name in (".", ".."):
        raise InvalidInput("every uploaded file needs a file name", param="files")
    if name in taken:
        raise InvalidInput(f"two uploaded files are named '{name}'", param="files")
    taken.add(name)
    return name


def _ingest(
    state: AppState, principal: Principal, collection: str | None, files: list[UploadFile]
) -> tuple[FilesStored, UsageCounts]:
    components = state.components
    target = components.requests.target(tenant=principal.tenant, collection=collection)
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as folder:
        root = Path(folder)
        prefix = f"{root}/"
        sources, taken = [], set[str]()
        for upload in files:
            name = _name(upload, taken)
            with (root / name).open("wb") as out:
                shutil.copyfileobj(upload.file, out)
            sources.append(SourceFile(root / name, name))

        def shown(path: str) -> str:  # the temporary folder is no one's business
            return path.removeprefix(prefix)

        loaded: list[tuple[str, UploadedDocument]] = []  # (its source as stored, the document)

        def renamed() -> Iterator[Document | LoadFailure]:
            for item in load(sources, LoadOptions.from_settings(state.settings)):
                if isinstance(item, LoadFailure):
                    yield LoadFailure(shown(item.path), item.error, file=shown(item.file))
                else:
                    source = f"{UPLOADED}{shown(item.source)}"
                    file = shown(item.source).split("#", 1)[0]
                    loaded.append((source, UploadedDocument(id=item.doc_id, file=file)))
                    yield replace(item, source=source)

        ingestor = Ingestor.for_components(components, collection=target.collection, tenant=target.tenant)
        summary = ingestor.run(renamed())
    # a document the sync refused (no text, too many chunks) fails under its source: shown as its file's name
    refused = {f["path"] for f in summary.failed}
    failed = [FailedFile(file=f["path"].removeprefix(UPLOADED), error=f["error"]) for f in summary.failed]
    stored = FilesStored(
        collection=target.collection,
        documents=[d for source, d in loaded if source not in refused],
        failed=failed,
        documents_added=summary.documents_added,
        documents_updated=summary.documents_updated + summary.documents_access_updated,
        documents_unchanged=summary.documents_unchanged,
        chunks=summary.chunks_upserted,
    )
    return stored, UsageCounts(chunks_embedded=summary.chunks_upserted, embedding_tokens=summary.embedding_tokens)


@router.post(UPLOAD_PATH, response_model=FilesStored,
             responses={c: {"model": ErrorResponse} for c in (400, 401, 403, 413, 429, 503)})  # fmt: skip
async def upload_files(
    state: StateDep,
    principal: WriterDep,
    files: Annotated[list[UploadFile], File(description="the files to load, as `rag ingest` loads them")],
    collection: Annotated[str | None, Form(min_length=1, max_length=255)] = None,
) -> FilesStored:
    if not files:
        raise InvalidInput("no files: send them as multipart/form-data fields named 'files'", param="files")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"at most {MAX_FILES} files per upload, not {len(files)}", param="files")
    stored, embedded = await run_in_threadpool(_ingest, state, principal, collection, files)
    doc_ids = [d.id for d in stored.documents]
    await state.audit.record(principal, f"POST {UPLOAD_PATH}", "store", stored.collection, doc_ids)
    await meter(state, principal, embedded)
    if not stored.documents:
        lines = "; ".join(f"failed: {f.file}: {f.error}" for f in stored.failed[:20])
        raise InvalidInput(f"no document could be stored: {lines}", param="files")
    return stored
