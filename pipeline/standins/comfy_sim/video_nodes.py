"""Video nodes: Wan latent → sampler steps → decoded frames → a real MP4.

WanImageToVideo records what to render, VAEEncode makes a latent of frames (continuing from
the first of them), LatentConcat joins latents along time, the samplers only spend time
(with progress and interrupt), VAEDecode renders the frames
(``render.video_frames``, spoiled by the prompt's defect if it has one: ``faults``) and the
save nodes encode them with ffmpeg under ComfyUI's and VideoHelperSuite's file names and UI
shapes.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.standins.comfy_sim import render
from pipeline.standins.comfy_sim.node_api import Evaluator, NodeContext, NodeFailure, NodeResult
from pipeline.standins.comfy_sim.values import Audio, ImageBatch, Latent, Opaque, Video

_VHS_FORMATS = ("video/h264-mp4",)


async def wan_image_to_video(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    # Wan's VAE works on 8x8 pixels and 4-frame groups: odd requests come back rounded down.
    width, height = int(inputs["width"]) // 8 * 8, int(inputs["height"]) // 8 * 8
    latent_frames = (int(inputs["length"]) - 1) // 4 + 1
    start: ImageBatch | None = inputs.get("start_image")
    latent = Latent(width, height, latent_frames, start.frame(0) if start is not None else None)
    return NodeResult(
        (Opaque("CONDITIONING", ctx.class_type), Opaque("CONDITIONING", ctx.class_type), latent)
    )


async def ksampler(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await ctx.steps(int(inputs["steps"]))
    return NodeResult((inputs["latent_image"],))


async def ksampler_advanced(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    steps, start = int(inputs["steps"]), int(inputs["start_at_step"])
    await ctx.steps(max(0, min(int(inputs["end_at_step"]), steps) - start))
    return NodeResult((inputs["latent_image"],))


async def vae_decode(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    latent = inputs["samples"]
    if not isinstance(latent, Latent):
        raise NodeFailure(
            "comfy-sim decodes only Wan video latents (WanImageToVideo, WanSoundImageToVideo)",
            exception_type="comfy_sim.UnsupportedLatent",
        )
    frames = render.video_frames(
        latent.width, latent.height, latent.length, latent.start, ctx.defect
    )
    return NodeResult((frames,))


async def vae_encode(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    """The Wan VAE's ``n`` frames → ``(n - 1) // 4 + 1`` latents (``VAEEncode``, ComfyUI
    0.33.0 ``nodes.py``), decoding again from the first frame's code: decoded behind them,
    a later latent's frames continue the numbering after the last of them."""
    pixels: ImageBatch = inputs["pixels"]
    latent = Latent(pixels.width, pixels.height, (pixels.count - 1) // 4 + 1, pixels.frame(0))
    return NodeResult((latent,))


async def latent_concat(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    first, second = inputs["samples1"], inputs["samples2"]
    dim = str(inputs["dim"])
    if dim not in ("t", "-t"):
        raise NodeFailure(
            f"comfy-sim concatenates video latents along time only, not {dim!r}",
            exception_type="comfy_sim.UnsupportedDim",
        )
    if not isinstance(first, Latent) or not isinstance(second, Latent):
        raise NodeFailure(
            "comfy-sim concatenates only Wan video latents", exception_type="comfy_sim.Unsupported"
        )
    if (first.width, first.height) != (second.width, second.height):
        # torch.cat's own complaint when the spatial sizes differ.
        raise NodeFailure(
            "Sizes of tensors must match except in dimension 2",
            exception_type="RuntimeError",
        )
    head = first if dim == "t" else second
    frames = first.latent_frames + second.latent_frames
    return NodeResult((Latent(head.width, head.height, frames, head.start),))


async def create_video(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    bit_depth = int(inputs.get("bit_depth", 8))
    video = Video(inputs["images"], float(inputs["fps"]), inputs.get("audio"), bit_depth)
    return NodeResult((video,))


async def save_video(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    """ComfyUI 0.33.0's ``SaveVideo``: H.264 High MP4 with the graph as ``prompt`` metadata,
    the audio cut to the video but never padded; its ``VIDEO`` output is what it saved."""
    video: Video = inputs["video"]
    target = ctx.dirs.save_path(str(inputs["filename_prefix"]), ctx.dirs.output)
    name = f"{target.filename}_{target.counter:05}_.mp4"
    prompt = json.dumps(ctx.prompt)
    await render.encode_mp4(
        video.frames, video.fps, target.folder / name, video.audio, metadata={"prompt": prompt}
    )
    saved = {"filename": name, "subfolder": target.subfolder, "type": "output"}
    return NodeResult((video,), {"images": [saved], "animated": [True]})


async def vhs_video_combine(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images: ImageBatch = inputs["images"]
    audio: Audio | None = inputs.get("audio")
    video_format, fps = str(inputs["format"]), float(inputs["frame_rate"])
    if video_format not in _VHS_FORMATS:
        raise NodeFailure(
            f"comfy-sim renders VHS formats {_VHS_FORMATS}, not {video_format}",
            exception_type="comfy_sim.UnsupportedFormat",
        )
    save_output = inputs.get("save_output", True) is not False
    target = ctx.dirs.save_path(
        str(inputs["filename_prefix"]), ctx.dirs.output if save_output else ctx.dirs.root / "temp"
    )
    stem = f"{target.filename}_{ctx.dirs.vhs_counter(target.folder, target.filename):05}"
    written = [target.folder / f"{stem}.png", target.folder / f"{stem}.mp4"]
    images.frame(0).save(written[0], compress_level=4)

    async def frame_done(index: int) -> None:
        await ctx.report(index + 1, images.count, None)

    await render.encode_mp4(images, fps, written[1], on_frame=frame_done)
    if audio is not None:
        written.append(target.folder / f"{stem}-audio.mp4")
        await render.mux_audio(written[1], audio, images.count / fps, written[2], pad=True)
    file = written[-1]
    preview = {
        "filename": file.name,
        "subfolder": target.subfolder,
        "type": "output" if save_output else "temp",
        "format": video_format,
        "frame_rate": fps,
        "workflow": f"{stem}.png",
        "fullpath": str(file),
    }
    return NodeResult(((save_output, [str(f) for f in written]),), {"gifs": [preview]})


VIDEO_NODES: dict[str, Evaluator] = {
    "WanImageToVideo": wan_image_to_video,
    "KSampler": ksampler,
    "KSamplerAdvanced": ksampler_advanced,
    "VAEDecode": vae_decode,
    "VAEEncode": vae_encode,
    "LatentConcat": latent_concat,
    "CreateVideo": create_video,
    "SaveVideo": save_video,
    "VHS_VideoCombine": vhs_video_combine,
}
