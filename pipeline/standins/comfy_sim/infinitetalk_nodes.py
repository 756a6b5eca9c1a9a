"""Core InfiniteTalk and custom-sampling nodes: windows that continue each other's frames.

``WanInfiniteTalkToVideo`` follows ComfyUI's ``execute`` (``comfy_extras/nodes_wan.py``,
Comfy-Org/ComfyUI ee54641d): it refuses fewer ``previous_frames`` than
``motion_frame_count``, reads audio features from frame ``previous_frames - motion`` to
that plus ``length`` (audio that ends before is no error: ComfyUI 0.33.0 repeats the last
feature), and the decoded window starts
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

_TRIM_FRAMES = (
    '  File "/opt/ComfyUI/comfy_api/internal/__init__.py", line 149, in wrapped_func\n'
    "    return method(locked_class, **inputs)\n           " + "^" * 30 + "\n",
    '  File "/opt/ComfyUI/comfy_api/latest/_io.py", line 1990, in EXECUTE_NORMALIZED\n'
    "    to_return = cls.execute(*args, **kwargs)\n                " + "^" * 28 + "\n",
    '  File "/opt/ComfyUI/comfy_extras/nodes_audio.py", line 477, in execute\n    raise '
    'ValueError("TrimAudioDuration: Start time must be less than end time and be within the '
    'audio length.")\n',
)
"""The V3 node's own traceback entries, as ComfyUI 0.33.0 reported them."""


async def trim_audio_duration(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    audio: Audio = inputs["audio"]
    start, duration = float(inputs["start_index"]), float(inputs["duration"])
    if start < 0:
        start += audio.duration_s
    start = min(max(0.0, start), audio.duration_s)
    if start >= min(start + duration, audio.duration_s):
        # ComfyUI 0.33.0's own message and frames (comfy_extras/nodes_audio.py).
        raise NodeFailure(
            "TrimAudioDuration: Start time must be less than end time and be within the audio "
            "length.",
            exception_type="ValueError",
            frames=_TRIM_FRAMES,
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
    return NodeResult((video.frames, video.audio, video.fps, video.bit_depth, video.color_space))


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
