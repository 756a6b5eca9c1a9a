"""All configuration, from environment variables, validated once at start-up.

Unset variables fall back to the embedded stack (`pipeline up`): Temporal dev server on
127.0.0.1:7233, SeaweedFS on 127.0.0.1:8333 playing R2 (its filer on 8888, gRPC 18888),
comfy-sim on 127.0.0.1:8188.
Build ``Settings`` once in ``main`` and pass it down; nothing reads the environment at import.
"""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    DirectoryPath,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.callbacks import secret_key
from pipeline.domain.contracts import (
    DEFAULT_MEDIA_GRACE_S,
    DEFAULT_SESSION_DEADLINE_S,
    STICKY_SCHEDULE_TO_START_S,
)
from pipeline.domain.cost import PriceTable, parse_gpu_prices
from pipeline.domain.errors import ConfigError
from pipeline.domain.layout import OUTPUT_NAMES
from pipeline.domain.retention import RetentionPolicy

EMBEDDED_S3_PORT = 8333
EMBEDDED_FILER_PORT = 8888
EMBEDDED_FILER_GRPC_PORT = 18888
EMBEDDED_COMFY_PORT = 8188
EMBEDDED_TEMPORAL_PORT = 7233
EMBEDDED_UI_PORT = 8233
PRESIGN_EXPIRY_MAX_S = 7 * 24 * 3600
"""SigV4's longest presigned URL, 604800 s (7 days): S3 and R2 refuse a URL signed with a
longer ``X-Amz-Expires`` (AWS, "Authenticating Requests: Using Query Parameters")."""
RETENTION_MAX_DAYS = 36500
"""A retention of at most a hundred years: a larger number is a typo, not a policy."""
EMBEDDED_ACCOUNT = "123456789012"
"""moto's default account id, part of the queue URL the ``sqs`` source assumes when unset."""

EventSourceName = Literal["seaweedfs", "sqs", "r2", "webhook"]
"""How bucket events arrive: SeaweedFS's filer metadata stream, S3 → SQS, R2 → Cloudflare
Queue, or MinIO/S3 webhook POSTs."""
EVENT_SOURCES: tuple[EventSourceName, ...] = get_args(EventSourceName)


class Settings(BaseSettings):
    """Every variable, its default and its meaning (``Field(description=)``).

    ``docs/configuration/variables.md`` is rendered from these fields by
    ``variables_markdown`` (``make docs``); ``tests/unit/test_docs_pages.py`` fails when the
    committed page is stale.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # Object storage: R2 in production, any S3-compatible endpoint works.
    r2_endpoint_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(f"http://127.0.0.1:{EMBEDDED_S3_PORT}"),
        alias="R2_ENDPOINT_URL",
        description="The S3 endpoint (R2: https://<account>.r2.cloudflarestorage.com).",
    )
    r2_access_key_id: str = Field(
        default="embedded",
        alias="R2_ACCESS_KEY_ID",
        min_length=1,
        description="The store's access key id.",
    )
    r2_secret_access_key: SecretStr = Field(
        default=SecretStr("embedded"),
        alias="R2_SECRET_ACCESS_KEY",
        description="The store's secret access key (never logged).",
    )
    r2_bucket_name: str = Field(
        default="wan-pipeline",
        alias="R2_BUCKET_NAME",
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="The bucket: drops arrive in its inbox/, sessions are written to its "
        "sessions/.",
    )
    r2_public_url: AnyHttpUrl | None = Field(
        default=None,
        alias="R2_PUBLIC_URL",
        description="A public base URL for the bucket's objects; it links only the outputs "
        "PUBLIC_OUTPUTS lists, every other object gets presigned URLs. Unset, all are presigned.",
    )
    public_outputs: str = Field(
        default="combined,poster",
        alias="PUBLIC_OUTPUTS",
        description="The outputs R2_PUBLIC_URL links, comma-separated, from combined, poster, "
        "contact_sheet and previews (empty: none); inputs and intermediate files never are.",
    )
    r2_region: str = Field(
        default="us-east-1", alias="R2_REGION", description="The store's region (auto for R2)."
    )
    presign_expiry_s: int = Field(
        default=PRESIGN_EXPIRY_MAX_S,
        alias="PRESIGN_EXPIRY_S",
        ge=60,
        description="How long a presigned output URL stays valid, in seconds: at most "
        "604800 (7 days), SigV4's limit.",
    )

    # Retention: the bucket's lifecycle rules (pipeline setup bucket, pipeline.domain.retention).
    retention_multipart_days: int = Field(
        default=1,
        alias="RETENTION_MULTIPART_DAYS",
        ge=0,
        le=RETENTION_MAX_DAYS,
        description="Days after which the store aborts a multipart upload never completed; "
        "0: no such rule.",
    )
    retention_inbox_days: int = Field(
        default=0,
        alias="RETENTION_INBOX_DAYS",
        ge=0,
        le=RETENTION_MAX_DAYS,
        description="Days after which the store expires what is left in inbox/ (drops "
        "never started); 0: kept.",
    )
    retention_session_days: int = Field(
        default=0,
        alias="RETENTION_SESSION_DAYS",
        ge=0,
        le=RETENTION_MAX_DAYS,
        description="Days after which the store expires whole sessions (sessions/: inputs, "
        "intermediates, videos and records); 0: kept.",
    )
    retention_intermediate_days: int = Field(
        default=0,
        alias="RETENTION_INTERMEDIATE_DAYS",
        ge=0,
        le=RETENTION_MAX_DAYS,
        description="Days after which `pipeline gc` deletes a finished session's intermediate "
        "files (prepared media, segment MP4s, hand-over frames, quality tails), keeping its "
        "inputs, combined videos, previews and records; 0: kept. No lifecycle rule can "
        "select them, so only `pipeline gc` applies this.",
    )

    # Cost: the price table that turns each run's usage into amounts (pipeline.domain.cost).
    price_gpu_hour: str = Field(
        default="",
        alias="PRICE_GPU_HOUR",
        description="Price per GPU hour by GPU class, comma-separated CLASS=PRICE (e.g. "
        "H100=2.49,L40S=1.10,cpu=0): a class matches the longest pattern it contains "
        "(case-insensitive), * any other. Empty: GPU time is not priced.",
    )
    price_cpu_hour: float | None = Field(
        default=None,
        alias="PRICE_CPU_HOUR",
        ge=0,
        description="Price per hour of CPU-role activities (their wall seconds); unset: not "
        "priced.",
    )
    price_gb_month: float | None = Field(
        default=None,
        alias="PRICE_GB_MONTH",
        ge=0,
        description="Price of storing one GB (10^9 bytes) for one month: a run's stored "
        "amount is what the bytes it added cost for a month; unset: not priced.",
    )
    price_gb_moved: float | None = Field(
        default=None,
        alias="PRICE_GB_MOVED",
        ge=0,
        description="Price per GB (10^9 bytes) a run wrote to or read from the store; unset: "
        "not priced.",
    )
    price_currency: str = Field(
        default="USD",
        alias="PRICE_CURRENCY",
        pattern=r"^[A-Z]{3}$",
        description="The prices' currency (ISO 4217 code).",
    )

    # Events: the S3 -> SQS queue the ingest consumer long-polls.
    sqs_queue_url: AnyHttpUrl | None = Field(
        default=None,
        alias="SQS_QUEUE_URL",
        description="The bucket's event queue (sqs source); unset, the queue named "
        "SQS_QUEUE_NAME on the store's endpoint.",
    )
    sqs_queue_name: str = Field(
        default="wan-pipeline-events",
        alias="SQS_QUEUE_NAME",
        description="The event queue's name when SQS_QUEUE_URL is unset (sqs source).",
    )
    event_source: EventSourceName = Field(
        default="seaweedfs",
        alias="EVENT_SOURCE",
        description="How bucket events arrive: SeaweedFS's filer metadata stream, S3 → SQS, "
        "R2 → Cloudflare Queue, or webhook POSTs.",
    )

    # SeaweedFS's filer, whose metadata stream is the `seaweedfs` source: host:port.grpcport.
    seaweedfs_filer: str = Field(
        default=f"127.0.0.1:{EMBEDDED_FILER_PORT}.{EMBEDDED_FILER_GRPC_PORT}",
        alias="SEAWEEDFS_FILER",
        pattern=r"^[^:\s]+:\d+(\.\d+)?$",
        description="The filer as host:port.grpcport (seaweedfs source).",
    )

    # R2 event notifications arrive on a Cloudflare Queue read with the HTTP pull API.
    cf_account_id: str | None = Field(
        default=None,
        alias="CF_ACCOUNT_ID",
        description="The Cloudflare account of the queue R2 notifies (r2 source).",
    )
    cf_queue_id: str | None = Field(
        default=None,
        alias="CF_QUEUE_ID",
        description="The Cloudflare Queue R2 notifies (r2 source).",
    )
    cf_api_token: SecretStr | None = Field(
        default=None,
        alias="CF_API_TOKEN",
        description="A Cloudflare API token with Queues Edit (r2 source; never logged).",
    )
    cf_api_base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://api.cloudflare.com/client/v4"),
        alias="CF_API_BASE_URL",
        description="The Cloudflare API (r2 source).",
    )
    r2_poll_interval_s: float = Field(
        default=1.0,
        alias="R2_POLL_INTERVAL_S",
        gt=0,
        description="Seconds between pulls of an empty queue (r2 source).",
    )

    # MinIO/S3-style event POSTs, authenticated with a shared secret.
    webhook_secret: SecretStr | None = Field(
        default=None,
        alias="WEBHOOK_SECRET",
        description="The bearer token event POSTs must carry (webhook source; never logged).",
    )
    webhook_host: str = Field(
        default="0.0.0.0",
        alias="WEBHOOK_HOST",
        description="The address the webhook source listens on.",
    )
    webhook_port: int = Field(
        default=8090,
        alias="WEBHOOK_PORT",
        ge=1,
        le=65535,
        description="The port the webhook source serves /events on.",
    )

    # The reconcile schedule: the safety net for events that never arrived.
    reconcile_interval_s: int = Field(
        default=300,
        alias="RECONCILE_INTERVAL_S",
        ge=10,
        description="Seconds between reconcile passes over inbox/ (the reconcile schedule).",
    )
    orphan_grace_s: int = Field(
        default=900,
        alias="ORPHAN_GRACE_S",
        ge=0,
        description="Seconds before reconcile logs media that still have no manifest.",
    )

    # Sessions: infrastructure failures retry until the deadline; bad input fails at once.
    session_deadline_s: float = Field(
        default=DEFAULT_SESSION_DEADLINE_S,
        alias="SESSION_DEADLINE_S",
        ge=60,
        description="Seconds a session retries infrastructure failures before it fails.",
    )
    media_grace_s: float = Field(
        default=DEFAULT_MEDIA_GRACE_S,
        alias="MEDIA_GRACE_S",
        ge=0,
        description="Seconds a session waits for named media still uploading before it fails "
        "with missing_media.",
    )

    # Temporal. A TOML profile (temporalio.envconfig: TEMPORAL_CONFIG_FILE, default
    # ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE) is read first, these variables
    # override it, and TEMPORAL_ADDRESS/NAMESPACE fall back to the embedded dev server.
    temporal_profile: str | None = Field(
        default=None,
        alias="TEMPORAL_PROFILE",
        description="The Temporal client profile to read (unset: the file's default).",
    )
    temporal_config_file: FilePath | None = Field(
        default=None,
        alias="TEMPORAL_CONFIG_FILE",
        description="The Temporal client TOML file (unset: ~/.config/temporalio/temporal.toml).",
    )
    temporal_api_key: SecretStr | None = Field(
        default=None,
        alias="TEMPORAL_API_KEY",
        description="Temporal Cloud API key (TLS on; never logged).",
    )
    temporal_tls: bool | None = Field(
        default=None,
        alias="TEMPORAL_TLS",
        description="TLS to Temporal on or off (unset: as the profile says; an API key turns "
        "it on).",
    )
    temporal_tls_client_cert_path: FilePath | None = Field(
        default=None,
        alias="TEMPORAL_TLS_CLIENT_CERT_PATH",
        description="mTLS client certificate (with TEMPORAL_TLS_CLIENT_KEY_PATH).",
    )
    temporal_tls_client_key_path: FilePath | None = Field(
        default=None,
        alias="TEMPORAL_TLS_CLIENT_KEY_PATH",
        description="mTLS client key (with TEMPORAL_TLS_CLIENT_CERT_PATH).",
    )
    temporal_tls_server_ca_cert_path: FilePath | None = Field(
        default=None,
        alias="TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        description="A private CA that signed Temporal's server certificate.",
    )
    temporal_tls_server_name: str | None = Field(
        default=None,
        alias="TEMPORAL_TLS_SERVER_NAME",
        description="The server name to check Temporal's certificate against.",
    )
    temporal_address: str = Field(
        default=f"127.0.0.1:{EMBEDDED_TEMPORAL_PORT}",
        alias="TEMPORAL_ADDRESS",
        description="The Temporal frontend, host:port.",
    )
    temporal_namespace: str = Field(
        default="default", alias="TEMPORAL_NAMESPACE", description="The Temporal namespace."
    )
    temporal_task_queue: str = Field(
        default="pipeline",
        alias="TEMPORAL_TASK_QUEUE",
        description="The CPU task queue: workflows and media activities.",
    )
    temporal_gpu_task_queue: str = Field(
        default="gpu",
        alias="TEMPORAL_GPU_TASK_QUEUE",
        description="The prefix of the GPU task queues: {prefix}.{preset}, "
        "{prefix}.{preset}.separation and {prefix}.worker.{name}.",
    )
    temporal_ui_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(f"http://127.0.0.1:{EMBEDDED_UI_PORT}"),
        alias="TEMPORAL_UI_URL",
        description="The Temporal UI, for the links the CLI prints.",
    )

    # ComfyUI: the one server this GPU worker owns.
    comfyui_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(f"http://127.0.0.1:{EMBEDDED_COMFY_PORT}"),
        alias="COMFYUI_URL",
        description="The ComfyUI a GPU worker owns.",
    )
    comfyui_timeout_s: float = Field(
        default=1800.0,
        alias="COMFYUI_TIMEOUT_S",
        gt=0,
        description="The longest a single graph may run, in seconds.",
    )
    comfyui_start_timeout_s: float = Field(
        default=300.0,
        alias="COMFYUI_START_TIMEOUT_S",
        ge=0,
        description="How long a GPU worker waits for its ComfyUI to answer at start.",
    )
    comfyui_poll_s: float = Field(
        default=5.0,
        alias="COMFYUI_POLL_S",
        gt=0,
        description="Seconds between looks at /history and /queue while a prompt runs: "
        "the server's word, not the socket's, says it is alive.",
    )
    comfyui_ws_ping_s: float = Field(
        default=20.0,
        alias="COMFYUI_WS_PING_S",
        gt=0,
        description="The ComfyUI WebSocket's keepalive: a ping this often, reopened when no "
        "pong comes within as long (silence alone never reopens it).",
    )

    # A real ComfyUI for the embedded stack (``pipeline up --comfyui-dir``).
    comfyui_dir: DirectoryPath | None = Field(
        default=None,
        alias="COMFYUI_DIR",
        description="A ComfyUI checkout (its main.py) the embedded stack runs instead of "
        "comfy-sim; the GPU image's ComfyUI.",
    )
    comfyui_python: FilePath | None = Field(
        default=None,
        alias="COMFYUI_PYTHON",
        description="The Python that runs COMFYUI_DIR's main.py (default: its venv/ or .venv/, "
        "else python3 on PATH).",
    )
    comfyui_models_dir: DirectoryPath | None = Field(
        default=None,
        alias="COMFYUI_MODELS_DIR",
        description="The models folder the embedded stack's ComfyUI reads (default: "
        "COMFYUI_DIR/models).",
    )

    # GPU workers: routing by preset, sticky sessions, heartbeats, drain, warm-up.
    gpu_heartbeat_s: float = Field(
        default=10.0,
        alias="GPU_HEARTBEAT_S",
        gt=0,
        le=20,
        description="GPU activities heartbeat this often; the workflow's timeout is 30 s.",
    )
    gpu_health_interval_s: float = Field(
        default=5.0,
        alias="GPU_HEALTH_INTERVAL_S",
        gt=0,
        description="How often a GPU worker checks its ComfyUI answers (it polls only then) "
        "and frees the session slots of sessions that ended (pipeline/fleet/sessions.py).",
    )
    gpu_drain_grace_s: float = Field(
        default=600.0,
        alias="GPU_DRAIN_GRACE_S",
        ge=0,
        description="On stop, how long a running segment may finish before it is handed back.",
    )
    gpu_warmup_preset: str | None = Field(
        default=None,
        alias="GPU_WARMUP_PRESET",
        description="A preset whose probe graph the worker runs once before it polls.",
    )
    gpu_worker_name: str | None = Field(
        default=None,
        alias="GPU_WORKER_NAME",
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="This GPU worker's name, unique per ComfyUI: its own task queue is "
        "{TEMPORAL_GPU_TASK_QUEUE}.worker.{name}, so a restarted worker takes back the "
        "sessions it ran. Default: the host and the ComfyUI's host and port.",
    )
    sticky_schedule_to_start_s: float = Field(
        default=STICKY_SCHEDULE_TO_START_S,
        alias="STICKY_SCHEDULE_TO_START_S",
        gt=0,
        description="How long a session's later GPU task waits for the worker that ran its "
        "first one (busy with another session's segment, or dead) before any worker may take it.",
    )

    # An operator's presets, derived from the shipped ones (workflows_comfy.preset_file).
    presets_file: FilePath | None = Field(
        default=None,
        alias="PRESETS_FILE",
        description="An operator's presets file (TOML): shipped presets with renamed files, "
        "steps or cfg, or exported graphs of their own.",
    )

    # Vocal separation: a local htdemucs file (never downloaded); unset, separation fails.
    demucs_model_path: Path | None = Field(
        default=None,
        alias="DEMUCS_MODEL_PATH",
        description="GPU workers: a local Demucs model (htdemucs.safetensors or a bag's "
        ".yaml), never downloaded at run time; unset, the worker does not separate vocals.",
    )

    # Model weights: the lockfile `pipeline models sync/verify` read, and a Hugging Face
    # token for gated repositories (sent to huggingface.co only).
    models_lock: Path = Field(
        default=Path("deploy/models.lock"),
        alias="MODELS_LOCK",
        description="The lockfile pipeline models reads.",
    )
    hf_token: SecretStr | None = Field(
        default=None,
        alias="HF_TOKEN",
        description="A Hugging Face read token for gated repositories (sent to huggingface.co "
        "only; never logged).",
    )

    # Completion callbacks (Standard Webhooks): a manifest's callback_url, else this one.
    callback_url: AnyHttpUrl | None = Field(
        default=None,
        alias="CALLBACK_URL",
        description="The completion callback for manifests that name none.",
    )
    callback_secret: SecretStr | None = Field(
        default=None,
        alias="CALLBACK_SECRET",
        description="whsec_ + base64 key; unset, callbacks go unsigned.",
    )
    callback_timeout_s: float = Field(
        default=10.0,
        alias="CALLBACK_TIMEOUT_S",
        gt=0,
        description="Seconds per callback attempt.",
    )

    # Observability: each worker serves Prometheus metrics here (0: none).
    metrics_port: int = Field(
        default=0,
        alias="METRICS_PORT",
        ge=0,
        le=65535,
        description="The port of a worker's Prometheus /metrics (0: off).",
    )
    otel_tracing: bool = Field(
        default=False,
        alias="OTEL_TRACING",
        description="Trace workflows and activities with OpenTelemetry (the 'tracing' extra); "
        "spans go to the process's OpenTelemetry tracer provider.",
    )

    # C2PA Content Credentials on the outputs (pipeline.provenance, docs/operations/provenance.md).
    signing: Literal["on", "off"] = Field(
        default="on",
        alias="SIGNING",
        description="Whether the CPU worker signs the outputs with C2PA Content Credentials; "
        "on, a worker without a credential refuses to start (the embedded stack makes a "
        "development one).",
    )
    signing_cert_path: Path | None = Field(
        default=None,
        alias="SIGNING_CERT_PATH",
        description="The signer's PEM certificate chain, leaf first (not self-signed, no CA; "
        "EKU emailProtection or documentSigning).",
    )
    signing_key_path: Path | None = Field(
        default=None,
        alias="SIGNING_KEY_PATH",
        description="The leaf's unencrypted PEM private key (or SIGNING_HOOK instead).",
    )
    signing_hook: str | None = Field(
        default=None,
        alias="SIGNING_HOOK",
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:function signing bytes with the leaf's key (a KMS or HSM), "
        "returning C2PA's signature encoding; instead of SIGNING_KEY_PATH.",
    )
    signing_algorithm: Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"] = (
        Field(
            default="es256",
            alias="SIGNING_ALGORITHM",
            description="The signature algorithm (COSE): es256 is ECDSA P-256 with SHA-256.",
        )
    )
    signing_tsa_url: AnyHttpUrl | None = Field(
        default=None,
        alias="SIGNING_TSA_URL",
        description="An RFC 3161 time-stamp authority the signatures are stamped by; unset, none.",
    )
    signing_trust_anchors_path: Path | None = Field(
        default=None,
        alias="SIGNING_TRUST_ANCHORS_PATH",
        description="PEM CA certificates pipeline verify trusts; unset, the embedded stack's "
        "development CA (PIPELINE_STATE_DIR/signing/ca.pem) when R2_ENDPOINT_URL is unset.",
    )

    # Local scratch space for media work.
    work_dir: Path = Field(
        default=Path("/tmp/wan-pipeline"),
        alias="PIPELINE_WORK_DIR",
        description="Scratch space for media work; a starting worker removes what killed "
        "workers left there.",
    )
    state_dir: Path = Field(
        default=Path(".state"),
        alias="PIPELINE_STATE_DIR",
        description="The embedded stack's state and logs, and the seaweedfs source's cursor.",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        alias="LOG_FORMAT",
        description="Log lines as JSON or for a console (auto: console on a terminal).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", alias="LOG_LEVEL", description="The lowest level logged."
    )

    @field_validator("callback_secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            secret_key(value.get_secret_value())
        return value

    @field_validator("presign_expiry_s")
    @classmethod
    def _sigv4_expiry(cls, value: int) -> int:
        if value > PRESIGN_EXPIRY_MAX_S:
            raise ValueError(
                f"{value} s is longer than SigV4 allows ({PRESIGN_EXPIRY_MAX_S} s, 7 days): "
                "S3 and R2 would refuse every URL printed; set it to at most "
                f"{PRESIGN_EXPIRY_MAX_S}"
            )
        return value

    @field_validator("price_gpu_hour")
    @classmethod
    def _gpu_prices(cls, value: str) -> str:
        parse_gpu_prices(value)
        return value

    @field_validator("public_outputs")
    @classmethod
    def _known_outputs(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in OUTPUT_NAMES]
        if unknown:
            raise ValueError(
                f"unknown output {', '.join(map(repr, unknown))}: list some of "
                f"{', '.join(OUTPUT_NAMES)}, comma-separated"
            )
        return ",".join(dict.fromkeys(names))

    @property
    def public_output_names(self) -> frozenset[str]:
        """``PUBLIC_OUTPUTS`` as names from ``pipeline.domain.layout.OUTPUT_NAMES``."""
        return frozenset(filter(None, self.public_outputs.split(",")))

    @property
    def prices(self) -> PriceTable:
        """The PRICE_* variables as the price table each run's cost is computed with."""
        return PriceTable(
            gpu_hour=parse_gpu_prices(self.price_gpu_hour),
            cpu_hour=self.price_cpu_hour,
            gb_month=self.price_gb_month,
            gb_moved=self.price_gb_moved,
            currency=self.price_currency,
        )

    @property
    def callback_key(self) -> bytes | None:
        """The callback secret's key bytes, or None when callbacks go unsigned."""
        if self.callback_secret is None:
            return None
        return secret_key(self.callback_secret.get_secret_value())

    @model_validator(mode="after")
    def _client_cert_with_key(self) -> Settings:
        if (self.temporal_tls_client_cert_path is None) != (
            self.temporal_tls_client_key_path is None
        ):
            raise ValueError(
                "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together (mTLS)"
            )
        return self

    @model_validator(mode="after")
    def _one_signing_key(self) -> Settings:
        if self.signing_key_path is not None and self.signing_hook is not None:
            raise ValueError("SIGNING_KEY_PATH and SIGNING_HOOK: set one, not both")
        if (self.signing_key_path is None and self.signing_hook is None) != (
            self.signing_cert_path is None
        ):
            raise ValueError(
                "SIGNING_CERT_PATH goes with SIGNING_KEY_PATH or SIGNING_HOOK (the chain and "
                "what signs for its leaf)"
            )
        return self

    @model_validator(mode="after")
    def _comfyui_checkout(self) -> Settings:
        if self.comfyui_dir is None:
            if self.comfyui_python is not None or self.comfyui_models_dir is not None:
                raise ValueError("COMFYUI_PYTHON and COMFYUI_MODELS_DIR need COMFYUI_DIR")
        elif not (self.comfyui_dir / "main.py").is_file():
            raise ValueError(f"COMFYUI_DIR: {self.comfyui_dir} has no main.py (not ComfyUI)")
        return self

    @property
    def s3_endpoint(self) -> str:
        return str(self.r2_endpoint_url).rstrip("/")

    @property
    def retention(self) -> RetentionPolicy:
        """The RETENTION_* days as the policy ``pipeline setup bucket`` applies."""
        return RetentionPolicy(
            multipart_days=self.retention_multipart_days,
            inbox_days=self.retention_inbox_days,
            session_days=self.retention_session_days,
            intermediate_days=self.retention_intermediate_days,
        )

    @property
    def comfy_url(self) -> str:
        return str(self.comfyui_url).rstrip("/")

    @property
    def ui_url(self) -> str:
        return str(self.temporal_ui_url).rstrip("/")

    @property
    def cf_api_base(self) -> str:
        return str(self.cf_api_base_url).rstrip("/")

    @property
    def event_queue_url(self) -> str:
        """The configured queue URL, or the one the embedded stack provisions."""
        if self.sqs_queue_url is not None:
            return str(self.sqs_queue_url)
        return f"{self.s3_endpoint}/{EMBEDDED_ACCOUNT}/{self.sqs_queue_name}"

    @property
    def event_queue_endpoint(self) -> str:
        """A queue URL is ``{endpoint}/{account}/{name}``: its origin is the SQS endpoint."""
        parts = urlsplit(self.event_queue_url)
        return f"{parts.scheme}://{parts.netloc}"

    def safe_summary(self) -> dict[str, Any]:
        """What is safe to log: everything but secrets."""
        return {
            "s3_endpoint": self.s3_endpoint,
            "bucket": self.r2_bucket_name,
            "public_url": str(self.r2_public_url) if self.r2_public_url else None,
            "temporal": self.temporal_address,
            "namespace": self.temporal_namespace,
            "temporal_profile": self.temporal_profile,
            "temporal_auth": "api_key"
            if self.temporal_api_key
            else ("mtls" if self.temporal_tls_client_cert_path else None),
            "task_queue": self.temporal_task_queue,
            "gpu_task_queue": self.temporal_gpu_task_queue,
            "comfyui": self.comfy_url,
        }


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the environment; ``ConfigError`` names every bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a rule across variables names them in its message
                problems.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            name = str(error["loc"][0])
            field = Settings.model_fields.get(name)
            variable = field.alias if field and field.alias else name
            problems.append(f"{variable}: {str(error['msg']).removeprefix('Value error, ')}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


VARIABLES_PAGE = "docs/configuration/variables.md"
"""Where ``make docs`` writes ``variables_markdown()``, relative to the repository root."""


def variables_markdown() -> str:
    """The variables page: one table row per ``Settings`` field, in declaration order.

    Columns: the variable (the field's alias), its default (``—`` for none; secrets' shipped
    defaults shown as they are, since they are the embedded stack's), the values it takes
    (from the annotation and its ``ge``/``gt``/``le`` bounds) and its ``description``.
    ``python -m pipeline.config`` prints it; ``make docs`` writes it to ``VARIABLES_PAGE``.
    """
    lines = [
        "# Variables",
        "",
        "<!-- Generated from pipeline/config.py (Settings) by `make docs`; do not edit. -->",
        "",
        "Every variable `pipeline` reads, validated at start-up: a bad value stops the process",
        "with one line naming every bad variable (exit code 2). Unset ones default to the",
        "embedded stack.",
        "",
        "| variable | default | values | meaning |",
        "|---|---|---|---|",
    ]
    for field in Settings.model_fields.values():
        cells = (
            f"`{field.alias}`",
            _default_cell(field.default),
            _values_cell(field.annotation, field.metadata),
            _escape(field.description or ""),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _default_cell(default: Any) -> str:
    if default is None:
        return "—"
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    elif isinstance(default, bool):
        default = str(default).lower()
    elif isinstance(default, float) and default.is_integer():
        default = int(default)
    elif isinstance(default, AnyHttpUrl):
        default = str(default).rstrip("/")
    return f"`{default}`"


def _values_cell(annotation: Any, metadata: list[Any]) -> str:
    if get_origin(annotation) in (Union, UnionType):  # X | None: None is the unset default
        (annotation,) = (arg for arg in get_args(annotation) if arg is not type(None))
    if get_origin(annotation) is Literal:
        return " · ".join(f"`{value}`" for value in get_args(annotation))
    names = {
        bool: "`true` · `false`",
        int: "integer",
        float: "number",
        str: "text",
        SecretStr: "secret",
        AnyHttpUrl: "URL",
        Path: "path",
    }
    existing = {FilePath: "an existing file", DirectoryPath: "an existing folder"}
    described = existing.get(annotation) or names[annotation]
    bounds = [
        f"{sign} {getattr(rule, attr)}"
        for rule in metadata
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
        if getattr(rule, attr, None) is not None
    ]
    return ", ".join([described, *bounds])


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


if __name__ == "__main__":
    print(variables_markdown(), end="")
