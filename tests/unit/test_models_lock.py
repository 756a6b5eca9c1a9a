import json
from pathlib import Path

import pytest

from pipeline.domain.errors import LockError
from pipeline.weights.lock import dump_lock, json_schema, load_lock, parse_lock
from pipeline.weights.presets import refreshed, required_files
from workflows_comfy.presets import PRESETS

SCHEMA_FILE = Path(__file__).parents[2] / "pipeline" / "schemas" / "models-lock.v1.json"
SHA = "0" * 64


def document(*files: dict[str, object]) -> dict[str, object]:
    pin = {
        "name": "ComfyUI",
        "repo": "https://github.com/comfyanonymous/ComfyUI",
        "commit": "f" * 40,
    }
    return {"version": 1, "comfyui": pin, "node_packs": [], "files": list(files)}


def file(name: str, presets: list[str], **fields: object) -> dict[str, object]:
    return {
        "folder": "loras",
        "name": name,
        "size": 1,
        "sha256": SHA,
        "urls": [f"https://example.org/{name}"],
        "presets": presets,
        **fields,
    }


def test_published_schema_is_the_model_schema() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema()


def test_round_trip_is_stable() -> None:
    lock = parse_lock(json.dumps(document(file("a.safetensors", ["p"]))))
    assert parse_lock(dump_lock(lock)) == lock
    assert dump_lock(parse_lock(dump_lock(lock))) == dump_lock(lock)


def test_selection_by_preset_keeps_separation_files_unless_told() -> None:
    lock = parse_lock(
        json.dumps(
            document(
                file("a.safetensors", ["p1"]),
                file("b.safetensors", ["p1", "p2"]),
                file("htdemucs.yaml", [], folder="demucs", use="separation"),
            )
        )
    )
    assert [f.name for f in lock.select(["p2"])] == ["b.safetensors", "htdemucs.yaml"]
    assert [f.name for f in lock.select(["p1"], separation=False)] == [
        "a.safetensors",
        "b.safetensors",
    ]
    assert len(lock.select()) == 3
    with pytest.raises(LockError, match="no files for preset\\(s\\) p9; known: p1, p2"):
        lock.select(["p9"])


def test_unpinned_means_size_and_hash_both_null_and_explicit() -> None:
    lock = parse_lock(json.dumps(document(file("a.safetensors", ["p"], size=None, sha256=None))))
    assert not lock.files[0].pinned
    with pytest.raises(LockError, match=r"files\.0\.sha256: Field required"):
        parse_lock(json.dumps(document({k: v for k, v in file("a", []).items() if k != "sha256"})))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha256": "ABC"}, r"files\.0\.sha256: String should match pattern"),
        ({"urls": ["ftp://x/y"]}, "sources are http"),
        ({"urls": []}, r"files\.0\.urls: List should have at least 1 item"),
        ({"folder": "../etc"}, r"files\.0\.folder: String should match pattern"),
        ({"name": "a/b"}, r"files\.0\.name: String should match pattern"),
    ],
)
def test_bad_entries_are_refused_with_their_place(change: dict[str, object], message: str) -> None:
    with pytest.raises(LockError, match=message):
        parse_lock(json.dumps(document(file("a.safetensors", ["p"]) | change)), "x.lock")


def test_duplicates_and_broken_json_are_refused() -> None:
    twice = document(file("a.safetensors", ["p"]), file("a.safetensors", ["q"]))
    with pytest.raises(LockError, match=r"loras/a\.safetensors is listed twice"):
        parse_lock(json.dumps(twice))
    with pytest.raises(LockError, match=r"^x\.lock:1:2: not JSON"):
        parse_lock("{]", "x.lock")


def test_refresh_follows_the_presets_and_keeps_pins_mirrors_and_separation() -> None:
    required = required_files()
    assert {name for entry in required for name in entry.presets} == set(PRESETS)
    first, dropped, *rest = required
    pinned = first.model_copy(
        update={"size": 7, "sha256": SHA, "urls": [*first.urls, "s3://mirror/x"]}
    )
    stale = parse_lock(json.dumps(document(file("old.safetensors", ["gone"])))).files[0]
    demucs = stale.model_copy(update={"folder": "demucs", "use": "separation", "presets": []})
    lock = parse_lock(json.dumps(document())).model_copy(
        update={"files": [pinned, *rest, stale, demucs]}
    )
    fresh = refreshed(lock)
    assert [f.path for f in fresh.files] == [f.path for f in required] + [demucs.path]
    assert fresh.files[0] == pinned
    assert fresh.files[1] == dropped  # back, unpinned
    assert refreshed(fresh) == fresh


def test_refresh_keeps_a_mirror_the_operator_put_first_and_adds_a_missing_table_url() -> None:
    first, second, *_ = required_files()
    preferred = first.model_copy(update={"urls": ["s3://mirror/a", *first.urls]})
    bare = second.model_copy(update={"urls": ["https://mirror.example/b"]})
    lock = parse_lock(json.dumps(document())).model_copy(update={"files": [preferred, bare]})
    fresh = refreshed(lock)
    assert fresh.files[0].urls == ["s3://mirror/a", *first.urls]
    assert fresh.files[1].urls == ["https://mirror.example/b", *second.urls]


def test_a_missing_lockfile_is_named_in_full_with_the_variable_that_moves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LockError) as refused:
        load_lock(Path("deploy/models.lock"))
    assert refused.value.message == (
        f"cannot read the models lockfile {tmp_path}/deploy/models.lock: No such file or "
        "directory; set MODELS_LOCK to its path (default: deploy/models.lock of the working "
        "directory)"
    )
