"""Connecting to Temporal the one way the whole project does (pydantic payloads).

Where to connect comes from the SDK's environment configuration (``temporalio.envconfig``):
a TOML profile (``TEMPORAL_CONFIG_FILE``, else ``~/.config/temporalio/temporal.toml``;
profile ``TEMPORAL_PROFILE``, else ``default``) with the address, namespace, API key, TLS
client certificate and key, server CA and server name, as ``temporal config`` writes it.
``Settings`` overlays it: every ``TEMPORAL_*`` variable set (or given to
``load_settings``) wins over the file, as in the SDK; without either, the embedded dev
server on 127.0.0.1:7233. An API key turns TLS on (Temporal Cloud); so does a client
certificate (mTLS), a server CA or ``TEMPORAL_TLS=true``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from datetime import timedelta
from typing import Any

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS, ClientConnectConfig
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, RPCStatusCode

from pipeline.config import Settings
from pipeline.domain.errors import ConfigError, PortInUse


def connect_config(settings: Settings) -> ClientConnectConfig:
    """``Client.connect`` arguments: the TOML profile overlaid by ``settings``.

    Raises ``ConfigError`` for a profile the file does not have or an unreadable file.
    """
    try:
        profile = ClientConfigProfile.load(
            settings.temporal_profile,
            config_source=settings.temporal_config_file,
            disable_env=True,  # the TEMPORAL_* variables arrive through Settings
        )
    except Exception as exc:  # the SDK's bridge raises its own ConfigError type
        raise ConfigError(f"Temporal client configuration: {exc}") from None
    explicit = settings.model_fields_set

    def chosen(field: str, value: Any, from_file: Any) -> Any:
        return value if field in explicit or from_file is None else from_file

    tls = _overlay_tls(profile.tls or ClientConfigTLS(), settings)
    api_key = settings.temporal_api_key
    profile = dataclasses.replace(
        profile,
        address=chosen("temporal_address", settings.temporal_address, profile.address),
        namespace=chosen("temporal_namespace", settings.temporal_namespace, profile.namespace),
        api_key=api_key.get_secret_value() if api_key is not None else profile.api_key,
        tls=None if tls == ClientConfigTLS() else tls,
    )
    return profile.to_client_connect_config()


def _overlay_tls(tls: ClientConfigTLS, settings: Settings) -> ClientConfigTLS:
    return ClientConfigTLS(
        disabled=tls.disabled if settings.temporal_tls is None else not settings.temporal_tls,
        server_name=settings.temporal_tls_server_name or tls.server_name,
        server_root_ca_cert=settings.temporal_tls_server_ca_cert_path or tls.server_root_ca_cert,
        client_cert=settings.temporal_tls_client_cert_path or tls.client_cert,
        client_private_key=settings.temporal_tls_client_key_path or tls.client_private_key,
    )


async def connect(
    settings: Settings,
    *,
    connect_timeout: timedelta | None = None,
    identity: str | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """A client of the configured server; ``connect_timeout`` bounds the first RPC (doctor);
    ``identity``: who Temporal records as acting (default: the SDK's ``pid@host``);
    ``runtime``: a worker's, serving its metrics (``metrics_runtime``); by default one
    whose Core log lines go through Python logging (``core_logging``).

    Raises ``ConfigError`` when the server has no such namespace (``require_namespace``),
    so no command mistakes it for a missing session or a stopped consumer.
    """
    config = connect_config(settings)
    client = await Client.connect(
        **config,
        data_converter=pydantic_data_converter,
        connect_timeout=connect_timeout,
        identity=identity,
        runtime=runtime or default_runtime(),
        interceptors=tracing(settings),
    )
    await require_namespace(client, config["target_host"], timeout=connect_timeout)
    return client


_NAMESPACE_NOT_FOUND = "temporal.api.errordetails.v1.NamespaceNotFoundFailure"


def namespace_missing(exc: RPCError) -> bool:
    """Whether Temporal answered ``exc`` because the namespace does not exist: a
    ``NOT_FOUND`` carrying ``NamespaceNotFoundFailure`` (temporal.api.errordetails.v1), not
    a missing workflow or schedule."""
    if exc.status is not RPCStatusCode.NOT_FOUND:
        return False
    try:
        details = exc.grpc_status.details
    except Exception:  # an unparsable status carries no details
        return False
    return any(detail.type_url.endswith(_NAMESPACE_NOT_FOUND) for detail in details)


def namespace_error(namespace: str, address: str) -> ConfigError:
    """The one line for a namespace the server does not have, with both fixes."""
    return ConfigError(
        f"Temporal at {address} has no namespace {namespace!r}: fix TEMPORAL_NAMESPACE "
        f"(or the profile's namespace), or create it ('temporal operator namespace create "
        f"--namespace {namespace}')",
        detail={"namespace": namespace, "address": address},
    )


async def require_namespace(
    client: Client,
    address: str,
    *,
    timeout: timedelta | None = None,  # noqa: ASYNC109 - the RPC's own deadline
) -> None:
    """``DescribeNamespace`` (the call the SDK's worker validation makes, allowed to
    namespace-scoped API keys); ``ConfigError`` (``namespace_error``) when it is missing.
    Any other refusal is left to the caller's own calls to report."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace), timeout=timeout
        )
    except RPCError as exc:
        if namespace_missing(exc):
            raise namespace_error(client.namespace, address) from None
        if exc.status is RPCStatusCode.UNAVAILABLE:
            raise


def tracing(settings: Settings) -> list[Interceptor]:
    """Temporal's OpenTelemetry interceptor when ``OTEL_TRACING`` is on: spans for starting
    and running workflows and activities, carried across processes in Temporal headers, on
    the client and every worker built from it. Exporting is the OpenTelemetry SDK's job
    (``opentelemetry-instrument`` or ``OTEL_*`` variables), as for any Python service."""
    if not settings.otel_tracing:
        return []
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        raise ConfigError(
            "OTEL_TRACING needs OpenTelemetry: pip install 'wan-pipeline[tracing]'"
        ) from None
    return [TracingInterceptor()]


CORE_LOGGER = "temporalio.core"


def core_logging() -> LoggingConfig:
    """The SDK Core's log lines (warnings and up, e.g. RPC retries while the server is
    down), forwarded to the ``temporalio.core`` Python logger, so they are rendered like
    every other line and go to stderr. Core's own default writes them to stdout, which
    would break the one JSON object a ``--json`` command prints there."""
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
    )


@functools.cache
def default_runtime() -> Runtime:
    """The process's runtime when no worker asked for metrics: Core logs forwarded."""
    return Runtime(telemetry=TelemetryConfig(logging=core_logging()))


def metrics_runtime(settings: Settings, role: str) -> Runtime | None:
    """A runtime serving Prometheus ``/metrics`` on ``METRICS_PORT`` (None when 0).

    It carries the SDK's own metrics (``temporal_*``: task latencies, slots, polls) and the
    pipeline's, recorded through the SDK's meters (``pipeline_*``: sessions by kind and
    outcome, stage durations, ComfyUI queue wait), tagged with the worker's role. Durations
    are in seconds. One per process: the port is bound until the process ends.
    Raises ``PortInUse`` naming the port and ``METRICS_PORT`` when it cannot be bound.
    """
    port = settings.metrics_port
    if port == 0:
        return None
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                logging=core_logging(),
                metrics=PrometheusConfig(bind_address=f"0.0.0.0:{port}", durations_as_seconds=True),
                global_tags={"role": role},
            )
        )
    except ValueError as exc:  # Core: "Failed starting Prometheus exporter: <OS error>"
        raise PortInUse(
            f"METRICS_PORT {port}: the {role} worker cannot serve /metrics there "
            f"({str(exc).rpartition(': ')[2]}); give each worker on this host its own "
            "METRICS_PORT, or set it to 0"
        ) from None
