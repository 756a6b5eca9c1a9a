import unicodedata

import pytest

from pipeline.domain.media_names import (
    LISTED_NAMES,
    closest_name,
    describe_folder,
    did_you_mean,
    folder_names,
    is_folder_marker,
    resolve_name,
    waiting_for_media,
)

CAFE_NFC = unicodedata.normalize("NFC", "café.png")
CAFE_NFD = unicodedata.normalize("NFD", "café.png")


def test_an_exact_name_wins() -> None:
    assert resolve_name("Face.png", ["face.png", "Face.png"]) == "Face.png"


@pytest.mark.parametrize(("wanted", "present"), [(CAFE_NFC, CAFE_NFD), (CAFE_NFD, CAFE_NFC)])
def test_unicode_normalization_forms_name_the_same_file(wanted: str, present: str) -> None:
    assert wanted != present
    assert resolve_name(wanted, ["other.wav", present]) == present


def test_case_resolves_only_when_unambiguous() -> None:
    assert resolve_name("FACE.PNG", ["face.png", "speech.wav"]) == "face.png"
    assert resolve_name("FACE.PNG", ["face.png", "Face.png"]) is None


def test_nothing_similar_resolves_to_nothing() -> None:
    assert resolve_name("face.png", ["face.jpg"]) is None


def test_folder_markers_and_the_manifest_are_not_media() -> None:
    listed = [
        ("inbox/d/", 0),
        ("inbox/d/clips/", 0),
        ("inbox/d/clips/face.png", 10),
        ("inbox/d/manifest.json", 50),
        ("inbox/d/speech.wav", 0),
    ]
    assert folder_names("inbox/d/", listed) == ["clips/face.png", "speech.wav"]
    assert is_folder_marker("inbox/d/clips/", 0)
    assert not is_folder_marker("inbox/d/empty.wav", 0)


def test_the_folder_description_lists_names_and_counts_the_rest() -> None:
    assert describe_folder([]) == "is empty"
    assert describe_folder(["a.png", "b.wav"]) == "holds 'a.png', 'b.wav'"
    many = [f"{i:03d}.png" for i in range(LISTED_NAMES + 5)]
    assert describe_folder(many).endswith("and 5 more")


@pytest.mark.parametrize(
    ("wanted", "present", "guess"),
    [
        ("fase.png", ["face.png", "speech.wav"], "face.png"),
        ("Speach.WAV", ["face.png", "speech.wav"], "speech.wav"),
        ("face.jpg", ["face.png"], "face.png"),
        ("voice.wav", ["face.png"], None),
        ("face.png", [], None),
    ],
)
def test_a_missing_name_is_offered_the_present_name_it_resembles(
    wanted: str, present: list[str], guess: str | None
) -> None:
    assert closest_name(wanted, present) == guess


def test_a_session_waiting_for_media_says_what_the_folder_holds_and_guesses_typos() -> None:
    assert waiting_for_media(["fase.png"], ["face.png"]) == (
        "waiting for 'fase.png'; the drop folder holds 'face.png' (did you mean 'face.png'?)"
    )
    assert waiting_for_media(["voice.wav"], ["face.png"]) == (
        "waiting for 'voice.wav'; the drop folder holds 'face.png'"
    )
    assert waiting_for_media(["face.png"], []) == "waiting for 'face.png'; the drop folder is empty"
    assert did_you_mean(["fase.png", "speach.wav"], ["face.png", "speech.wav"]) == (
        " (did you mean 'face.png' for 'fase.png', 'speech.wav' for 'speach.wav'?)"
    )
