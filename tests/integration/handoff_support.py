"""What the hand-off tests share, on comfy-sim or a real ComfyUI: two prompts, the second
conditioned on the first, and the frames each one decoded or loaded, seen pixel for pixel.

A prompt's own frames are watched by adding a ``SaveImage`` of a node's ``IMAGE`` to the
graph it submits (``watch``): ComfyUI writes 8-bit RGB PNGs of exactly the tensor that node
gave (``clip(255·x).astype(uint8)``, ComfyUI 0.33.0 ``nodes.py``), so the first prompt's
decoded frames and the second prompt's loaded frames are compared as the same kind of bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.comfy import ComfyClient, OutputFile
from pipeline.comfy.client import RunResult
from pipeline.media.frames import extract_last_frames, join_frames
from workflows_comfy.graph import ApiGraph, handoff_node
from workflows_comfy.i2v import I2VParams, build_i2v
from workflows_comfy.infinitetalk import InfiniteTalkParams, build_infinitetalk

Tweak = Callable[[ApiGraph], ApiGraph]
"""A change to a graph before it is submitted (the real tier shortens the text encode)."""


@dataclass(frozen=True)
class HandOff:
    """The frames the second prompt conditioned on, and the first prompt's frames they are of."""

    decoded: list[np.ndarray]
    """The first prompt's decoded frames that the second one continues (H x W x 3 uint8)."""
    loaded: list[np.ndarray]
    """What the second prompt's loader gave its node, in the same shape."""
    first_video: Path
    second_video: Path

    def max_difference(self) -> int:
        """The largest difference of any value of any frame (0: pixel for pixel equal)."""
        assert len(self.decoded) == len(self.loaded), (len(self.decoded), len(self.loaded))
        return max(
            int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
            for a, b in zip(self.decoded, self.loaded, strict=True)
        )


def watch(graph: ApiGraph, node_id: str, prefix: str) -> str:
    """Add a ``SaveImage`` of ``node_id``'s first output; the id it got."""
    watcher = str(max(int(key) for key in graph) + 1)
    graph[watcher] = {
        "class_type": "SaveImage",
        "inputs": {"images": [node_id, 0], "filename_prefix": prefix},
    }
    return watcher


def node_of(graph: ApiGraph, class_type: str, title: str | None = None) -> str:
    """The id of the one node of ``class_type`` (with ``title``, when given)."""
    (found,) = [
        key
        for key, node in graph.items()
        if node["class_type"] == class_type
        and (title is None or node.get("_meta", {}).get("title") == title)
    ]
    return found


async def fetch(comfy: ComfyClient, output: OutputFile) -> bytes:
    return b"".join([chunk async for chunk in comfy.download(output)])


async def frames_of(comfy: ComfyClient, result: RunResult, node_id: str) -> list[np.ndarray]:
    """The PNGs node ``node_id`` saved in ``result``, in batch order, as arrays."""
    outputs = [o for o in result.outputs if o.node_id == node_id and o.filename.endswith(".png")]
    assert outputs, f"node {node_id} saved no PNG"
    frames = []
    for output in outputs:
        with Image.open(io.BytesIO(await fetch(comfy, output))) as image:
            frames.append(np.asarray(image.convert("RGB")))
    return frames


async def video_of(comfy: ComfyClient, result: RunResult, out: Path) -> Path:
    (video,) = [o for o in result.outputs if o.filename.endswith(".mp4")]
    await asyncio.to_thread(out.write_bytes, await fetch(comfy, video))
    return out


async def saved_handoff(comfy: ComfyClient, result: RunResult, graph: ApiGraph, out: Path) -> Path:
    """The first prompt's hand-off PNGs joined into one file, as the GPU activity does."""
    saver = handoff_node(graph)
    assert saver is not None
    outputs = [o for o in result.outputs if o.node_id == saver]
    paths = []
    for index, output in enumerate(outputs):
        path = out.parent / f"{out.stem}_{index:03d}.png"
        await asyncio.to_thread(path.write_bytes, await fetch(comfy, output))
        paths.append(path)
    return await asyncio.to_thread(join_frames, paths, out)


async def mp4_last_frame(video: Path, out: Path) -> Path:
    """Today's I2V hand-off: the MP4's last frame, extracted as the CPU activity does."""
    (frame,) = await asyncio.to_thread(extract_last_frames, video, out, 1)
    return frame


def _no_tweak(graph: ApiGraph) -> ApiGraph:
    return graph


async def infinitetalk_handoff(
    comfy: ComfyClient,
    first: InfiniteTalkParams,
    work: Path,
    *,
    lossless: bool,
    tweak: Tweak = _no_tweak,
) -> HandOff:
    """Window 0, then window 1 from its saved motion frames (``lossless``) or from its MP4."""
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    motion = first.motion_frames
    graph = tweak(build_infinitetalk(dataclasses.replace(first, handoff_frames=motion)))
    decoded_id = watch(graph, node_of(graph, "VAEDecode"), f"debug/{work.name}_decoded")
    result = await comfy.run(graph, timeout=900)
    decoded = await frames_of(comfy, result, decoded_id)
    first_video = await video_of(comfy, result, work / "window_0.mp4")

    start = first.start_frame + first.length - motion
    if lossless:
        joined = await saved_handoff(comfy, result, graph, work / "window_0_motion.png")
        name = await comfy.upload(f"{work.name}_motion.png", joined)
        second = dataclasses.replace(
            first, start_frame=start, previous_frames_name=name, previous_frames=motion
        )
        loader: tuple[str, str | None] = ("LoadImage", "Previous frames")
    else:
        name = await comfy.upload(f"{work.name}_window_0.mp4", first_video)
        second = dataclasses.replace(first, start_frame=start, previous_video_name=name)
        loader = ("GetVideoComponents", None)
    graph = tweak(build_infinitetalk(second))
    loaded_id = watch(graph, node_of(graph, *loader), f"debug/{work.name}_loaded")
    result = await comfy.run(graph, timeout=900)
    loaded = await frames_of(comfy, result, loaded_id)
    return HandOff(
        decoded=decoded[-motion:],
        loaded=loaded[-motion:],
        first_video=first_video,
        second_video=await video_of(comfy, result, work / "window_1.mp4"),
    )


async def i2v_handoff(
    comfy: ComfyClient,
    first: I2VParams,
    work: Path,
    *,
    lossless: bool,
    tweak: Tweak = _no_tweak,
) -> HandOff:
    """A segment, then its extension from its saved last frame (``lossless``) or its MP4."""
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    graph = tweak(build_i2v(dataclasses.replace(first, handoff_frames=1)))
    decoded_id = watch(graph, node_of(graph, "VAEDecode"), f"debug/{work.name}_decoded")
    result = await comfy.run(graph, timeout=900)
    decoded = await frames_of(comfy, result, decoded_id)
    first_video = await video_of(comfy, result, work / "segment_0.mp4")

    if lossless:
        frame = await saved_handoff(comfy, result, graph, work / "segment_0_last.png")
    else:
        frame = await mp4_last_frame(first_video, work / "frames")
    name = await comfy.upload(f"{work.name}_start.png", frame)
    graph = tweak(build_i2v(dataclasses.replace(first, image_name=name)))
    loaded_id = watch(graph, node_of(graph, "LoadImage"), f"debug/{work.name}_loaded")
    result = await comfy.run(graph, timeout=900)
    loaded = await frames_of(comfy, result, loaded_id)
    return HandOff(
        decoded=decoded[-1:],
        loaded=loaded,
        first_video=first_video,
        second_video=await video_of(comfy, result, work / "segment_1.mp4"),
    )

