"""The test run never reads, nor disturbs, a stack the user runs (``tests.isolation``):
``make demo`` leaves one on the default ports with its state in ``.state``."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.config import load_settings
from pipeline.stack.seaweedfs import parse_filer_address
from pipeline.temporal_client import connect_config
from tests.isolation import pipeline_variables

ROOT = Path(__file__).parents[2]


def test_settings_built_without_arguments_point_at_private_state_not_the_users() -> None:
    settings = load_settings()
    for folder in (settings.state_dir, settings.work_dir):
        assert folder.is_absolute()
        assert not folder.resolve().is_relative_to(ROOT)  # not the clone's .state
        assert folder.resolve() != Path("/tmp/wan-pipeline")


def test_every_default_service_address_is_refused_not_served_by_a_running_stack() -> None:
    settings = load_settings()
    _host, filer_port, filer_grpc = parse_filer_address(settings.seaweedfs_filer)
    addresses = [
        (urlsplit(settings.s3_endpoint).port, "S3"),
        (urlsplit(settings.ui_url).port, "Temporal UI"),
        (urlsplit(settings.comfy_url).port, "ComfyUI"),
        (int(connect_config(settings)["target_host"].rpartition(":")[2]), "Temporal"),
        (filer_port, "filer"),
        (filer_grpc, "filer gRPC"),
        (settings.webhook_port, "webhook"),
    ]
    for port, what in addresses:
        assert port not in (7233, 8233, 8333, 8888, 18888, 8188, 8090), what
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"{what} on {port} answered"


def test_no_pipeline_variable_is_left_but_those_the_isolation_sets() -> None:
    assert "XDG_CONFIG_HOME" in os.environ  # so no user Temporal profile is read
    assert set(pipeline_variables(dict(os.environ))) == {
        "PIPELINE_STATE_DIR", "PIPELINE_WORK_DIR", "R2_ENDPOINT_URL", "SEAWEEDFS_FILER",
        "TEMPORAL_UI_URL", "COMFYUI_URL", "WEBHOOK_PORT",
    }  # fmt: skip
    assert pipeline_variables({"PIPELINE_TEST_TEMPORAL_ADDRESS": "x", "R2_BUCKET_NAME": "b"}) == [
        "R2_BUCKET_NAME"
    ]
