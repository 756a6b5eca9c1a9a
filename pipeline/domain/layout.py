"""Where everything lives in the bucket. Pure key builders, no I/O.

::

    inbox/{drop}/...media...            uploaded first
    inbox/{drop}/manifest.json          uploaded last: its PUT is the trigger
    sessions/{id}/inputs/manifest.json  the drop, moved out of the inbox
    sessions/{id}/inputs/{media}
    sessions/{id}/prepared/image.jpg    the normalized start image
    sessions/{id}/prepared/audio.wav    the cropped mix (audio kinds)
    sessions/{id}/prepared/vocals.wav   separated vocals (unless skipped)
    sessions/{id}/prepared/drive.wav    what the model hears, padded to the plan
    sessions/{id}/plan.json             every frame count later stages use
    sessions/{id}/generations/{run}/segment_000.mp4 ...
    sessions/{id}/generations/{run}/frames/segment_000_last.png     an extension's start
    sessions/{id}/generations/{run}/frames/segment_000_motion.png   the next window's frames
    sessions/{id}/generations/{run}/quality/segment_000.json        the quality gate's report
    sessions/{id}/generations/{run}/quality/segment_000.attempt_1.json   ... of re-render 1
    sessions/{id}/generations/{run}/quality/segment_000_tail.mkv    its last frames, small
    sessions/{id}/generations/{run}/combined.mp4
    sessions/{id}/generations/{run}/preview/segment_000.mp4 ...  small, as each segment exists
    sessions/{id}/generations/{run}/preview/poster.jpg             a frame of the combined video
    sessions/{id}/generations/{run}/preview/contact_sheet.png      first, last and every seam
    sessions/{id}/result.json           on success
    sessions/{id}/error.json            on failure
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from pipeline.domain.errors import ManifestError

INBOX_PREFIX = "inbox/"
SESSIONS_PREFIX = "sessions/"
MANIFEST_NAME = "manifest.json"
OUTPUT_NAMES = ("combined", "poster", "contact_sheet", "previews")
"""The outputs ``PUBLIC_OUTPUTS`` may name (``output_name``): a run's combined video, its
poster, its contact sheet and its segment previews. Nothing else a session holds (inputs,
prepared media, segments, frames, quality reports, plan and records) can be public."""


def is_manifest_key(key: str) -> bool:
    """True for ``inbox/{drop}/manifest.json`` (any depth of drop folder)."""
    return (
        key.startswith(INBOX_PREFIX)
        and key.endswith("/" + MANIFEST_NAME)
        and len(key) > len(INBOX_PREFIX) + len(MANIFEST_NAME) + 1
    )


def misplaced_manifest(key: str) -> str | None:
    """Why an object that looks like a manifest starts nothing, or ``None``.

    ``inbox/manifest.json`` has no drop folder; ``MANIFEST.JSON`` or ``Manifest.json`` is
    not the trigger name (event rules match the exact suffix, so it must be reported).
    """
    if not key.startswith(INBOX_PREFIX) or is_manifest_key(key):
        return None
    name = PurePosixPath(key).name
    if name.casefold() != MANIFEST_NAME:
        return None
    if key.count("/") < 2:
        return (
            f"{key} is not inside a drop folder; upload it as "
            f"{INBOX_PREFIX}{{drop}}/{MANIFEST_NAME} beside its media"
        )
    return f"{key} is not named {MANIFEST_NAME!r} (lower case); upload it again under that name"


def drop_folder(manifest_key: str) -> str:
    """``inbox/{drop}/`` for a manifest key."""
    if not is_manifest_key(manifest_key):
        raise ManifestError(f"{manifest_key!r} is not an inbox/{{drop}}/{MANIFEST_NAME} key")
    return manifest_key[: -len(MANIFEST_NAME)]


def drop_name(manifest_key: str) -> str:
    """The ``{drop}`` part of ``inbox/{drop}/manifest.json``."""
    return drop_folder(manifest_key)[len(INBOX_PREFIX) : -1]


@dataclass(frozen=True)
class SessionLayout:
    """Keys of one session's artifacts."""

    session_id: str

    def __post_init__(self) -> None:
        if not self.session_id or "/" in self.session_id or self.session_id in (".", ".."):
            raise ValueError(f"invalid session id {self.session_id!r}")

    @property
    def root(self) -> str:
        return f"{SESSIONS_PREFIX}{self.session_id}/"

    def input(self, relative: str) -> str:
        return f"{self.root}inputs/{relative}"

    @property
    def manifest(self) -> str:
        return self.input(MANIFEST_NAME)

    @property
    def prepared_image(self) -> str:
        return f"{self.root}prepared/image.jpg"

    @property
    def prepared_audio(self) -> str:
        """The cropped original mix: what the final video plays."""
        return f"{self.root}prepared/audio.wav"

    @property
    def vocals(self) -> str:
        return f"{self.root}prepared/vocals.wav"

    @property
    def drive_audio(self) -> str:
        """What the model hears: vocals (or the mix), padded with silence to the plan."""
        return f"{self.root}prepared/drive.wav"

    @property
    def plan(self) -> str:
        return f"{self.root}plan.json"

    def generation(self, run: str) -> str:
        return f"{self.root}generations/{run}/"

    def segment(self, run: str, index: int) -> str:
        return f"{self.generation(run)}segment_{index:03d}.mp4"

    def segment_last_frame(self, run: str, index: int) -> str:
        """Segment ``index``'s last frame as a PNG: the start image of the extension after it."""
        return f"{self.generation(run)}frames/segment_{index:03d}_last.png"

    def segment_motion_frames(self, run: str, index: int) -> str:
        """Window ``index``'s last motion frames as decoded, one multi-frame PNG: what the
        next InfiniteTalk window continues (``WanInfiniteTalkToVideo.previous_frames``), or
        the next S2V segment (``WanSoundImageToVideo.ref_motion``)."""
        return f"{self.generation(run)}frames/segment_{index:03d}_motion.png"

    def quality(self, run: str, index: int, attempt: int = 0) -> str:
        """Segment ``index``'s quality report (``pipeline.domain.quality.QualityReport``);
        a re-render's under its own key, so every attempt's figures are kept."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, not {attempt}")
        again = f".attempt_{attempt}" if attempt else ""
        return f"{self.generation(run)}quality/segment_{index:03d}{again}.json"

    def quality_tail(self, run: str, index: int) -> str:
        """Segment ``index``'s last frames at the gate's analysis size, a small lossless clip
        (``pipeline.media.quality.Measured.tail``) written by its latest check: what the next
        segment's seam reads instead of this whole segment."""
        return f"{self.generation(run)}quality/segment_{index:03d}_tail.mkv"

    def combined(self, run: str) -> str:
        return f"{self.generation(run)}combined.mp4"

    def preview(self, run: str) -> str:
        """The run's previews: small files a person or a UI opens instead of the video."""
        return f"{self.generation(run)}preview/"

    def preview_segment(self, run: str, index: int) -> str:
        """Segment ``index`` as a small MP4 (``pipeline.media.preview.segment_preview``)."""
        return f"{self.preview(run)}segment_{index:03d}.mp4"

    def preview_poster(self, run: str) -> str:
        """One frame of the combined video as a JPEG (``pipeline.media.preview.poster``)."""
        return f"{self.preview(run)}poster.jpg"

    def preview_contact_sheet(self, run: str) -> str:
        """First and last frame and both sides of every seam, with their QC figures."""
        return f"{self.preview(run)}contact_sheet.png"

    @property
    def result(self) -> str:
        return f"{self.root}result.json"

    @property
    def error(self) -> str:
        return f"{self.root}error.json"


def output_name(key: str) -> str | None:
    """Which of ``OUTPUT_NAMES`` ``key`` is, e.g. ``combined`` for
    ``sessions/{id}/generations/{run}/combined.mp4`` (``SessionLayout.combined``) and
    ``previews`` for any ``preview/segment_NNN.mp4``; ``None`` for every other key."""
    parts = PurePosixPath(key).parts
    if len(parts) < 5 or f"{parts[0]}/" != SESSIONS_PREFIX or parts[2] != "generations":
        return None
    try:
        layout = SessionLayout(parts[1])
    except ValueError:
        return None
    run = parts[3]
    named = {
        layout.combined(run): "combined",
        layout.preview_poster(run): "poster",
        layout.preview_contact_sheet(run): "contact_sheet",
    }
    if key in named:
        return named[key]
    segment = parts[-1].removeprefix("segment_").removesuffix(".mp4")
    if len(parts) == 6 and segment.isdigit() and key == layout.preview_segment(run, int(segment)):
        return "previews"
    return None


def is_intermediate(key: str) -> bool:
    """Whether ``key`` is a session's intermediate file: what a run needs while it renders
    and nothing after it (``RETENTION_INTERMEDIATE_DAYS``, ``pipeline gc``). Those are the
    prepared media (``prepared/``: image, mix, vocals, drive audio), the segment MP4s, the
    hand-over frames (``frames/``) and the quality gate's tails (``quality/*_tail.mkv``).

    Kept, whatever their age: the inputs, ``plan.json``, the records (``result.json``,
    ``error.json``, quality reports), each run's ``combined.mp4`` and its previews.
    """
    parts = PurePosixPath(key).parts
    if len(parts) < 3 or f"{parts[0]}/" != SESSIONS_PREFIX:
        return False
    if parts[2] == "prepared":
        return len(parts) == 4
    if parts[2] != "generations" or len(parts) < 5:
        return False
    name = parts[-1]
    if len(parts) == 5:
        return name.startswith("segment_") and name.endswith(".mp4")
    if len(parts) == 6 and parts[4] == "frames":
        return True
    return len(parts) == 6 and parts[4] == "quality" and name.endswith("_tail.mkv")


def file_name(key: str) -> str:
    return PurePosixPath(key).name
