import pytest

from pipeline.config import load_settings
from pipeline.domain.errors import ConfigError


def test_embedded_defaults_apply_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "R2_ENDPOINT_URL", "R2_BUCKET_NAME", "SQS_QUEUE_URL", "COMFYUI_URL", "EVENT_SOURCE",
        "SEAWEEDFS_FILER",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.s3_endpoint == "http://127.0.0.1:8333"
    assert settings.event_source == "seaweedfs"
    assert settings.seaweedfs_filer == "127.0.0.1:8888.18888"
    assert settings.event_queue_url == "http://127.0.0.1:8333/123456789012/wan-pipeline-events"


def test_environment_overrides_and_queue_endpoint_follows_the_queue_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("R2_BUCKET_NAME", "studio-media")
    monkeypatch.setenv("SQS_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/111/events")
    settings = load_settings()
    assert settings.r2_bucket_name == "studio-media"
    assert settings.event_queue_endpoint == "https://sqs.eu-west-1.amazonaws.com"


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2_BUCKET_NAME", "Not_A_Bucket")
    monkeypatch.setenv("COMFYUI_URL", "not a url")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "R2_BUCKET_NAME" in str(caught.value)
    assert "COMFYUI_URL" in str(caught.value)


def test_secrets_never_appear_in_the_loggable_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", "super-secret-value")
    settings = load_settings()
    assert "super-secret-value" not in repr(settings.safe_summary())
    assert "super-secret-value" not in repr(settings)


def test_a_filer_address_without_a_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWEEDFS_FILER", "filer.internal")
    with pytest.raises(ConfigError, match="SEAWEEDFS_FILER"):
        load_settings()


def test_a_presign_expiry_past_sigv4s_seven_days_is_refused_naming_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRESIGN_EXPIRY_S", "604801")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid configuration: PRESIGN_EXPIRY_S: 604801 s is longer than SigV4 allows "
        "(604800 s, 7 days): S3 and R2 would refuse every URL printed; set it to at most 604800"
    )
    monkeypatch.setenv("PRESIGN_EXPIRY_S", "604800")
    assert load_settings().presign_expiry_s == 604800


def test_public_outputs_default_to_the_combined_video_and_the_poster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PUBLIC_OUTPUTS", raising=False)
    assert load_settings().public_output_names == {"combined", "poster"}
    monkeypatch.setenv("PUBLIC_OUTPUTS", " previews, combined ,")
    assert load_settings().public_output_names == {"previews", "combined"}
    monkeypatch.setenv("PUBLIC_OUTPUTS", "")
    assert load_settings().public_output_names == frozenset()


def test_an_unknown_public_output_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBLIC_OUTPUTS", "combined,inputs,prepared")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid configuration: PUBLIC_OUTPUTS: unknown output 'inputs', 'prepared': list "
        "some of combined, poster, contact_sheet, previews, comma-separated"
    )
