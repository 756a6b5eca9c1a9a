"""comfy-sim's node registry: ``NODES[class_type]`` evaluates one node.

Loaders and encoders return opaque stand-ins (there are no weights; their combo values were
already validated). Image nodes do real, cheap work with Pillow; video nodes live in
``video_nodes``, audio and S2V nodes in ``sound_nodes``, InfiniteTalk's and the custom
sampling chain in ``infinitetalk_nodes``. Add a node type by adding an evaluator here or in
a sibling module.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PIL import Image, ImageOps, ImageSequence

from pipeline.standins.comfy_sim.infinitetalk_nodes import INFINITETALK_NODES
from pipeline.standins.comfy_sim.node_api import Evaluator, NodeContext, NodeFailure, NodeResult
from pipeline.standins.comfy_sim.sound_nodes import SOUND_NODES
from pipeline.standins.comfy_sim.values import ImageBatch, Opaque
from pipeline.standins.comfy_sim.video_nodes import VIDEO_NODES

_FILTERS = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}

_FIXTURE_FILE = "/opt/ComfyUI/custom_nodes/contract_fixtures/__init__.py"
_OOM_TEXT = "CUDA out of memory. Tried to allocate 20.00 MiB (simulated by contract fixture)"


async def opaque(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    """Model/CLIP/VAE loaders, LoRAs, text encoders: one stand-in per declared output, after
    ``ctx.silence_s`` of silence (ComfyUI sends nothing while it loads or encodes)."""
    await asyncio.sleep(ctx.silence_s)
    return NodeResult(tuple(Opaque(kind, ctx.class_type) for kind in ctx.output_types))


async def load_image(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    """Every frame of the file as one batch, as ComfyUI 0.33.0's ``LoadImage`` (``nodes.py``):
    each frame upright and RGB, frames of another size than the first left out. A PNG
    ``SaveImage`` wrote comes back with the same 8-bit values."""
    with Image.open(ctx.dirs.input_path(str(inputs["image"]))) as opened:
        frames = [
            ImageOps.exif_transpose(frame).convert("RGB")
            for frame in ImageSequence.Iterator(opened)
        ]
    kept = [frame for frame in frames if frame.size == frames[0].size]
    return NodeResult((ImageBatch.of(kept), Opaque("MASK", ctx.class_type)))


async def image_from_batch(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    """``length`` frames from ``batch_index``, both clamped to the batch, a negative index
    counting from the end (``ImageFromBatch.execute``, ComfyUI 0.33.0
    ``comfy_extras/nodes_images.py``)."""
    images: ImageBatch = inputs["image"]
    first = int(inputs["batch_index"])
    if first < 0:
        first += images.count
    first = max(0, min(images.count - 1, first))
    length = min(images.count - first, int(inputs["length"]))
    return NodeResult(
        (ImageBatch(images.width, images.height, length, lambda i: images.frame(first + i)),)
    )


def _scale(image: Image.Image, width: int, height: int, method: str, crop: str) -> Image.Image:
    if crop == "center":
        return ImageOps.fit(image, (width, height), _FILTERS[method])
    return image.resize((width, height), _FILTERS[method])


async def image_scale(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images: ImageBatch = inputs["image"]
    width, height = int(inputs["width"]), int(inputs["height"])
    if width == 0 and height == 0:
        return NodeResult((images,))
    # As ComfyUI: a zero side keeps the aspect ratio.
    if width == 0:
        width = max(1, round(images.width * height / images.height))
    elif height == 0:
        height = max(1, round(images.height * width / images.width))
    method, crop = str(inputs["upscale_method"]), str(inputs["crop"])
    return NodeResult(
        (images.map(width, height, lambda im: _scale(im, width, height, method, crop)),)
    )


async def repeat_image_batch(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images: ImageBatch = inputs["image"]
    return NodeResult((images.repeat(int(inputs["amount"])),))


async def save_image(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images: ImageBatch = inputs["images"]
    target = ctx.dirs.save_path(str(inputs["filename_prefix"]), ctx.dirs.output)
    results = []
    for offset, image in enumerate(images.frames()):
        name = f"{target.filename}_{target.counter + offset:05}_.png"
        image.save(target.folder / name, compress_level=4)
        results.append({"filename": name, "subfolder": target.subfolder, "type": "output"})
    return NodeResult((images,), {"images": results})


async def contract_slow_progress(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images: ImageBatch = inputs["image"]
    preview = images.frame(0) if inputs.get("send_preview") else None
    await ctx.steps(int(inputs["steps"]), preview)
    return NodeResult((images,))


async def contract_fail(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    raise NodeFailure(
        "simulated CUDA out of memory",
        exception_type="RuntimeError",
        frames=(
            f'  File "{_FIXTURE_FILE}", line 58, in run\n'
            '    raise RuntimeError("simulated CUDA out of memory")\n',
        ),
    )


async def contract_oom(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    raise NodeFailure(
        _OOM_TEXT,
        exception_type="torch.OutOfMemoryError",
        oom=True,
        frames=(
            f'  File "{_FIXTURE_FILE}", line 87, in run\n    raise torch.cuda.OutOfMemoryError(\n',
        ),
    )


MODEL_LOADERS = frozenset(
    {
        "UNETLoader",
        "UnetLoaderGGUF",
        "CLIPLoader",
        "CLIPLoaderGGUF",
        "VAELoader",
        "CLIPVisionLoader",
        "AudioEncoderLoader",
        "ModelPatchLoader",
    }
)
"""Nodes that load weights: silent for ``SimConfig.model_load_s``."""
TEXT_ENCODERS = frozenset({"CLIPTextEncode"})
"""Nodes silent for ``SimConfig.text_encode_s`` (on CPU a umt5 encode took 57-122 s)."""

_OPAQUE = (
    "UNETLoader",
    "UnetLoaderGGUF",
    "CLIPLoader",
    "CLIPLoaderGGUF",
    "VAELoader",
    "LoraLoaderModelOnly",
    "LoraLoader",
    "ModelSamplingSD3",
    "CLIPTextEncode",
    "CLIPVisionLoader",
    "CLIPVisionEncode",
    "AudioEncoderLoader",
    "ModelPatchLoader",
    "ConditioningZeroOut",
    "KSamplerSelect",
    "CFGGuider",
    "RandomNoise",
)

NODES: dict[str, Evaluator] = {
    **dict.fromkeys(_OPAQUE, opaque),
    "LoadImage": load_image,
    "ImageScale": image_scale,
    "RepeatImageBatch": repeat_image_batch,
    "ImageFromBatch": image_from_batch,
    "SaveImage": save_image,
    "ContractSlowProgress": contract_slow_progress,
    "ContractFail": contract_fail,
    "ContractOOM": contract_oom,
    **VIDEO_NODES,
    **SOUND_NODES,
    **INFINITETALK_NODES,
}
"""Every node type comfy-sim can run; others fail at execution like a missing node pack."""
