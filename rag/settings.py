"""The platform's configuration: one settings object, a group per concern (`settings.store`, `settings.retrieval`,
`settings.oidc`, ...), every setting read from its `RAG_*` environment variable (or a `.env` file).

A setting's variable is `RAG_` and its flat name, whatever group holds it: `RAG_QDRANT_URL` is
`settings.store.url`, `RAG_TOP_K` is `settings.retrieval.top_k` (docs/configuration.md lists them all). The flat
names are what the Helm chart, the docs and `Settings(top_k=5)` use; code reads the group. A component takes the
group it needs (`OidcVerifier(settings.oidc)`), and each default is written here only.

Importing this module loads pydantic alone: no numpy, SQLAlchemy, ONNX Runtime or tokenizer."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    RedisDsn,
    SecretStr,
    TypeAdapter,
    UrlConstraints,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from rag.tenants import TENANT_RULE, is_tenant_name

# How a query is matched: dense vectors, BM25 sparse vectors, or both fused inside the store.
RetrievalMode = Literal["dense", "sparse", "hybrid"]
# Where a flagged source goes in the prompt (rag/evidence/source_policy.py).
InjectedSources = Literal["keep", "downweight", "drop"]
# The records database: SQLite (a file) or PostgreSQL through psycopg 3 (rag/records/database.py checks the rest).
DatabaseDsn = Annotated[
    AnyUrl, UrlConstraints(allowed_schemes=["sqlite", "postgresql", "postgres", "postgresql+psycopg"])
]


def _valid(kind: Any, value: str) -> Any:
    """`value` read by pydantic as a URL of `kind`, or None; the setting keeps the string as given (a URL object
    would normalize it: a trailing slash added to an issuer no longer matches the tokens' `iss`)."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return None


def _comma_list(value: object) -> object:
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "rag-platform"


class _Group(BaseModel):
    """A group of settings: each field is read as `RAG_<alias or name>`; code may build one by field name."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, extra="forbid")


class StoreSettings(_Group):
    # Store: a Qdrant server when `qdrant_url` is set; otherwise embedded at `qdrant_path`, by default in Qdrant
    # Edge (the Qdrant engine in-process), or in qdrant-client's local mode (a pure-Python stand-in) when asked.
    url: str | None = Field(default=None, alias="qdrant_url")
    api_key: SecretStr | None = Field(default=None, alias="qdrant_api_key")
    path: Path = Field(default=Path(".rag/qdrant"), alias="qdrant_path")
    embedded_store: Literal["edge", "qdrant-local"] = "edge"
    # Metadata keys that filters use often (comma-separated): keyword-indexed, so a selective filter stays fast.
    indexed_metadata: Annotated[list[str], NoDecode] = []
    # Dense vector index (HNSW), the same in every engine; chosen by benchmarks/index_recall.py.
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    hnsw_ef: int = 128
    timeout_s: float = Field(default=10.0, alias="qdrant_timeout_s")
    # A Qdrant cluster: collections this platform creates get this many shards, each on this many peers (unset:
    # the server's defaults). The Helm chart sets both in cluster mode.
    shard_number: int | None = Field(default=None, ge=1, alias="qdrant_shard_number")
    replication_factor: int | None = Field(default=None, ge=1, alias="qdrant_replication_factor")
    collection: str = "docs"

    @field_validator("indexed_metadata", mode="before")
    @classmethod
    def _indexed_metadata(cls, value: object) -> object:
        return _comma_list(value)


class AccessSettings(_Group):
    tenant: str = "default"
    # `strict`: each tenant's collections are store collections of their own (`<collection>@<tenant>`; RAG_TENANT's
    # keep the plain name), so no term statistics or collection names are shared; `shared`: one store collection
    # for all tenants, filtered by tenant (rag/access/namespace.py, docs/storage.md).
    tenant_isolation: Literal["strict", "shared"] = "strict"
    # Who sees a document that declares no access of its own (rag/access/document_access.py, docs/access.md):
    # everyone in its tenant (`tenant`, as before documents had access) or the tenant's admins only (`admins`).
    # Read at query time.
    default_access: Literal["tenant", "admins"] = "tenant"
    # API keys and tenants: `KEY=TENANT` pairs, comma-separated, and/or a file of such lines (a mounted Kubernetes
    # secret; `#` comments). With keys, every endpoint but the health checks needs `Authorization: Bearer KEY` and
    # works in the key's tenant. Without keys every caller is `tenant`, and `rag serve` binds only to loopback
    # unless `allow_unauthenticated` is set.
    api_keys: SecretStr | None = None
    api_keys_file: Path | None = None
    allow_unauthenticated: bool = False
    # Authentication input (docs/access.md): a bearer credential (API key or token) longer than `max_token_bytes` is
    # refused (401) unread; `rag serve` refuses a request whose line and headers exceed `max_header_bytes` (431)
    # before parsing them whole. A client address whose credentials failed `auth_failures_per_minute` times in the
    # last minute (0: no limit) gets 429 for every request, before its credentials are checked, until the window
    # frees a slot; the count lives in the shared state, so every replica sees it.
    max_token_bytes: int = Field(default=16_384, ge=256)
    max_header_bytes: int = Field(default=65_536, ge=4_096)

    @field_validator("tenant")
    @classmethod
    def _tenant_name(cls, value: str) -> str:
        if not is_tenant_name(value):
            raise ValueError(f"RAG_TENANT must be a tenant name: {TENANT_RULE}")
        return value


class OidcSettings(_Group):
    # OIDC users (rag/access/oidc.py, docs/access.md): bearer JWTs from this issuer (its discovery document gives
    # the JWKS) for this audience, verified with these algorithms; the claims that hold the tenant, subject, groups
    # and roles (roles besides reader/writer/admin are ignored; none: `oidc_default_roles`). Keys are refreshed
    # every `oidc_jwks_refresh_s`, refetched at most every `oidc_jwks_min_refetch_s` for an unknown key id, and used
    # at most `oidc_jwks_max_stale_s` while the provider cannot be reached.
    issuer: str | None = Field(default=None, alias="oidc_issuer")
    audience: str | None = Field(default=None, alias="oidc_audience")
    algorithms: Annotated[list[str], NoDecode] = Field(
        default=["RS256", "PS256", "ES256", "EdDSA"], alias="oidc_algorithms"
    )
    tenant_claim: str = Field(default="tenant", alias="oidc_tenant_claim")
    subject_claim: str = Field(default="sub", alias="oidc_subject_claim")
    groups_claim: str = Field(default="groups", alias="oidc_groups_claim")
    roles_claim: str = Field(default="roles", alias="oidc_roles_claim")
    default_roles: Annotated[list[str], NoDecode] = Field(default=["reader"], alias="oidc_default_roles")
    leeway_s: float = Field(default=30.0, ge=0, le=300, alias="oidc_leeway_s")
    jwks_refresh_s: float = Field(default=300.0, gt=0, alias="oidc_jwks_refresh_s")
    jwks_min_refetch_s: float = Field(default=10.0, ge=0, alias="oidc_jwks_min_refetch_s")
    jwks_max_stale_s: float = Field(default=3600.0, ge=0, alias="oidc_jwks_max_stale_s")
    # development only: an http:// issuer (a provider on loopback)
    allow_http: bool = Field(default=False, alias="oidc_allow_http")

    @field_validator("algorithms", "default_roles", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _comma_list(value)

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        """An issuer needs an audience, an https URL (unless `oidc_allow_http`, for development) and asymmetric
        algorithms: `none` and HMAC would let anyone who knows a public key sign tokens."""
        if self.issuer is None:
            return self
        if self.audience is None:
            raise ValueError("RAG_OIDC_ISSUER needs RAG_OIDC_AUDIENCE (the audience tokens for this API carry)")
        url = _valid(HttpUrl, self.issuer)
        if url is None or (url.scheme != "https" and not self.allow_http):
            raise ValueError(
                "RAG_OIDC_ISSUER must be an https URL (RAG_OIDC_ALLOW_HTTP=true allows http, for development)"
            )
        refused = [a for a in self.algorithms if a.lower() == "none" or a.upper().startswith("HS")]
        if refused or not self.algorithms:
            raise ValueError(f"RAG_OIDC_ALGORITHMS must name asymmetric algorithms only, not {', '.join(refused)}")
        return self


class EmbeddingSettings(_Group):
    # Models: converted models and other derived files are cached here (outside the repository).
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    # a sentence-transformers directory; default: the packaged MiniLM
    model_path: Path | None = Field(default=None, alias="embed_model_path")
    # CPU batches are cut from token-sorted texts at this many padded tokens (rag/embedding/token_batches.py:
    # 4,096 was fastest on SciFact chunks, 2,048 and 8,192 slower; measured once by hand, commit 4ffecff, no script
    # reproduces it)
    batch_tokens: int = Field(default=4096, alias="embed_batch_tokens")
    # `auto`: CUDA when a GPU is visible (the batched fp16 path), else CPU
    device: str = Field(default="auto", alias="embed_device")
    gpu_batch_size: int = Field(default=1024, alias="embed_gpu_batch_size")
    # CPU backend. `onnx-int8` (default): the model exported to ONNX and int8-quantized once (cached under
    # cache_dir), run by onnxruntime with fused BERT kernels: about 2x plain PyTorch encode (python -m
    # benchmarks.ingest, benchmarks/results/ingest.json), SciFact nDCG@10 close to fp32 (python -m
    # benchmarks.embed_quality, benchmarks/results/embed_quality.json). `torch`: sentence-transformers on PyTorch,
    # fp32.
    backend: Literal["torch", "onnx-int8"] = Field(default="onnx-int8", alias="embed_backend")
    # Sparse BM25 term weights (Qdrant applies IDF through the sparse vector's modifier).
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_avg_len: float = 120.0


class IngestSettings(_Group):
    # Ingestion limits: a document over any of them is reported and skipped, and the run goes on. They bound what a
    # file expands to, not only its bytes on disk (docs/ingestion.md): the file size of one-document formats; each
    # record (line or row) of a record file, which is streamed, never read whole; what a compressed container (DOCX
    # parts, PDF streams) inflates to; the text extracted from one document; PDF pages; chunks per document.
    max_file_mb: float = Field(default=50.0, gt=0, alias="ingest_max_file_mb")
    max_record_mb: float = Field(default=8.0, gt=0, alias="ingest_max_record_mb")
    max_expanded_mb: float = Field(default=100.0, gt=0, alias="ingest_max_expanded_mb")
    max_document_chars: int = Field(default=5_000_000, ge=1, alias="ingest_max_document_chars")
    max_pages: int = Field(default=5_000, ge=1, alias="ingest_max_pages")
    max_chunks: int = Field(default=20_000, ge=1, alias="ingest_max_chunks")
    # pixels of one image (a PNG, JPEG or TIFF page, a rendered PDF page): larger ones are refused undecoded
    max_image_pixels: int = Field(default=100_000_000, ge=1, alias="ingest_max_image_pixels")
    # chunks embedded per call: larger batches sort by length better
    batch_chunks: int = Field(default=1024, alias="ingest_batch_chunks")
    progress_every_s: float = 30.0  # without a terminal (job logs), a progress line this often
    text_field: str = Field(default="text", alias="ingest_text_field")
    title_field: str = Field(default="title", alias="ingest_title_field")
    id_field: str = Field(default="id", alias="ingest_id_field")
    # Chunking (token-aware, counted in the embedding model's tokens).
    chunk_size: int = 200
    chunk_overlap: int = 30
    # OCR (docs/ingestion.md): `auto` reads the pages that have no text layer (scans, images), `off` refuses them,
    # `force` reads every page from its image; the engine's languages (Tesseract codes joined by `+`, each a
    # Debian package tesseract-ocr-LANG), the resolution a page with no scanned image is rendered at (a scan is read
    # at its own), and the time one page may take.
    ocr: Literal["auto", "off", "force"] = "auto"
    ocr_languages: str = "eng"
    ocr_dpi: int = Field(default=300, ge=72, le=600)
    ocr_page_timeout_s: float = Field(default=60.0, gt=0)
    # Remote sources (docs/sources.md): bodies an object store source fetches at once; a web source's polite request
    # rate, crawl bounds (a start URL's link depth, pages per run), request timeout and User-Agent, and its
    # credentials: an Authorization header value (`Bearer ...`, `Basic ...`) sent to that site only.
    fetch_workers: int = Field(default=8, ge=1, le=64, alias="ingest_fetch_workers")
    web_requests_per_second: float = Field(default=2.0, gt=0)
    web_max_pages: int = Field(default=10_000, ge=1)
    web_max_depth: int = Field(default=3, ge=0)
    web_timeout_s: float = Field(default=30.0, gt=0)
    web_user_agent: str = "rag-platform-ingest/0.1"
    web_authorization: SecretStr | None = None


class RetrievalSettings(_Group):
    mode: RetrievalMode = Field(default="hybrid", alias="retrieval_mode")
    top_k: int = 3
    prefetch_k: int = 50
    # Hybrid fusion inside Qdrant: `dbsf` (distribution-based score fusion: each side's scores normalized by
    # mean +- 3 sd, then summed; no parameter) or `rrf` (reciprocal rank fusion, k and the two weights). DBSF won
    # on SciFact (0.7356 nDCG@10 vs 0.7244 for RRF k=60, better on both halves of the queries) and on ClapNQ
    # (0.9926 vs 0.9788): python -m benchmarks.fusion, benchmarks/results/fusion.json (docs/evaluation.md).
    fusion: Literal["rrf", "dbsf"] = "dbsf"
    rrf_k: int = 60
    fusion_dense_weight: float = 1.0
    fusion_sparse_weight: float = 1.0
    # The chat abstains without calling the LLM when the best chunk's dense cosine similarity to the question is
    # below this (0 disables): off-topic questions. Calibrated by python -m benchmarks.abstention
    # (benchmarks/results/abstention.json) as the highest value keeping 99% of answerable questions (ClapNQ halves,
    # SciFact): 0.25 when set, 0.30 in the 2026-11-30 re-run (docs/evaluation.md). Corpus-dependent (0.40 would turn
    # away a fifth of ClapNQ's unanswerable questions but also vague ones like "how do I deploy it?", about 0.31 on
    # our docs: `docs_question` in that file).
    min_relevance: float = Field(default=0.25, ge=0.0, le=1.0)
    # The chat also abstains without calling the LLM when the answerability model (rag/evidence/answerability.py:
    # retrieval signals, fitted by python -m benchmarks.answerability --keep 0.99 --write-model) gives a probability
    # below this that the sources can answer (0 disables). 0.10 kept 98.7% of ClapNQ's answerable questions and
    # 98.7% of SciFact's on the half not fitted, turning away 17.3% of the unanswerable ones; "how do I deploy it?"
    # scores 0.166 on docs/ (benchmarks/results/answerability.json has the whole curve).
    answerability_min: float = Field(default=0.10, ge=0.0, le=1.0)
    history_turns: int = 1  # earlier user turns added to the retrieval query of a follow-up question


class EvidenceSettings(_Group):
    # Sentence attribution (rag/evidence/attribution.py): a source supports a sentence of the answer when the
    # weighted mean of their dense cosine similarity (weight `attribution_dense_weight`) and lexical overlap reaches
    # `attribution_min_support`. Calibrated on ClapNQ's gold answers by python -m benchmarks.attribution
    # (benchmarks/results/attribution.json, docs/evaluation.md). An answer none of whose sentences is supported is
    # kept and flagged (`flag`) or replaced by the abstention (`abstain`: answers are then held until checked).
    attribution_dense_weight: float = Field(default=0.7, ge=0.0, le=1.0)
    attribution_min_support: float = Field(default=0.31, ge=0.0, le=1.0)
    unsupported_answers: Literal["flag", "abstain"] = "flag"
    # Prompt injection (rag/evidence/injection.py): ingestion flags chunks that read as instructions to a model, by
    # pattern or by a dense similarity of at least `injection_min_similarity` to known injection phrasings
    # (calibrated by python -m benchmarks.injection, benchmarks/results/injection.json). At question time a flagged
    # source is kept as any other (`keep`), moved after the others with a note in its citation (`downweight`), or
    # left out of the prompt and the citations (`drop`).
    injection_min_similarity: float = Field(default=0.6, ge=0.0, le=1.0)
    injected_sources: InjectedSources = "downweight"
    excerpt_chars: int = 300  # a citation's excerpt of its source


class LlmSettings(_Group):
    # Generation: vLLM's OpenAI server when `llm_base_url` is set, otherwise the in-process engine.
    base_url: str | None = Field(default=None, alias="llm_base_url")
    model: str = Field(default="smollm2-135m-instruct", alias="llm_model")
    api_key: SecretStr = Field(default=SecretStr("EMPTY"), alias="llm_api_key")
    timeout_s: float = Field(default=60.0, alias="llm_timeout_s")
    max_retries: int = Field(default=1, alias="llm_max_retries")
    model_path: Path | None = Field(default=None, alias="llm_model_path")  # a transformers directory (in-process)
    # The in-process engine generates one answer at a time; this many more may wait for their turn, and beyond
    # them a request gets 429 (`engine_overloaded`, Retry-After) before any token.
    local_max_waiting: int = Field(default=4, ge=0, alias="local_llm_max_waiting")
    max_tokens: int = 256
    temperature: float = 0.0


class EvalSettings(_Group):
    # Evaluation: `rag eval answers` scores groundedness with an LLM judge at this OpenAI-compatible endpoint when
    # set (evals/groundedness.py), otherwise with the model-free token support.
    judge_base_url: str | None = None
    judge_model: str = "judge"
    judge_api_key: SecretStr = SecretStr("EMPTY")
    # The folder holding the evaluation datasets (BEIR folders such as scifact/, clapnq/): `rag eval gate` reads
    # them there unless `--data` names another folder, and `rag eval cache` recognizes their collections.
    data_dir: Path | None = Field(default=None, alias="eval_data_dir")
    # Where `rag eval` writes its reports (`reports/<kind>-<dataset>` by default): admins see the newest through
    # GET /v1/eval/reports and the playground.
    reports_dir: Path = Path("reports")


class RecordsSettings(_Group):
    # The records database (rag/records/): audit events, answers' owners, traces and feedback. Unset: a SQLite file
    # beside the embedded store (records.db in the folder holding `qdrant_path`; one process); or `sqlite:///PATH`,
    # or `postgresql://USER@HOST:PORT/DB` for a cluster, its password apart in `database_password`. The API migrates
    # it at startup (`rag db upgrade` does it alone).
    database_url: str | None = None
    database_password: SecretStr | None = None
    # The audit trail (serving/audit.py): every retrieval and document change is a JSON log event (logger
    # `rag.audit`) and a row of the records database, of which the newest `audit_keep` are kept for admins to read
    # through GET /v1/audit.
    audit_keep: int = Field(default=100_000, ge=1)
    # Traces (docs/feedback.md): the tenants whose chats leave a trace, each with its retention in days (`*`: every
    # tenant); none by default. A trace holds ids, hashes, scores and timings; the question, the answer and the
    # sources' texts too only with `trace_content`. Feedback may be given on an answer for `feedback_window_days`.
    trace_tenants: Annotated[dict[str, Annotated[int, Field(ge=1)]], NoDecode] = {}
    trace_content: bool = False
    feedback_window_days: int = Field(default=30, ge=1)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None and _valid(DatabaseDsn, value) is None:
            raise ValueError("RAG_DATABASE_URL must be sqlite:///PATH or postgresql://USER@HOST/DB (psycopg 3)")
        return value

    @field_validator("trace_tenants", mode="before")
    @classmethod
    def _tenant_days(cls, value: object) -> object:
        """`TENANT=DAYS` pairs, comma-separated (or JSON): the tenants whose chats leave traces, kept that long."""
        if not isinstance(value, str):
            return value
        if value.strip().startswith("{"):
            return json.loads(value)
        pairs = {}
        for item in filter(None, (v.strip() for v in value.split(","))):
            tenant, sep, days = item.partition("=")
            if not sep or not tenant.strip():
                raise ValueError(f"RAG_TRACE_TENANTS: {item!r} is not TENANT=DAYS")
            pairs[tenant.strip()] = days.strip()
        return pairs


class UiSettings(_Group):
    # The playground at /ui (serving/routers/playground.py, docs/playground.md): on unless `ui_enabled` is false.
    # With an OIDC issuer and `ui_oidc_client_id` (a public client registered with the issuer, its redirect URI
    # `https://HOST/ui/`), it also signs users in by the authorization code flow with PKCE, asking for
    # `ui_oidc_scope` and, where the provider needs a resource indicator for its access tokens, `ui_oidc_resource`.
    enabled: bool = Field(default=True, alias="ui_enabled")
    oidc_client_id: str | None = Field(default=None, alias="ui_oidc_client_id")
    oidc_scope: str = Field(default="openid", alias="ui_oidc_scope")
    oidc_resource: str | None = Field(default=None, alias="ui_oidc_resource")


class UploadSettings(_Group):
    # POST /v1/documents/files: the largest upload (all its files together); other requests stay at max_body_bytes.
    max_upload_mb: float = Field(default=100.0, gt=0)
    # ... and what one upload may hold: records counted before any work (400 past it), chunks counted as they are
    # embedded (the upload stops there, what was stored is kept and reported); uploads at once per API process
    # (429 beyond). A client that leaves stops its upload between embedding batches.
    max_documents: int = Field(default=10_000, ge=1, alias="upload_max_documents")
    max_chunks: int = Field(default=10_000, ge=1, alias="upload_max_chunks")
    max_concurrent: int = Field(default=2, ge=1, alias="upload_max_concurrent")


class LimitSettings(_Group):
    # Limits: requests per minute per key or subject, at most `rate_limit_burst` of them in any burst-sized slice of
    # the minute (0 disables; the limits file may set both per tenant), messages and characters per request, and
    # the largest `max_tokens` a request may ask for.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int = Field(default=60, ge=1)
    # Failed credentials per client address per minute before it is refused outright (AccessSettings above).
    auth_failures_per_minute: int = Field(default=30, ge=0)
    # Shared state (rag/limits/): rate limits, token quotas and usage counters. In-process without `state_url`;
    # with it (redis:// or rediss://, the password apart in `state_password`) one Redis shared by every replica.
    state_url: str | None = None
    state_password: SecretStr | None = None
    state_timeout_s: float = Field(default=0.25, gt=0)  # per Redis command: a dead Redis costs a request this long
    state_retry_s: float = Field(default=1.0, gt=0)  # after a failure, Redis is left alone this long, then retried
    # Redis unreachable: serve without the checks (`open`: logged, counted in rag_state_checks_skipped_total, usage
    # kept in memory and written when Redis is back) or refuse with 503 (`closed`).
    state_failure: Literal["open", "closed"] = "open"
    limits_file: Path | None = None  # YAML: a default and per-tenant rates and token quotas (docs/limits.md)
    # Chats in flight per tenant (every replica's together with `state_url`); one more is refused with 429. What
    # bounds a token quota's overshoot (docs/limits.md); 0: no cap. The limits file may set it per tenant.
    tenant_max_concurrent_chats: int = Field(default=64, ge=0)
    usage_retention_days: int = Field(default=400, ge=1)  # usage by day is kept this long
    metrics_max_tenants: int = Field(default=100, ge=0)  # tenants with their own metrics label; others are `other`
    max_messages: int = 100
    max_input_chars: int = 32_000  # all messages' text together: a megabyte prompt would hold the LLM for minutes
    max_tokens_limit: int = 4096

    @field_validator("state_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and _valid(RedisDsn, value) is None:
            raise ValueError("RAG_STATE_URL must be a redis:// or rediss:// URL (its password in RAG_STATE_PASSWORD)")
        return value


class ApiSettings(_Group):
    # `rag serve`'s logs: JSON lines (request id, no content) or text
    log_format: Literal["json", "text"] = "json"
    model_name: str = Field(default="rag", alias="api_model_name")
    max_body_bytes: int = 1_000_000
    # A streamed answer whose retrieval and first token take longer than this starts anyway and sends an SSE
    # comment line this often until the first token, so proxies with idle timeouts keep the connection.
    stream_keepalive_s: float = Field(default=5.0, gt=0)
    # Shutdown (SIGTERM): readiness goes false and the API keeps serving this long, then stops accepting and
    # gives in-flight requests (streams) up to `shutdown_timeout_s` to finish (serving/graceful.py).
    shutdown_drain_s: float = Field(default=5.0, ge=0)
    shutdown_timeout_s: int = Field(default=30, ge=1)


class Settings(BaseSettings):
    """Platform settings. Read once at startup (CLI or FastAPI lifespan) and passed, a group at a time, to the
    components. Built from flat names (`Settings(top_k=5)`, `RAG_TOP_K=5`), read by group (`settings.retrieval`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    store: StoreSettings = Field(default_factory=StoreSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    evals: EvalSettings = Field(default_factory=EvalSettings)
    records: RecordsSettings = Field(default_factory=RecordsSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    def __init__(self, **values: Any) -> None:
        """By flat names (`Settings(top_k=5, qdrant_url=...)`) or whole groups; the rest from the variables."""
        super().__init__(**values)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The arguments, then `RAG_*` variables, then the `.env` file (`_env_file`: another, or None), by flat name."""
        return (init_settings, _Variables(settings_cls, getattr(dotenv_settings, "env_file", ".env")))

    @model_validator(mode="before")
    @classmethod
    def _grouped(cls, data: Any) -> Any:
        """Flat names into their groups; a value given by flat name wins over its group's given whole."""
        if not isinstance(data, dict):
            return data
        grouped: dict[str, Any] = {}
        for key, value in data.items():
            if key in GROUPS:
                given = value.model_dump(by_alias=True) if isinstance(value, BaseModel) else dict(value)
                grouped[key] = {**given, **grouped.get(key, {})}
            elif key in GROUP_OF:
                grouped.setdefault(GROUP_OF[key], {})[key] = value
            else:
                grouped[key] = value  # unknown: ignored, as an unknown variable is
        return grouped

    def value(self, name: str) -> Any:
        """A setting by its flat name (`settings.value("top_k")` is `settings.retrieval.top_k`)."""
        group, attr = _PLACE[name]
        return getattr(getattr(self, group), attr)

    def updated(self, **values: Any) -> Settings:
        """These settings with some changed by flat name (`settings.updated(qdrant_url=None, top_k=5)`), validated
        again; nothing is read from the environment."""
        unknown = sorted(set(values) - set(GROUP_OF))
        if unknown:
            raise ValueError(f"not settings: {', '.join(unknown)}")
        return type(self).model_validate({**self.model_dump(by_alias=True), **values})


# Every group by its name in Settings; where each flat name lives (its group and its field there); its group.
GROUPS: dict[str, type[_Group]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in Settings.model_fields.items()
}
_PLACE: dict[str, tuple[str, str]] = {
    field.alias or name: (group, name) for group, model in GROUPS.items() for name, field in model.model_fields.items()
}
GROUP_OF: dict[str, str] = {flat: group for flat, (group, _) in _PLACE.items()}


def default_of(group: type[_Group], name: str) -> Any:
    """A setting's default, for a component that keeps one for callers who build it by hand (tests, benchmarks,
    notebooks): the value is written once, in its group here, and the component's default refers to it."""
    return group.model_fields[name].get_default(call_default_factory=True)


def setting_names() -> list[str]:
    """Every setting's flat name (its variable is `RAG_` and the name in capitals), in the order of the groups."""
    return list(GROUP_OF)


class _Variables(PydanticBaseSettingsSource):
    """The `RAG_*` variables and the `.env` file by flat name, as pydantic-settings reads them (prefix, case,
    `.env` parsing), the values left as text for each group's fields to validate."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: Any) -> None:
        super().__init__(settings_cls)
        self._env_file = env_file

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        read = _variables_model()(_env_file=self._env_file)
        return {name: getattr(read, name) for name in read.model_fields_set}


class _VariablesBase(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")


@cache
def _variables_model() -> type[BaseSettings]:
    """A settings class with one untyped field per flat name: pydantic-settings finds the variables, the groups
    validate them."""
    fields: dict[str, Any] = {name: (Any, None) for name in GROUP_OF}
    return create_model("RagVariables", __base__=_VariablesBase, **fields)
