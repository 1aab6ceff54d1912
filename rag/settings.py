"""The one configuration class: every setting comes from `RAG_*` environment variables (or a `.env` file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyUrl,
    Field,
    RedisDsn,
    SecretStr,
    TypeAdapter,
    UrlConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.access.tenants import TENANT_RULE, is_tenant_name
from rag.domain import RetrievalMode

# Where a flagged source goes in the prompt (rag/evidence/source_policy.py).
InjectedSources = Literal["keep", "downweight", "drop"]
# The records database: SQLite (a file) or PostgreSQL through psycopg 3 (rag/records/database.py checks the rest).
DatabaseDsn = Annotated[
    AnyUrl, UrlConstraints(allowed_schemes=["sqlite", "postgresql", "postgres", "postgresql+psycopg"])
]


def _valid(kind: Any, value: str) -> bool:
    """Whether pydantic reads `value` as a URL of `kind`; the setting keeps the string as given."""
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return False
    return True


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "rag-platform"


class Settings(BaseSettings):
    """Platform settings. Read once at startup (CLI or FastAPI lifespan) and passed to the components."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    @field_validator("indexed_metadata", "oidc_algorithms", "oidc_default_roles", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("tenant")
    @classmethod
    def _tenant_name(cls, value: str) -> str:
        if not is_tenant_name(value):
            raise ValueError(f"RAG_TENANT must be a tenant name: {TENANT_RULE}")
        return value

    @field_validator("state_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not _valid(RedisDsn, value):
            raise ValueError("RAG_STATE_URL must be a redis:// or rediss:// URL (its password in RAG_STATE_PASSWORD)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None and not _valid(DatabaseDsn, value):
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

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        """An issuer needs an audience, an https URL (unless `oidc_allow_http`, for development) and asymmetric
        algorithms: `none` and HMAC would let anyone who knows a public key sign tokens."""
        if self.oidc_issuer is None:
            return self
        if self.oidc_audience is None:
            raise ValueError("RAG_OIDC_ISSUER needs RAG_OIDC_AUDIENCE (the audience tokens for this API carry)")
        if not self.oidc_issuer.startswith("https://") and not self.oidc_allow_http:
            raise ValueError(
                "RAG_OIDC_ISSUER must be an https URL (RAG_OIDC_ALLOW_HTTP=true allows http, for development)"
            )
        refused = [a for a in self.oidc_algorithms if a.lower() == "none" or a.upper().startswith("HS")]
        if refused or not self.oidc_algorithms:
            raise ValueError(f"RAG_OIDC_ALGORITHMS must name asymmetric algorithms only, not {', '.join(refused)}")
        return self

    # Store: a Qdrant server when `qdrant_url` is set; otherwise embedded at `qdrant_path`, by default in Qdrant
    # Edge (the Qdrant engine in-process), or in qdrant-client's local mode (a pure-Python stand-in) when asked.
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_path: Path = Path(".rag/qdrant")
    embedded_store: Literal["edge", "qdrant-local"] = "edge"
    # Metadata keys that filters use often (comma-separated): keyword-indexed, so a selective filter stays fast.
    indexed_metadata: Annotated[list[str], NoDecode] = []
    # Dense vector index (HNSW), the same in every engine; chosen by benchmarks/index_recall.py.
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    hnsw_ef: int = 128
    qdrant_timeout_s: float = 10.0
    # A Qdrant cluster: collections this platform creates get this many shards, each on this many peers (unset:
    # the server's defaults). The Helm chart sets both in cluster mode.
    qdrant_shard_number: int | None = Field(default=None, ge=1)
    qdrant_replication_factor: int | None = Field(default=None, ge=1)
    collection: str = "docs"
    tenant: str = "default"
    # `strict`: each tenant's collections are store collections of their own (`<collection>@<tenant>`; RAG_TENANT's
    # keep the plain name), so no term statistics or collection names are shared; `shared`: one store collection
    # for all tenants, filtered by tenant (rag/access/namespace.py, docs/storage.md).
    tenant_isolation: Literal["strict", "shared"] = "strict"
    # Who sees a document that declares no access of its own (rag/access/document_access.py, docs/access.md): everyone
    # in its tenant (`tenant`, as before documents had access) or the tenant's admins only (`admins`). Read at query
    # time.
    default_access: Literal["tenant", "admins"] = "tenant"

    # Models: converted models and other derived files are cached here (outside the repository).
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    embed_model_path: Path | None = None  # a sentence-transformers directory; default: the packaged MiniLM
    # CPU batches are cut from token-sorted texts at this many padded tokens (rag/embedding/token_batches.py:
    # 4,096 was fastest on SciFact chunks, 2,048 and 8,192 slower; measured once by hand, commit 4ffecff, no script
    # reproduces it)
    embed_batch_tokens: int = 4096
    embed_device: str = "auto"  # `auto`: CUDA when a GPU is visible (the batched fp16 path), else CPU
    embed_gpu_batch_size: int = 1024
    # CPU backend. `onnx-int8` (default): the model exported to ONNX and int8-quantized once (cached under
    # cache_dir), run by onnxruntime with fused BERT kernels: about 2x plain PyTorch encode (python -m
    # benchmarks.ingest, benchmarks/results/ingest.json), SciFact nDCG@10 close to fp32 (python -m
    # benchmarks.embed_quality, benchmarks/results/embed_quality.json). `torch`: sentence-transformers on PyTorch,
    # fp32.
    embed_backend: Literal["torch", "onnx-int8"] = "onnx-int8"

    # Sparse BM25 term weights (Qdrant applies IDF through the sparse vector's modifier).
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_avg_len: float = 120.0

    # Ingestion limits: a document over any of them is reported and skipped, and the run goes on. They bound what a
    # file expands to, not only its bytes on disk (docs/ingestion.md): the file size of one-document formats; each
    # record (line or row) of a record file, which is streamed, never read whole; what a compressed container (DOCX
    # parts, PDF streams) inflates to; the text extracted from one document; PDF pages; chunks per document.
    ingest_max_file_mb: float = Field(default=50.0, gt=0)
    ingest_max_record_mb: float = Field(default=8.0, gt=0)
    ingest_max_expanded_mb: float = Field(default=100.0, gt=0)
    ingest_max_document_chars: int = Field(default=5_000_000, ge=1)
    ingest_max_pages: int = Field(default=5_000, ge=1)
    ingest_max_chunks: int = Field(default=20_000, ge=1)
    ingest_batch_chunks: int = 1024  # chunks embedded per call: larger batches sort by length better
    progress_every_s: float = 30.0  # without a terminal (job logs), a progress line this often
    ingest_text_field: str = "text"
    ingest_title_field: str = "title"
    ingest_id_field: str = "id"

    # Chunking (token-aware, counted in the embedding model's tokens).
    chunk_size: int = 200
    chunk_overlap: int = 30

    # Retrieval.
    retrieval_mode: RetrievalMode = "hybrid"
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
    # below this that the sources can answer (0 disables). 0.10 kept 98.7% of ClapNQ's answerable questions and 98.7% of
    # SciFact's on the half not fitted, turning away 17.3% of the unanswerable ones; "how do I deploy it?" scores
    # 0.166 on docs/ (benchmarks/results/answerability.json has the whole curve).
    answerability_min: float = Field(default=0.10, ge=0.0, le=1.0)
    # Sentence attribution (rag/evidence/attribution.py): a source supports a sentence of the answer when the weighted
    # mean of their dense cosine similarity (weight `attribution_dense_weight`) and lexical overlap reaches
    # `attribution_min_support`. Calibrated on ClapNQ's gold answers by python -m benchmarks.attribution
    # (benchmarks/results/attribution.json, docs/evaluation.md). An answer none of whose sentences is supported is
    # kept and flagged (`flag`) or replaced by the abstention (`abstain`: answers are then held until checked).
    attribution_dense_weight: float = Field(default=0.7, ge=0.0, le=1.0)
    attribution_min_support: float = Field(default=0.31, ge=0.0, le=1.0)
    unsupported_answers: Literal["flag", "abstain"] = "flag"
    # Prompt injection (rag/evidence/injection.py): ingestion flags chunks that read as instructions to a model, by
    # pattern or by a dense similarity of at least `injection_min_similarity` to known injection phrasings (calibrated
    # by python -m benchmarks.injection, benchmarks/results/injection.json). At question time a flagged source is
    # kept as any other (`keep`), moved after the others with a note in its citation (`downweight`), or left out
    # of the prompt and the citations (`drop`).
    injection_min_similarity: float = Field(default=0.6, ge=0.0, le=1.0)
    injected_sources: InjectedSources = "downweight"
    history_turns: int = 1  # earlier user turns added to the retrieval query of a follow-up question

    # Generation: vLLM's OpenAI server when `llm_base_url` is set, otherwise the in-process engine.
    llm_base_url: str | None = None
    llm_model: str = "smollm2-135m-instruct"
    llm_api_key: SecretStr = SecretStr("EMPTY")
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 1
    llm_model_path: Path | None = None  # a transformers directory for the in-process engine
    # The in-process engine generates one answer at a time; this many more may wait for their turn, and beyond
    # them a request gets 429 (`engine_overloaded`, Retry-After) before any token.
    local_llm_max_waiting: int = Field(default=4, ge=0)
    max_tokens: int = 256
    temperature: float = 0.0

    # Evaluation: `rag eval answers` scores groundedness with an LLM judge at this OpenAI-compatible endpoint when
    # set (evals/groundedness.py), otherwise with the model-free token support.
    judge_base_url: str | None = None
    judge_model: str = "judge"
    judge_api_key: SecretStr = SecretStr("EMPTY")
    # The folder holding the evaluation datasets (BEIR folders such as scifact/, clapnq/): `rag eval gate` reads
    # them there unless `--data` names another folder, and `rag eval cache` recognizes their collections.
    eval_data_dir: Path | None = None

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
    auth_failures_per_minute: int = Field(default=30, ge=0)
    # OIDC users (rag/access/oidc.py, docs/access.md): bearer JWTs from this issuer (its discovery document gives the
    # JWKS) for this audience, verified with these algorithms; the claims that hold the tenant, subject, groups and
    # roles (roles besides reader/writer/admin are ignored; none: `oidc_default_roles`). Keys are refreshed every
    # `oidc_jwks_refresh_s`, refetched at most every `oidc_jwks_min_refetch_s` for an unknown key id, and used at
    # most `oidc_jwks_max_stale_s` while the provider cannot be reached.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_algorithms: Annotated[list[str], NoDecode] = ["RS256", "PS256", "ES256", "EdDSA"]
    oidc_tenant_claim: str = "tenant"
    oidc_subject_claim: str = "sub"
    oidc_groups_claim: str = "groups"
    oidc_roles_claim: str = "roles"
    oidc_default_roles: Annotated[list[str], NoDecode] = ["reader"]
    oidc_leeway_s: float = Field(default=30.0, ge=0, le=300)
    oidc_jwks_refresh_s: float = Field(default=300.0, gt=0)
    oidc_jwks_min_refetch_s: float = Field(default=10.0, ge=0)
    oidc_jwks_max_stale_s: float = Field(default=3600.0, ge=0)
    oidc_allow_http: bool = False  # development only: an http:// issuer (a provider on loopback)
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
    # The playground at /ui (serving/routers/playground.py, docs/playground.md): on unless `ui_enabled` is false. With
    # an OIDC issuer and `ui_oidc_client_id` (a public client registered with the issuer, its redirect URI
    # `https://HOST/ui/`), it also signs users in by the authorization code flow with PKCE, asking for
    # `ui_oidc_scope` and, where the provider needs a resource indicator for its access tokens, `ui_oidc_resource`.
    ui_enabled: bool = True
    ui_oidc_client_id: str | None = None
    ui_oidc_scope: str = "openid"
    ui_oidc_resource: str | None = None
    # Where `rag eval` writes its reports (`reports/<kind>-<dataset>` by default): admins see the newest through
    # GET /v1/eval/reports and the playground.
    reports_dir: Path = Path("reports")
    # POST /v1/documents/files: the largest upload (all its files together); other requests stay at max_body_bytes.
    max_upload_mb: float = Field(default=100.0, gt=0)
    # ... and what one upload may hold: records counted before any work (400 past it), chunks counted as they are
    # embedded (the upload stops there, what was stored is kept and reported); uploads at once per API process
    # (429 beyond). A client that leaves stops its upload between embedding batches.
    upload_max_documents: int = Field(default=10_000, ge=1)
    upload_max_chunks: int = Field(default=10_000, ge=1)
    upload_max_concurrent: int = Field(default=2, ge=1)
    # Limits: requests per minute per key or subject, at most `rate_limit_burst` of them in any burst-sized slice of
    # the minute (0 disables; the limits file may set both per tenant), messages and characters per request, and
    # the largest `max_tokens` a request may ask for.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int = Field(default=60, ge=1)
    # Shared state (rag/limits/): rate limits, token quotas and usage counters. In-process without `state_url`; with
    # it (redis:// or rediss://, the password apart in `state_password`) one Redis shared by every replica.
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
    # A streamed answer whose retrieval and first token take longer than this starts anyway and sends an SSE
    # comment line this often until the first token, so proxies with idle timeouts keep the connection.
    stream_keepalive_s: float = Field(default=5.0, gt=0)

    # Shutdown (SIGTERM): readiness goes false and the API keeps serving this long, then stops accepting and
    # gives in-flight requests (streams) up to `shutdown_timeout_s` to finish (serving/graceful.py).
    shutdown_drain_s: float = Field(default=5.0, ge=0)
    shutdown_timeout_s: int = Field(default=30, ge=1)

    # API.
    log_format: Literal["json", "text"] = "json"  # `rag serve`'s logs: JSON lines (request id, no content) or text
    api_model_name: str = "rag"
    max_body_bytes: int = 1_000_000
    excerpt_chars: int = 300
