"""What a prompt is doing, in words, from the class_type of the node executing now.

ComfyUI says which node runs (``executing``) but not what that means, and many nodes send
nothing for minutes (ComfyUI 0.33.0 on CPU: a umt5 text encode 57-122 s; on a GPU box a 14B
model load from a network disk as long). So the words come from the node's class_type:

- ``loading models``: the class_type contains ``Loader`` (UNETLoader, UnetLoaderGGUF,
  CLIPLoader, VAELoader, LoraLoaderModelOnly, AudioEncoderLoader, ModelPatchLoader,
  CheckpointLoaderSimple…);
- ``encoding prompt``: it contains ``TextEncode`` (CLIPTextEncode…);
- ``sampling step x/y``: a sampler (``SAMPLER``), x of the segment's y steps done;
- ``decoding``: it contains ``Decode`` (VAEDecode, VAEDecodeTiled…);
- ``saving``: it starts with ``Save`` (SaveVideo, SaveImage, SaveAudio…);
- ``running <class_type> (node <id>)``: anything else.

Before any node starts: ``queued (position n)`` while ``GET /queue`` lists the prompt as
pending (1 runs next), else ``submitted``. Pure.
"""

from __future__ import annotations

import re

SAMPLER = re.compile(r"(KSampler|Sampler|SamplerCustom)(Advanced)?$")
"""class_types that sample: KSampler, KSamplerAdvanced, WanVideoSampler, SamplerCustom…"""
_LOADER = re.compile(r"Loader")
_TEXT_ENCODER = re.compile(r"TextEncode")
_DECODER = re.compile(r"Decode")
_SAVER = re.compile(r"^Save")

SUBMITTED = "submitted"
"""Words for a prompt no node of which was seen to start, and not seen in the queue."""


def queued(position: int) -> str:
    """Words for a pending prompt; ``position`` 1 runs next."""
    return f"queued (position {position})"


def node_doing(class_type: str, node: str, *, step: int, steps: int) -> str:
    """Words for node ``node`` of ``class_type`` executing, ``step`` of ``steps`` sampled."""
    if _LOADER.search(class_type):
        return "loading models"
    if _TEXT_ENCODER.search(class_type):
        return "encoding prompt"
    if SAMPLER.search(class_type):
        return f"sampling step {step}/{steps}"
    if _DECODER.search(class_type):
        return "decoding"
    if _SAVER.search(class_type):
        return "saving"
    return f"running {class_type or 'an unknown node'} (node {node})"
