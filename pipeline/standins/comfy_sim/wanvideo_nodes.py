"""WanVideoWrapper's InfiniteTalk nodes: audio embeddings, windowed sampling, decode.

The sampler follows ``multitalk/multitalk_loop.py``: the audio embeddings hold ``num_frames``
frames; the first window renders ``frame_window_size`` frames and each further window adds
``frame_window_size - motion_frame`` until a window reaches the end of the audio. Progress
is reported as the real loop's callback does, against its estimate of the windows.
"""

from __future__ import annotations

from typing import Any

from pipeline.standins.comfy_sim import render
from pipeline.standins.comfy_sim.node_api import Evaluator, NodeContext, NodeFailure, NodeResult
from pipeline.standins.comfy_sim.values import (
    Audio,
    ImageBatch,
    MultiTalkEmbeds,
    MultiTalkImageEmbeds,
    VideoSamples,
)
from workflows_comfy.infinitetalk import infinitetalk_frames


async def multitalk_wav2vec_embeds(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    audio: Audio = inputs["audio_1"]
    num_frames, fps = int(inputs["num_frames"]), float(inputs["fps"])
    return NodeResult(
        (MultiTalkEmbeds(num_frames, fps), audio.trimmed(num_frames / fps), num_frames)
    )


async def image_to_video_multitalk(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    start: ImageBatch | None = inputs.get("start_image")
    embeds = MultiTalkImageEmbeds(
        int(inputs["width"]) // 8 * 8,
        int(inputs["height"]) // 8 * 8,
        int(inputs["frame_window_size"]),
        int(inputs["motion_frame"]),
        start.frame(0) if start is not None else None,
    )
    return NodeResult((embeds, str(inputs.get("output_path", ""))))


async def wan_video_sampler(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    image_embeds, audio_embeds = inputs["image_embeds"], inputs.get("multitalk_embeds")
    if not isinstance(image_embeds, MultiTalkImageEmbeds) or not isinstance(
        audio_embeds, MultiTalkEmbeds
    ):
        raise NodeFailure(
            "comfy-sim runs WanVideoSampler only for InfiniteTalk "
            "(image_embeds from WanVideoImageToVideoMultiTalk and multitalk_embeds)",
            exception_type="comfy_sim.NodeNotSimulated",
        )
    total, window = audio_embeds.num_frames, image_embeds.window
    stride = window - image_embeds.motion_frame
    frames = infinitetalk_frames(total, window, image_embeds.motion_frame)
    windows = 1 + (frames - window) // stride
    estimated = 1 if window >= total else total // stride + 1
    steps = int(inputs["steps"])
    await ctx.steps(windows * steps, of=estimated * steps)
    samples = VideoSamples(image_embeds.width, image_embeds.height, frames, image_embeds.start)
    return NodeResult((samples,))


async def wan_video_decode(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    samples = inputs["samples"]
    if not isinstance(samples, VideoSamples):
        raise NodeFailure(
            "comfy-sim decodes only what its InfiniteTalk sampler rendered",
            exception_type="comfy_sim.UnsupportedLatent",
        )
    return NodeResult(
        (render.video_frames(samples.width, samples.height, samples.length, samples.start),)
    )


WANVIDEO_NODES: dict[str, Evaluator] = {
    "MultiTalkWav2VecEmbeds": multitalk_wav2vec_embeds,
    "WanVideoImageToVideoMultiTalk": image_to_video_multitalk,
    "WanVideoSampler": wan_video_sampler,
    "WanVideoDecode": wan_video_decode,
}
