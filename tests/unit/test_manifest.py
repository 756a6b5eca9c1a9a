import json
import re
from pathlib import Path

import pytest

from pipeline.domain.errors import ManifestError
from pipeline.domain.manifest import Kind, json_schema, parse_manifest, parse_timestamp

SCHEMA_FILE = Path(__file__).parents[2] / "pipeline" / "schemas" / "manifest.v1.json"


def manifest_bytes(**fields: object) -> bytes:
    return json.dumps({"kind": "i2v", "image": "face.png", **fields}).encode()


def test_minimal_i2v_manifest_gets_documented_defaults() -> None:
    manifest = parse_manifest(manifest_bytes())
    assert manifest.kind is Kind.I2V
    assert (manifest.width, manifest.height, manifest.extensions) == (832, 480, 0)
    # Steps and cfg are the preset's unless the manifest sets them.
    assert (manifest.steps, manifest.cfg) == (None, None)
    assert manifest.effective_fps == 16
    assert manifest.media() == {"image": "face.png"}


def test_infinitetalk_defaults_to_25_fps() -> None:
    manifest = parse_manifest(
        json.dumps({"kind": "infinitetalk", "image": "a.png", "audio": "v.wav"}).encode()
    )
    assert manifest.effective_fps == 25


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0:07", 7.0), ("1:02:03.5", 3723.5), ("7.25", 7.25), (12, 12.0), ("0:00", 0.0)],
)
def test_timestamps_accept_clock_and_seconds(value: str | int, seconds: float) -> None:
    assert parse_timestamp(value) == seconds


@pytest.mark.parametrize("value", ["-1", "1:75", "soon", True])
def test_bad_timestamps_are_refused(value: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked by users, not code
        parse_timestamp(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"width": 833}, "width: Input should be a multiple of 16"),
        ({"image": "../etc/passwd"}, "relative to the manifest's folder"),
        ({"image": "/abs.png"}, "relative to the manifest's folder"),
        ({"audio": "a.wav"}, "kind 'i2v' takes no audio"),
        ({"kind": "s2v"}, "kind 's2v' needs an 'audio' file"),
        ({"promt": "a cat"}, "promt: unknown field; did you mean 'prompt'?"),
        ({"colour": "red"}, "colour: unknown field; 'pipeline schema' lists the fields"),
        ({"kind": "video"}, "kind: Input should be 'i2v', 's2v' or 'infinitetalk'"),
        ({"steps": 1}, "steps: Input should be greater than or equal to 2"),
        ({"qc": "strict"}, "qc: Input should be 'off', 'report', 'rerender' or 'fail'"),
    ],
)
def test_invalid_manifests_name_the_field_and_the_problem(
    fields: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(manifest_bytes(**fields))
    assert fragment in caught.value.message
    assert not caught.value.retryable


def test_audio_crop_must_end_after_it_starts() -> None:
    raw = json.dumps(
        {
            "kind": "s2v",
            "image": "a.png",
            "audio": "b.wav",
            "audio_start": "0:05",
            "audio_end": "0:02",
        }
    ).encode()
    with pytest.raises(ManifestError, match="audio_end must come after audio_start"):
        parse_manifest(raw)


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_non_object_manifests_are_refused(raw: bytes) -> None:
    with pytest.raises(ManifestError, match=r"manifest\.json"):
        parse_manifest(raw)


def test_oversized_manifest_is_refused_before_parsing() -> None:
    with pytest.raises(ManifestError, match="limit"):
        parse_manifest(manifest_bytes(prompt="x" * 70_000))


def test_published_schema_matches_the_model() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema()


def test_schema_accepts_clock_timestamps_like_the_model() -> None:
    options = json_schema()["properties"]["audio_start"]["anyOf"]
    pattern = next(o["pattern"] for o in options if o.get("type") == "string")
    assert re.match(pattern, "0:07")
    assert re.match(pattern, "12.5")
    assert not re.match(pattern, "soon")


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("./face.png", "face.png"),
        ("clips//face.png", "clips/face.png"),
        ("clips\\face.png", "clips/face.png"),
        (".\\clips\\face.png", "clips/face.png"),
    ],
)
def test_equivalent_path_spellings_mean_the_same_file(spelling: str, name: str) -> None:
    assert parse_manifest(manifest_bytes(image=spelling)).image == name


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "the manifest is empty"),
        (b"  \n", "the manifest is empty"),
        (b"[" * 5000 + b"]" * 5000, "nests 5000 levels deep"),
        (b'{"kind": "i2v", "image": "a.png", "cfg": Infinity}', "finite numbers only"),
        (b'{"kind": "i2v", "image": "a.png", "cfg": NaN}', "finite numbers only"),
        (
            b'{"kind": "s2v", "image": "a.png", "audio": "v.wav", "audio_start": "inf"}',
            "'inf' is not a finite number of seconds",
        ),
        (b'{"kind": "i2v", "image": "C:\\\\x\\\\a.png"}', "relative to the manifest's folder"),
        (b'{"kind": "i2v", "image": "a\\u0000.png"}', "control characters"),
    ],
)
def test_input_derived_failures_are_clear_refusals(raw: bytes, fragment: str) -> None:
    with pytest.raises(ManifestError) as refused:
        parse_manifest(raw)
    assert fragment in refused.value.message


@pytest.mark.parametrize("length", [256, 300, 512])
def test_names_longer_than_a_file_system_allows_are_refused(length: int) -> None:
    with pytest.raises(ManifestError, match="the limit is 255"):
        parse_manifest(manifest_bytes(image="a" * (length - 4) + ".png"))
