"""Connecting to Temporal the one way the whole project does (pydantic payloads).

``connect_config`` is the one place a connection's options come from: today the address and
namespace of ``Settings``; TLS and API keys join it through ``temporalio.envconfig``'s
``ClientConnectConfig`` without touching any caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConnectConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from pipeline.config import Settings
from pipeline.domain.errors import ConfigError


def connect_config(settings: Settings) -> ClientConnectConfig:
    """``Client.connect`` keyword arguments for the configured server."""
    return ClientConnectConfig(
        target_host=settings.temporal_address, namespace=settings.temporal_namespace
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
    ``runtime``: a worker's, serving its metrics (``metrics_runtime``)."""
    return await Client.connect(
        **connect_config(settings),
        data_converter=pydantic_data_converter,
        connect_timeout=connect_timeout,
        identity=identity,
        runtime=runtime,
        interceptors=tracing(settings),
    )


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


def metrics_runtime(settings: Settings, role: str) -> Runtime | None:
    """A runtime serving Prometheus ``/metrics`` on ``METRICS_PORT`` (None when 0).

    It carries the SDK's own metrics (``temporal_*``: task latencies, slots, polls) and the
    pipeline's, recorded through the SDK's meters (``pipeline_*``: sessions by kind and
    outcome, stage durations, ComfyUI queue wait), tagged with the worker's role. Durations
    are in seconds. One per process: the port is bound until the process ends.
    """
    if settings.metrics_port == 0:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"0.0.0.0:{settings.metrics_port}",
                durations_as_seconds=True,
            ),
            global_tags={"role": role},
        )
    )


async def ensure_search_attributes(client: Client, wanted: Mapping[str, str]) -> list[str]:
    """Register the search attributes ``wanted`` (name → ``Keyword``, ``Int``, ...) that the
    client's namespace lacks; the names it added. Idempotent.

    The embedded dev server gets them on its command line; a real cluster gets them from
    ``pipeline setup temporal`` (the operator API; on Temporal Cloud, an API key allowed to
    manage the namespace).
    """
    operator = client.operator_service
    present = await operator.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        name: IndexedValueType.Value(
            "INDEXED_VALUE_TYPE_" + re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()
        )
        for name, kind in wanted.items()
        if name not in present.custom_attributes
    }
    if missing:
        await operator.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)
