"""CPU media activities: fetch from the bucket to scratch disk, run ffmpeg/Pillow, upload."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.edge import edge
from activities.scratch import input_path, scratch_dir
from pipeline.domain.contracts import (
    AudioTrackUsed,
    ExtractedFrames,
    ExtractFramesInput,
    PadAudioInput,
    PaddedAudio,
    PrepareAudioInput,
    PreparedAudio,
    PreparedImage,
    PrepareImageInput,
    StitchInput,
    StitchOutput,
)
from pipeline.domain.errors import InternalError, MediaError, SilentAudio, refusing
from pipeline.domain.layout import SessionLayout, file_name
from pipeline.domain.manifest import Manifest
from pipeline.logging import get_logger
from pipeline.media import StitchSegment, extract_last_frames, normalize_image, probe, stitch
from pipeline.media.audio import SILENCE_PEAK_DB, AudioFile, pad_audio, prepare_audio
from pipeline.media.probe import AudioTrack
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import (
    EXTRACT_LAST_FRAMES,
    PAD_AUDIO,
    PREPARE_AUDIO,
    PREPARE_IMAGE,
    STITCH,
)

log = get_logger()


class MediaActivities:
    def __init__(self, store: ObjectStore, work_dir: Path) -> None:
        self.store = store
        self.work_dir = work_dir

    async def _fetch(self, scratch: Path, key: str) -> Path:
        """Download ``key`` into ``scratch`` under its own file name; the local path."""
        path = input_path(scratch, key)
        await self.store.download(key, path)
        return path

    @asynccontextmanager
    async def _local(self, key: str) -> AsyncIterator[tuple[Path, Path]]:
        """A scratch folder holding ``key``, removed on exit: yields ``(scratch, path)``."""
        with scratch_dir(self.work_dir, "activity-") as scratch:
            yield scratch, await self._fetch(scratch, key)

    @activity.defn(name=PREPARE_IMAGE.name)
    @edge
    async def prepare_image(self, request: PrepareImageInput) -> PreparedImage:
        layout = SessionLayout(request.session_id)
        async with self._local(request.image_key) as (scratch, source):
            target = scratch / "image.jpg"
            with refusing(MediaError, file_name(request.image_key)):
                try:
                    info = await asyncio.to_thread(
                        normalize_image,
                        source,
                        target,
                        request.width,
                        request.height,
                        request.fit,
                    )
                except MediaError as error:
                    raise MediaError(
                        f"{file_name(request.image_key)}: {error.message}", detail=error.detail
                    ) from error
            await self.store.upload(target, layout.prepared_image, "image/jpeg")
        log.info(
            "image_prepared",
            source_format=info.source_format,
            source_size=info.source_size,
            size=(request.width, request.height),
            fit=info.fit,
            crop=info.crop,
        )
        return PreparedImage(
            key=layout.prepared_image,
            source_format=info.source_format,
            source_width=info.source_size[0],
            source_height=info.source_size[1],
            fit=info.fit,
            crop=info.crop,
        )

    @activity.defn(name=PREPARE_AUDIO.name)
    @edge
    async def prepare_audio(self, request: PrepareAudioInput) -> PreparedAudio:
        """Decode and crop the user's audio (its default track) to a full-quality WAV of the
        real length. ``SilentAudio`` when it has nothing to hear and the manifest's kind
        needs speech (``Manifest.refuses_silent_audio``)."""
        manifest, layout = request.manifest, SessionLayout(request.session_id)
        name = file_name(request.audio_key)
        async with self._local(request.audio_key) as (scratch, source):
            with refusing(MediaError, name):
                mix = await asyncio.to_thread(
                    prepare_audio,
                    source,
                    scratch / "audio.wav",
                    fps=manifest.effective_fps,
                    start_s=manifest.audio_start or 0.0,
                    end_s=manifest.audio_end,
                )
            if mix.silent and manifest.refuses_silent_audio:
                raise SilentAudio(silence_message(name, manifest, mix), detail=_track_detail(mix))
            await self.store.upload(mix.path, layout.prepared_audio, "audio/wav")
        track = _track_used(mix.track)
        log.info(
            "audio_prepared",
            duration_s=mix.duration_s,
            sample_rate=mix.sample_rate,
            track=track.index if track else None,
            tracks=track.tracks if track else None,
            peak_db=_finite(mix.peak_db),
        )
        return PreparedAudio(
            mix_key=layout.prepared_audio,
            duration_s=mix.duration_s,
            track=track,
            peak_db=_finite(mix.peak_db),
            silent=mix.silent,
        )

    @activity.defn(name=PAD_AUDIO.name)
    @edge
    async def pad_audio(self, request: PadAudioInput) -> PaddedAudio:
        """The model's audio: padded with silence so every planned frame hears something."""
        layout = SessionLayout(request.session_id)
        async with self._local(request.audio_key) as (scratch, source):
            padded = await asyncio.to_thread(
                pad_audio, source, scratch / "drive.wav", request.duration_s
            )
            await self.store.upload(padded.path, layout.drive_audio, "audio/wav")
        return PaddedAudio(key=layout.drive_audio)

    @activity.defn(name=EXTRACT_LAST_FRAMES.name)
    @edge
    async def extract_last_frames(self, request: ExtractFramesInput) -> ExtractedFrames:
        """The segment's last frame at ``output_key``: kept as it is when the segment's own
        prompt saved it there losslessly (``ComfyActivities.generate_segment``), else taken
        from its video (segments rendered before that, or by an operator's bound graph)."""
        if await self.store.head(request.output_key) is not None:
            return ExtractedFrames(key=request.output_key)
        async with self._local(request.video_key) as (scratch, video):
            (frame,) = await asyncio.to_thread(extract_last_frames, video, scratch / "frames", 1)
            await self.store.upload(frame, request.output_key, "image/png")
        return ExtractedFrames(key=request.output_key)

    @activity.defn(name=STITCH.name)
    @edge
    async def stitch(self, request: StitchInput) -> StitchOutput:
        plan, layout = request.plan, SessionLayout(request.session_id)
        with scratch_dir(self.work_dir, "activity-") as scratch:
            segments = []
            for segment, key in zip(plan.segments, request.segment_keys, strict=True):
                path = await self._fetch(scratch, key)
                segments.append(StitchSegment(path=path, drop_leading=segment.drop_leading))
                activity.heartbeat({"downloaded": segment.index + 1})
            audio = None
            if request.audio_key is not None:
                audio = await self._fetch(scratch, request.audio_key)
            combined = scratch / "combined.mp4"
            await _with_heartbeat(
                asyncio.to_thread(
                    stitch,
                    segments,
                    combined,
                    fps=plan.fps,
                    total_frames=plan.final_frames,
                    audio=audio,
                ),
                "encoding",
            )
            info = await asyncio.to_thread(probe, combined)
            key = layout.combined(request.run)
            await self.store.upload(combined, key, "video/mp4")
        if info.frame_count is None:
            raise InternalError(f"{key} has no video stream after stitching")
        log.info("stitched", frames=info.frame_count, duration_s=info.duration_s)
        return StitchOutput(key=key, frames=info.frame_count, duration_s=info.duration_s)


def _finite(peak_db: float | None) -> float | None:
    """A peak as JSON can hold it: digital silence (``-inf`` dBFS) is ``None``."""
    return peak_db if peak_db is not None and math.isfinite(peak_db) else None


def _track_used(track: AudioTrack | None) -> AudioTrackUsed | None:
    return None if track is None else AudioTrackUsed(**dataclasses.asdict(track))


def _track_detail(mix: AudioFile) -> dict[str, object]:
    track = _track_used(mix.track)
    return {
        "peak_db": _finite(mix.peak_db),
        "track": track.model_dump(mode="json") if track else None,
    }


def silence_message(name: str, manifest: Manifest, mix: AudioFile) -> str:
    """Why a speech kind's silent audio is refused, which track was heard, and the way out."""
    peak = "digital silence" if _finite(mix.peak_db) is None else f"peaks at {mix.peak_db:.1f} dBFS"
    track = mix.track
    which = ""
    if track is not None and track.tracks > 1:
        chosen = {"default": "the default one", "first": "the first; none is marked default"}
        which = (
            f" (audio track {track.index + 1} of {track.tracks}, "
            f"{chosen.get(track.reason, track.reason)})"
        )
    return (
        f"{name}{which} is silent: it {peak}, below {SILENCE_PEAK_DB:g} dBFS; kind "
        f"{manifest.kind.value!r} moves the face with speech, so the video would not move. "
        "Upload audio with speech (or mark its speech track as the default), or set "
        '"allow_silent_audio": true in the manifest to render it anyway'
    )


async def _with_heartbeat(work: Any, stage: str, every_s: float = 10.0) -> Any:
    """Await ``work`` while heartbeating, so a long encode is not taken for a dead worker."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=every_s)
        if done:
            return task.result()
        activity.heartbeat({"stage": stage})
