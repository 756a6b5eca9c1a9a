"""Audio nodes and Wan 2.2 S2V: LoadAudio with the file's real length, S2V chunk latents.

``WanSoundImageToVideo`` and ``…Extend`` size their latents exactly as ComfyUI's
``wan_sound_to_video`` (comfy_extras/nodes_wan.py): ``(length - 1) // 4 + 1`` latent frames
per chunk, the extension taking its size from ``video_latent``. The audio only conditions
the real model, so the sim reads its length and nothing else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline.media.probe import probe
from pipeline.standins.comfy_sim.node_api import Evaluator, NodeContext, NodeResult
from pipeline.standins.comfy_sim.values import Audio, ImageBatch, Latent, Opaque


async def load_audio(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    path = ctx.dirs.input_path(str(inputs["audio"]))
    if not path.is_file():
        raise FileNotFoundError(f"No such audio file: {path.name}")
    info = await asyncio.to_thread(probe, path)
    return NodeResult((Audio(path, info.audio_duration_s or info.duration_s),))


def _conditioning(ctx: NodeContext) -> tuple[Opaque, Opaque]:
    return Opaque("CONDITIONING", ctx.class_type), Opaque("CONDITIONING", ctx.class_type)


def _chunk_latents(inputs: dict[str, Any]) -> int:
    return (int(inputs["length"]) - 1) // 4 + 1


async def wan_sound_image_to_video(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    reference: ImageBatch | None = inputs.get("ref_image")
    latent = Latent(
        int(inputs["width"]) // 8 * 8,
        int(inputs["height"]) // 8 * 8,
        _chunk_latents(inputs),
        reference.frame(0) if reference is not None else None,
    )
    return NodeResult((*_conditioning(ctx), latent))


async def wan_sound_image_to_video_extend(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    previous: Latent = inputs["video_latent"]
    latent = Latent(previous.width, previous.height, _chunk_latents(inputs), previous.start)
    return NodeResult((*_conditioning(ctx), latent))


SOUND_NODES: dict[str, Evaluator] = {
    "LoadAudio": load_audio,
    "WanSoundImageToVideo": wan_sound_image_to_video,
    "WanSoundImageToVideoExtend": wan_sound_image_to_video_extend,
}
