"""Connecting to Temporal the one way the whole project does (pydantic payloads).

``connect_config`` is the one place a connection's options come from: today the address and
namespace of ``Settings``; TLS and API keys join it through ``temporalio.envconfig``'s
``ClientConnectConfig`` without touching any caller.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConnectConfig

from pipeline.config import Settings


def connect_config(settings: Settings) -> ClientConnectConfig:
    """``Client.connect`` keyword arguments for the configured server."""
    return ClientConnectConfig(
        target_host=settings.temporal_address, namespace=settings.temporal_namespace
    )


async def connect(settings: Settings, *, connect_timeout: timedelta | None = None) -> Client:
    """A client of the configured server; ``connect_timeout`` bounds the first RPC (doctor)."""
    return await Client.connect(
        **connect_config(settings),
        data_converter=pydantic_data_converter,
        connect_timeout=connect_timeout,
    )
