"""All configuration, from environment variables, validated once at start-up.

Unset variables fall back to the embedded stack (`pipeline up`): Temporal dev server on
127.0.0.1:7233, SeaweedFS on 127.0.0.1:8333 playing R2 (its filer on 8888, gRPC 18888),
comfy-sim on 127.0.0.1:8188.
Build ``Settings`` once in ``main`` and pass it down; nothing reads the environment at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
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
from pipeline.domain.errors import ConfigError

EMBEDDED_S3_PORT = 8333
EMBEDDED_FILER_PORT = 8888
EMBEDDED_FILER_GRPC_PORT = 18888
EMBEDDED_COMFY_PORT = 8188
EMBEDDED_TEMPORAL_PORT = 7233
EMBEDDED_UI_PORT = 8233
EMBEDDED_ACCOUNT = "123456789012"
"""moto's default account id, part of the queue URL the ``sqs`` source assumes when unset."""

EventSourceName = Literal["seaweedfs", "sqs", "r2", "webhook"]
"""How bucket events arrive: SeaweedFS's filer metadata stream, S3 → SQS, R2 → Cloudflare
Queue, or MinIO/S3 webhook POSTs."""
EVENT_SOURCES: tuple[EventSourceName, ...] = get_args(EventSourceName)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # Object storage: R2 in production, any S3-compatible endpoint works.
    r2_endpoint_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(f"http://127.0.0.1:{EMBEDDED_S3_PORT}"), alias="R2_ENDPOINT_URL"
    )
    r2_access_key_id: str = Field(default="embedded", alias="R2_ACCESS_KEY_ID", min_length=1)
    r2_secret_access_key: SecretStr = Field(
        default=SecretStr("embedded"), alias="R2_SECRET_ACCESS_KEY"
    )
    r2_bucket_name: str = Field(
        default="wan-pipeline",
        alias="R2_BUCKET_NAME",
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    )
    r2_public_url: AnyHttpUrl | None = Field(default=None, alias="R2_PUBLIC_URL")
    r2_region: str = Field(default="us-east-1", alias="R2_REGION")
    presign_expiry_s: int = Field(default=7 * 24 * 3600, alias="PRESIGN_EXPIRY_S", ge=60)

    # Events: the S3 -> SQS queue the ingest consumer long-polls.
    sqs_queue_url: AnyHttpUrl | None = Field(default=None, alias="SQS_QUEUE_URL")
    sqs_queue_name: str = Field(default="wan-pipeline-events", alias="SQS_QUEUE_NAME")
    event_source: EventSourceName = Field(default="seaweedfs", alias="EVENT_SOURCE")

    # SeaweedFS's filer, whose metadata stream is the `seaweedfs` source: host:port.grpcport.
    seaweedfs_filer: str = Field(
        default=f"127.0.0.1:{EMBEDDED_FILER_PORT}.{EMBEDDED_FILER_GRPC_PORT}",
        alias="SEAWEEDFS_FILER",
        pattern=r"^[^:\s]+:\d+(\.\d+)?$",
    )

    # R2 event notifications arrive on a Cloudflare Queue read with the HTTP pull API.
    cf_account_id: str | None = Field(default=None, alias="CF_ACCOUNT_ID")
    cf_queue_id: str | None = Field(default=None, alias="CF_QUEUE_ID")
    cf_api_token: SecretStr | None = Field(default=None, alias="CF_API_TOKEN")
    cf_api_base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://api.cloudflare.com/client/v4"), alias="CF_API_BASE_URL"
    )
    r2_poll_interval_s: float = Field(default=1.0, alias="R2_POLL_INTERVAL_S", gt=0)

    # MinIO/S3-style event POSTs, authenticated with a shared secret.
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    webhook_host: str = Field(default="0.0.0.0", alias="WEBHOOK_HOST")
    webhook_port: int = Field(default=8090, alias="WEBHOOK_PORT", ge=1, le=65535)

    # The reconcile schedule: the safety net for events that never arrived.
    reconcile_interval_s: int = Field(default=300, alias="RECONCILE_INTERVAL_S", ge=10)
    orphan_grace_s: int = Field(default=900, alias="ORPHAN_GRACE_S", ge=0)

    # Sessions: infrastructure failures retry until the deadline; bad input fails at once.
    session_deadline_s: float = Field(
        default=DEFAULT_SESSION_DEADLINE_S, alias="SESSION_DEADLINE_S", ge=60
    )
    media_grace_s: float = Field(default=DEFAULT_MEDIA_GRACE_S, alias="MEDIA_GRACE_S", ge=0)
    """How long a session waits for named media still uploading before ``missing_media``."""

    # Temporal. A TOML profile (temporalio.envconfig: TEMPORAL_CONFIG_FILE, default
    # ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE) is read first, these variables
    # override it, and TEMPORAL_ADDRESS/NAMESPACE fall back to the embedded dev server.
    temporal_profile: str | None = Field(default=None, alias="TEMPORAL_PROFILE")
    temporal_config_file: FilePath | None = Field(default=None, alias="TEMPORAL_CONFIG_FILE")
    temporal_api_key: SecretStr | None = Field(
        default=None, alias="TEMPORAL_API_KEY", description="Temporal Cloud API key (TLS on)."
    )
    temporal_tls: bool | None = Field(default=None, alias="TEMPORAL_TLS")
    temporal_tls_client_cert_path: FilePath | None = Field(
        default=None, alias="TEMPORAL_TLS_CLIENT_CERT_PATH"
    )
    temporal_tls_client_key_path: FilePath | None = Field(
        default=None, alias="TEMPORAL_TLS_CLIENT_KEY_PATH"
    )
    temporal_tls_server_ca_cert_path: FilePath | None = Field(
        default=None, alias="TEMPORAL_TLS_SERVER_CA_CERT_PATH"
    )
    temporal_tls_server_name: str | None = Field(default=None, alias="TEMPORAL_TLS_SERVER_NAME")
    temporal_address: str = Field(
        default=f"127.0.0.1:{EMBEDDED_TEMPORAL_PORT}", alias="TEMPORAL_ADDRESS"
    )
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(default="pipeline", alias="TEMPORAL_TASK_QUEUE")
    temporal_gpu_task_queue: str = Field(default="gpu", alias="TEMPORAL_GPU_TASK_QUEUE")
    temporal_ui_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(f"http://127.0.0.1:{EMBEDDED_UI_PORT}"), alias="TEMPORAL_UI_URL"
    )

    # ComfyUI: the one server this GPU worker owns.
    comfyui_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(f"http://127.0.0.1:{EMBEDDED_COMFY_PORT}"), alias="COMFYUI_URL"
    )
    comfyui_timeout_s: float = Field(default=1800.0, alias="COMFYUI_TIMEOUT_S", gt=0)
    comfyui_start_timeout_s: float = Field(
        default=300.0,
        alias="COMFYUI_START_TIMEOUT_S",
        ge=0,
        description="How long a GPU worker waits for its ComfyUI to answer at start.",
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
        description="How often a GPU worker checks its ComfyUI answers (it polls only then).",
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
    presets_file: FilePath | None = Field(default=None, alias="PRESETS_FILE")

    # Vocal separation: a local htdemucs file (never downloaded); unset, separation fails.
    demucs_model_path: Path | None = Field(default=None, alias="DEMUCS_MODEL_PATH")

    # Model weights: the lockfile `pipeline models sync/verify` read, and a Hugging Face
    # token for gated repositories (sent to huggingface.co only).
    models_lock: Path = Field(default=Path("deploy/models.lock"), alias="MODELS_LOCK")
    hf_token: SecretStr | None = Field(default=None, alias="HF_TOKEN")

    # Completion callbacks (Standard Webhooks): a manifest's callback_url, else this one.
    callback_url: AnyHttpUrl | None = Field(default=None, alias="CALLBACK_URL")
    callback_secret: SecretStr | None = Field(
        default=None,
        alias="CALLBACK_SECRET",
        description="whsec_ + base64 key; unset, callbacks go unsigned.",
    )
    callback_timeout_s: float = Field(default=10.0, alias="CALLBACK_TIMEOUT_S", gt=0)

    # Observability: each worker serves Prometheus metrics here (0: none).
    metrics_port: int = Field(default=0, alias="METRICS_PORT", ge=0, le=65535)
    otel_tracing: bool = Field(
        default=False,
        alias="OTEL_TRACING",
        description="Trace workflows and activities with OpenTelemetry (the 'tracing' extra); "
        "spans go to the process's OpenTelemetry tracer provider.",
    )

    # Local scratch space for media work.
    work_dir: Path = Field(default=Path("/tmp/wan-pipeline"), alias="PIPELINE_WORK_DIR")
    state_dir: Path = Field(default=Path(".state"), alias="PIPELINE_STATE_DIR")
    log_format: Literal["auto", "json", "console"] = Field(default="auto", alias="LOG_FORMAT")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", alias="LOG_LEVEL"
    )

    @field_validator("callback_secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            secret_key(value.get_secret_value())
        return value

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

    @property
    def s3_endpoint(self) -> str:
        return str(self.r2_endpoint_url).rstrip("/")

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
            problems.append(f"{variable}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
