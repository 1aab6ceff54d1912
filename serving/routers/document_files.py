"""`POST /v1/documents/files`: files uploaded as multipart/form-data (fields `files`, and optionally `collection`),
loaded by the loaders `rag ingest` uses (PDF, DOCX, Markdown, HTML, text, JSON Lines and CSV records) and synced
like it (writers). A document's id is its file's name (a record file's records keep their own ids), so uploading a
file again updates it (a writer that is not an admin stores new documents under its own namespace:
rag/access/write_scope.py). A file that cannot be loaded is reported as the CLI reports it (`failed: NAME: REASON`) and
the others are stored; the request fails (400) only when nothing could be stored.

Bounds (docs/api.md): RAG_UPLOAD_MAX_DOCUMENTS records, counted before any is loaded; RAG_UPLOAD_MAX_CHUNKS chunks,
after which the upload stops and names what it did not store; RAG_UPLOAD_MAX_CONCURRENT uploads at once per
process. A client that leaves stops its upload before the next embedding batch (logged as 499); what was stored
stays, is audited and metered."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.types import Receive

from ingest.formats.base import LoadFailure, LoadOptions
from ingest.loaders import estimated_documents, load
from ingest.sources.base import SourceFile
from ingest.sync import Ingestor, IngestSummary
from rag.access.identity import Principal
from rag.access.write_scope import WriteScope
from rag.domain import Document
from rag.errors import InvalidInput
from rag.limits.usage import UsageCounts
from serving.deps import StateDep, WriterDep
from serving.disconnect import CLIENT_CLOSED_REQUEST, disconnected
from serving.metering import meter
from serving.protocol import ErrorResponse
from serving.state import AppState

log = logging.getLogger(__name__)
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


MAX_NAME_BYTES = 255  # what a file system holds in one name


def _name(upload: UploadFile, taken: set[str]) -> str:
    name = Path((upload.filename or "").replace("\\", "/")).name.strip()
    if not name or name in (".", ".."):
        raise InvalidInput("every uploaded file needs a file name", param="files")
    if "\x00" in name or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidInput(f"a file name holds a NUL or is longer than {MAX_NAME_BYTES} bytes", param="files")
    if name in taken:
        raise InvalidInput(f"two uploaded files are named '{name}'", param="files")
    taken.add(name)
    return name


def _saved(root: Path, files: list[UploadFile]) -> list[SourceFile]:
    sources, taken = [], set[str]()
    for upload in files:
        name = _name(upload, taken)
        try:
            with (root / name).open("wb") as out:
                shutil.copyfileobj(upload.file, out)
        except (OSError, UnicodeError, ValueError):  # a name this file system will not hold
            raise InvalidInput(f"a file name cannot be stored: '{name[:80]}'", param="files") from None
        sources.append(SourceFile(root / name, name))
    return sources


@dataclass
class _Progress:
    """Per uploaded file: the documents it holds (a record file's records counted by line), those that failed and
    those stored."""

    holds: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    stored: list[UploadedDocument] = field(default_factory=list)

    def not_stored(self) -> dict[str, int]:
        stored = Counter(d.file for d in self.stored)
        left = {f: n - self.failed[f] - stored[f] for f, n in self.holds.items()}
        return {f: n for f, n in left.items() if n > 0}


def _ingest(
    state: AppState, principal: Principal, collection: str | None, files: list[UploadFile], gone: threading.Event
) -> tuple[FilesStored, UsageCounts]:
    components, settings = state.components, state.settings
    target = components.requests.target(tenant=principal.tenant, collection=collection)
    progress = _Progress()
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as folder:
        root = Path(folder)
        prefix = f"{root}/"
        sources = _saved(root, files)
        progress.holds.update({s.doc_id: estimated_documents(s) for s in sources})  # before any is loaded
        holding = progress.holds.total()
        if holding > settings.uploads.max_documents:
            raise InvalidInput(
                f"the files hold {holding:,} documents; an upload may hold {settings.uploads.max_documents:,} "
                "(RAG_UPLOAD_MAX_DOCUMENTS): load larger sets with `rag ingest`",
                param="files",
            )

        def shown(path: str) -> str:  # the temporary folder is no one's business
            return path.removeprefix(prefix)

        def renamed() -> Iterator[Document | LoadFailure]:
            for item in load(sources, LoadOptions.from_settings(settings.ingest)):
                if isinstance(item, LoadFailure):
                    yield LoadFailure(shown(item.path), item.error, file=shown(item.file))
                else:
                    yield replace(item, source=f"{UPLOADED}{shown(item.source)}")

        def accepted(document: Document) -> None:  # called from the sync's threads: appends only
            progress.stored.append(UploadedDocument(id=document.doc_id, file=_file_of(document.source)))

        def stop(summary: IngestSummary) -> str | None:
            if gone.is_set():
                return "the client left"
            if summary.chunks_upserted >= settings.uploads.max_chunks:
                return f"the upload reached {settings.uploads.max_chunks:,} chunks (RAG_UPLOAD_MAX_CHUNKS)"
            return None

        ingestor = Ingestor.for_components(
            components,
            collection=target.collection,
            tenant=target.tenant,
            scope=WriteScope(components.requests.reader(principal)),
            on_accepted=accepted,
            on_failure=lambda f: progress.failed.update([_file_of(f.file)]),  # the loader's and the sync's
        )
        summary = ingestor.run(renamed(), stop=stop)
    failed = [FailedFile(file=f["path"].removeprefix(UPLOADED), error=f["error"]) for f in summary.failed]
    if summary.stopped is not None:  # what was not stored, by file, as `rag ingest` names what a crash left
        for file, count in progress.not_stored().items():
            failed.append(FailedFile(file=file, error=f"{count:,} documents not stored: {summary.stopped}"))
    stored = FilesStored(
        collection=target.collection,
        documents=progress.stored,
        failed=failed,
        documents_added=summary.documents_added,
        documents_updated=summary.documents_updated + summary.documents_access_updated,
        documents_unchanged=summary.documents_unchanged,
        chunks=summary.chunks_upserted,
    )
    return stored, UsageCounts(chunks_embedded=summary.chunks_upserted, embedding_tokens=summary.embedding_tokens)


def _file_of(source: str) -> str:
    """The uploaded file a document came from (a record's source is `FILE#KEY`)."""
    return source.removeprefix(UPLOADED).split("#", 1)[0]


async def _watch(receive: Receive, gone: threading.Event) -> None:
    await disconnected(receive)
    gone.set()


@router.post(UPLOAD_PATH, response_model=FilesStored,
             responses={c: {"model": ErrorResponse} for c in (400, 401, 403, 413, 429, 503)})  # fmt: skip
async def upload_files(
    request: Request,
    state: StateDep,
    principal: WriterDep,
    files: Annotated[list[UploadFile], File(description="the files to load, as `rag ingest` loads them")],
    collection: Annotated[str | None, Form(min_length=1, max_length=255)] = None,
) -> FilesStored | Response:
    if not files:
        raise InvalidInput("no files: send them as multipart/form-data fields named 'files'", param="files")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"at most {MAX_FILES} files per upload, not {len(files)}", param="files")
    gone = threading.Event()  # set when the client leaves: the sync stops before its next batch
    with state.uploads.hold():
        watcher = asyncio.ensure_future(_watch(request.receive, gone))
        try:
            stored, embedded = await run_in_threadpool(_ingest, state, principal, collection, files, gone)
        finally:
            watcher.cancel()
    doc_ids = [d.id for d in stored.documents]
    await state.audit.record(principal, f"POST {UPLOAD_PATH}", "store", stored.collection, doc_ids)
    await meter(state, principal, embedded)
    if gone.is_set():
        log.info(
            "upload left by its client: %d documents stored (%d chunks), %d files not wholly stored",
            len(stored.documents), stored.chunks, len({f.file for f in stored.failed}),
        )  # fmt: skip
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    if not stored.documents:
        lines = "; ".join(f"failed: {f.file}: {f.error}" for f in stored.failed[:20])
        raise InvalidInput(f"no document could be stored: {lines}", param="files")
    return stored
