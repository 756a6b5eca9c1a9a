"""Where the pipeline connects to Temporal: a TOML profile (temporalio.envconfig) overlaid
by the TEMPORAL_* settings, the embedded dev server when neither says."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from pipeline.config import load_settings
from pipeline.domain.errors import ConfigError
from pipeline.temporal_client import connect_config

TEMPORAL_VARIABLES = (
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_NAME",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in TEMPORAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/temporalio/temporal.toml
    monkeypatch.delenv("XDG_CONFIG_HOME")  # nor the test run's own (tests.isolation)


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    for name, body in (("ca.pem", b"CA"), ("client.pem", b"CERT"), ("client.key", b"KEY")):
        (tmp_path / name).write_bytes(body)
    path = tmp_path / "temporal.toml"
    path.write_text(
        f"""
[profile.default]
address = "file-host:7233"
namespace = "file-ns"

[profile.cloud]
address = "studio.a1b2c.tmprl.cloud:7233"
namespace = "studio.a1b2c"
api_key = "key-from-file"

[profile.mtls]
address = "studio.a1b2c.tmprl.cloud:7233"
namespace = "studio.a1b2c"
[profile.mtls.tls]
client_cert_path = "{tmp_path / "client.pem"}"
client_key_path = "{tmp_path / "client.key"}"
server_name = "studio.a1b2c.tmprl.cloud"
"""
    )
    return path


def test_nothing_set_connects_to_the_embedded_dev_server() -> None:
    config = connect_config(load_settings())
    assert config == {"target_host": "127.0.0.1:7233", "namespace": "default"}


def test_the_default_profile_of_the_file_is_used(profiles: Path) -> None:
    config = connect_config(load_settings(TEMPORAL_CONFIG_FILE=str(profiles)))
    assert (config["target_host"], config["namespace"]) == ("file-host:7233", "file-ns")
    assert "tls" not in config


def test_an_api_key_profile_turns_tls_on(profiles: Path) -> None:
    config = connect_config(
        load_settings(TEMPORAL_CONFIG_FILE=str(profiles), TEMPORAL_PROFILE="cloud")
    )
    assert config["target_host"] == "studio.a1b2c.tmprl.cloud:7233"
    assert config["api_key"] == "key-from-file"
    assert config["tls"] is True


def test_an_mtls_profile_reads_the_client_certificate_and_key(profiles: Path) -> None:
    config = connect_config(
        load_settings(TEMPORAL_CONFIG_FILE=str(profiles), TEMPORAL_PROFILE="mtls")
    )
    tls = config["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (b"CERT", b"KEY")
    assert tls.domain == "studio.a1b2c.tmprl.cloud"


def test_variables_override_the_profile(
    profiles: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(profiles))
    monkeypatch.setenv("TEMPORAL_PROFILE", "mtls")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "staging.a1b2c")
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(tmp_path / "ca.pem"))
    config = connect_config(load_settings())
    tls = config["tls"]
    assert config["namespace"] == "staging.a1b2c"
    assert config["target_host"] == "studio.a1b2c.tmprl.cloud:7233"
    assert isinstance(tls, TLSConfig)
    assert (tls.server_root_ca_cert, tls.client_cert) == (b"CA", b"CERT")


def test_an_api_key_variable_alone_reaches_temporal_cloud_and_stays_out_of_logs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "studio.a1b2c.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "studio.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "secret-api-key")
    settings = load_settings()
    config = connect_config(settings)
    assert (config["api_key"], config["tls"]) == ("secret-api-key", True)
    assert "secret-api-key" not in repr(settings.safe_summary())
    assert settings.safe_summary()["temporal_auth"] == "api_key"


def test_tls_can_be_turned_off_explicitly(profiles: Path) -> None:
    config = connect_config(
        load_settings(
            TEMPORAL_CONFIG_FILE=str(profiles), TEMPORAL_PROFILE="mtls", TEMPORAL_TLS="false"
        )
    )
    assert config["tls"] is False


def test_a_profile_the_file_lacks_is_refused_naming_it(profiles: Path) -> None:
    with pytest.raises(ConfigError, match="nope"):
        connect_config(load_settings(TEMPORAL_CONFIG_FILE=str(profiles), TEMPORAL_PROFILE="nope"))


def test_a_client_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_bytes(b"CERT")
    with pytest.raises(ConfigError, match="TEMPORAL_TLS_CLIENT_KEY_PATH"):
        load_settings(TEMPORAL_TLS_CLIENT_CERT_PATH=str(tmp_path / "client.pem"))


def test_a_missing_config_file_is_refused() -> None:
    with pytest.raises(ConfigError, match="TEMPORAL_CONFIG_FILE"):
        load_settings(TEMPORAL_CONFIG_FILE="/nowhere/temporal.toml")
