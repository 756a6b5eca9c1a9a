"""Core InfiniteTalk and custom-sampling nodes: windows that continue each other's frames.

``WanInfiniteTalkToVideo`` follows ComfyUI's ``execute`` (``comfy_extras/nodes_wan.py``,
Comfy-Org/ComfyUI ee54641d): it refuses fewer ``previous_frames`` than
``motion_frame_count``, reads audio features from frame ``previous_frames - motion`` to
that plus ``length`` (the sim refuses audio that ends before), and the decoded window starts
by re-rendering the last ``motion_frame_count`` previous frames, so its frame codes continue
from there. ``LoadVideo``/``GetVideoComponents`` decode a real file, so a window chained on
the previous window's MP4 reads that file's frame codes. The custom-sampling chain only
spends ``BasicScheduler``'s steps.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline.media.probe import probe
from pipeline.standins.comfy_sim import render
from pipeline.standins.comfy_sim.node_api import Evaluator, NodeContext, NodeFailure, NodeResult
from pipeline.standins.comfy_sim.values import (
    Audio,
    EncodedAudio,
    ImageBatch,
    Latent,
    Opaque,
    Sigmas,
    Video,
)

AUDIO_FEATURE_FPS = 25.0
"""``WanInfiniteTalkToVideo`` resamples wav2vec2's 50 Hz features to 25 per second."""


async def trim_audio_duration(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    audio: Audio = inputs["audio"]
    start, duration = float(inputs["start_index"]), float(inputs["duration"])
    if start < 0:
        start += audio.duration_s
    if start >= audio.duration_s or duration <= 0:
        # ComfyUI's own message (comfy_extras/nodes_audio.py, TrimAudioDuration.trim).
        raise NodeFailure(
            "AudioTrim: Start time must be less than end time and be within the audio length.",
            exception_type="ValueError",
        )
    return NodeResult((audio.window(start, duration),))


async def audio_encoder_encode(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    return NodeResult((EncodedAudio(inputs["audio"]),))


async def load_video(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    path = ctx.dirs.input_path(str(inputs["file"]))
    frames = await asyncio.to_thread(render.decode_frames, path)
    info = await asyncio.to_thread(probe, path)
    return NodeResult((Video(frames, float(info.fps or 0), None),))


async def get_video_components(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    video: Video = inputs["video"]
    return NodeResult((video.frames, video.audio, video.fps))


async def wan_infinite_talk_to_video(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    length, motion = int(inputs["length"]), int(inputs["motion_frame_count"])
    previous: ImageBatch | None = inputs.get("previous_frames")
    start: ImageBatch | None = inputs.get("start_image")
    if inputs["mode"] != "single_speaker":
        raise NodeFailure(
            f"comfy-sim runs InfiniteTalk's single_speaker mode, not {inputs['mode']!r}",
            exception_type="comfy_sim.NodeNotSimulated",
        )
    if previous is not None and previous.count < motion:
        raise NodeFailure("Not enough previous frames provided.", exception_type="ValueError")
    audio_start = previous.count - motion if previous is not None else 0
    features: EncodedAudio = inputs["audio_encoder_output_1"]
    needed = (audio_start + length) / AUDIO_FEATURE_FPS
    if features.audio.duration_s + 0.5 / AUDIO_FEATURE_FPS < needed:
        raise NodeFailure(
            f"comfy-sim: the window reads audio features up to {needed:g} s but the encoded "
            f"audio lasts {features.audio.duration_s:g} s",
            exception_type="comfy_sim.AudioTooShort",
        )
    # The window's first frame re-renders the first motion frame: it continues its code.
    first = previous.frame(previous.count - motion) if previous is not None else None
    if first is None and start is not None:
        first = start.frame(0)
    latent = Latent(
        int(inputs["width"]) // 8 * 8, int(inputs["height"]) // 8 * 8, (length - 1) // 4 + 1, first
    )
    conditioning = Opaque("CONDITIONING", ctx.class_type)
    trim_image = motion if previous is not None else 0
    return NodeResult(
        (Opaque("MODEL", ctx.class_type), conditioning, conditioning, latent, trim_image)
    )


async def basic_scheduler(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    steps, denoise = int(inputs["steps"]), float(inputs["denoise"])
    # ComfyUI: with denoise < 1 it schedules steps / denoise and keeps the last ``steps``.
    return NodeResult((Sigmas(steps if denoise > 0 else 0),))


async def sampler_custom_advanced(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    sigmas: Sigmas = inputs["sigmas"]
    await ctx.steps(sigmas.steps)
    latent = inputs["latent_image"]
    return NodeResult((latent, latent))


INFINITETALK_NODES: dict[str, Evaluator] = {
    "TrimAudioDuration": trim_audio_duration,
    "AudioEncoderEncode": audio_encoder_encode,
    "LoadVideo": load_video,
    "GetVideoComponents": get_video_components,
    "WanInfiniteTalkToVideo": wan_infinite_talk_to_video,
    "BasicScheduler": basic_scheduler,
    "SamplerCustomAdvanced": sampler_custom_advanced,
}
