"""What the app builds once in its lifespan and hands to requests through dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from rag.access.oidc import OidcVerifier
from rag.answering.pipeline import RagPipeline
from rag.components import Components
from rag.limits.chat_slots import ChatSlots
from rag.limits.limiter import Limiter
from rag.records.capture import RecordPolicy
from rag.records.store import RecordStore
from rag.records.writer import RecordWriter
from rag.settings import Settings
from serving.audit import Audit
from serving.auth import ApiKeys
from serving.lifecycle import Lifecycle
from serving.metrics import ApiMetrics
from serving.upload_slots import UploadSlots


@dataclass
class AppState:
    settings: Settings
    components: Components
    pipeline: RagPipeline
    llm_name: str
    started: int
    api_keys: ApiKeys | None
    oidc: (
        OidcVerifier | None
    )  # with api_keys None too: no authentication, every caller an admin of `settings.access.tenant`
    limiter: Limiter  # request rates, token quotas and usage, in the shared state (rag/limits/)
    chat_slots: ChatSlots  # each tenant's chats in flight, in the same state (rag/limits/chat_slots.py)
    metrics: ApiMetrics
    audit: Audit
    records: RecordStore  # audit events, answers' owners, traces, feedback (rag/records/)
    record_writer: RecordWriter  # writes records off the request path
    record_policy: RecordPolicy  # what a chat leaves in the records
    lifecycle: Lifecycle  # the app's own (app.state.lifecycle): authenticated, draining
    uploads: UploadSlots  # file uploads in progress in this process (RAG_UPLOAD_MAX_CONCURRENT)
