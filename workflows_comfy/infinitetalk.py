"""InfiniteTalk: seed 001's WanVideoWrapper graph, image + vocals → lip-synced video. Pure.

::

    LoadAudio → MultiTalkWav2VecEmbeds(num_frames, fps) ← Wav2VecModelLoader
    MultiTalkModelLoader ─ extra_model ─┐   WanVideoBlockSwap, WanVideoLoraSelect
                                        WanVideoModelLoader
    LoadImage → WanVideoImageToVideoMultiTalk(window 81, motion_frame 9) ← WanVideoVAELoader
    LoadWanVideoT5TextEncoder → WanVideoTextEncode
    → WanVideoSampler(multitalk_embeds) → WanVideoDecode
    → VHS_VideoCombine(25 fps, video/h264-mp4, audio = the embeds node's trimmed audio)

The sampler slides ``frame_window_size`` windows over the audio embeddings; each window after
the first re-renders the last ``motion_frame`` frames of the one before (WanVideoWrapper
``multitalk/multitalk_loop.py``). It stops once a window reaches the end of the audio, so it
renders ``window + (window - motion_frame) * k`` frames and pads the audio with silence up to
that: ``num_frames`` must be such a count (seed 001's "window-aligned" 81, 153, 225, ...).

Where the contract's entries fall short of seed 001 (``object_info.derived.json`` has the
MultiTalk nodes of a 2025-era pack; every other WanVideoWrapper entry is from its 2025-03
snapshot, before MultiTalk existed):

- ``WanVideoModelLoader`` has no ``extra_model`` and ``WanVideoSampler`` no
  ``multitalk_embeds``: without them the InfiniteTalk weights and the audio reach nothing.
  The graph sets both (``BEYOND_CONTRACT``). ComfyUI validates declared inputs only (0.3.64
  ``execution.validate_inputs``) and passes every linked input to the node, so the graph
  validates against the contract and runs on a current pack; on the 2025-03 pack those two
  nodes would fail at execution with an unexpected keyword argument.
- The old ``WanVideoModelLoader`` lists ``diffusion_models`` safetensors only, so seed 001's
  ``wan2.1-i2v-14b-480p-Q5_0.gguf`` base is not on offer (see ``presets``).
- The old ``WanVideoSampler`` schedulers lack seed 001's ``flowmatch_distill``; the preset
  uses ``euler``.
- There is no ``WanVideoClipVisionEncode`` (``WANVIDIMAGE_CLIPEMBEDS``), so the optional
  ``clip_embeds`` of ``WanVideoImageToVideoMultiTalk`` stays unset; the old
  ``WanVideoImageClipEncode`` makes a different type.
- ``WanVideoBlockSwap`` has no ``use_non_blocking``.
- Seed 001 loads ``TencentGameMate/chinese-wav2vec2-base`` through
  ``DownloadAndLoadWav2VecModel``, which fetches it from Hugging Face while the prompt runs.
  A GPU worker must not depend on a hub mid-session, so the graph uses
  ``Wav2VecModelLoader`` and a file in ``models/wav2vec2`` (the preset names it).

Seed 001's ``AudioCrop``/``AudioSeparation`` and ``ImageResizeKJv2`` are not here: earlier
stages crop and separate the audio and normalise the image, and the MultiTalk node resizes
its start image to ``width`` x ``height`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows_comfy.graph import MAX_SEED, Graph
from workflows_comfy.presets import DEFAULT_PRESET, InfiniteTalkPreset, preset_of_type

INFINITETALK_FPS = 25.0
WINDOW_FRAMES = 81
"""``frame_window_size``: the frames InfiniteTalk renders per window."""
MOTION_FRAMES = 9
"""``motion_frame``: seed 001's overlap between windows."""
BEYOND_CONTRACT: dict[str, tuple[str, ...]] = {
    "WanVideoModelLoader": ("extra_model",),
    "WanVideoSampler": ("multitalk_embeds",),
}
"""Inputs the graph sets that the contract's (old) WanVideoWrapper entries do not declare."""


def infinitetalk_frames(num_frames: int, window: int, motion_frame: int) -> int:
    """Frames the InfiniteTalk loop renders for ``num_frames`` frames of audio."""
    if num_frames <= window:
        return window
    stride = window - motion_frame
    return window + stride * -(-(num_frames - window) // stride)


@dataclass(frozen=True)
class InfiniteTalkParams:
    """One InfiniteTalk run over the whole audio, in overlapping windows."""

    image_name: str
    audio_name: str
    """The vocals, padded to ``num_frames / fps`` seconds, as uploaded."""
    prompt: str
    width: int
    height: int
    num_frames: int
    seed: int
    window: int = WINDOW_FRAMES
    motion_frame: int = MOTION_FRAMES
    negative_prompt: str = ""
    fps: float = INFINITETALK_FPS
    steps: int = 4
    cfg: float = 1.0
    preset: str = DEFAULT_PRESET["infinitetalk"]
    filename_prefix: str = "video/infinitetalk"

    @property
    def output_frames(self) -> int:
        return infinitetalk_frames(self.num_frames, self.window, self.motion_frame)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first parameter ComfyUI would reject or misuse."""
        for name, value in (("image_name", self.image_name), ("audio_name", self.audio_name)):
            if not value:
                raise ValueError(f"{name} must not be empty")
        for name, size in (("width", self.width), ("height", self.height)):
            if size < 64 or size % 16:
                raise ValueError(f"{name} must be a multiple of 16 from 64, got {size}")
        if self.window < 5 or (self.window - 1) % 4:
            raise ValueError(f"window must be 4n+1 frames (e.g. 81), got {self.window}")
        if not 1 <= self.motion_frame < self.window:
            raise ValueError(
                f"motion_frame must be in 1..{self.window - 1}, got {self.motion_frame}"
            )
        if self.num_frames != self.output_frames:
            stride = self.window - self.motion_frame
            raise ValueError(
                f"num_frames must be window-aligned ({self.window} + {stride}·k); "
                f"{self.num_frames} would render {self.output_frames} frames over padded audio"
            )
        if not 1.0 <= self.fps <= 60.0:
            raise ValueError(f"fps must be in 1..60, got {self.fps}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in 0..{MAX_SEED}, got {self.seed}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 <= self.cfg <= 30.0:
            raise ValueError(f"cfg must be in 0..30, got {self.cfg}")
        if not self.filename_prefix:
            raise ValueError("filename_prefix must not be empty")


def build_infinitetalk(params: InfiniteTalkParams) -> dict[str, dict[str, Any]]:
    """The API-format graph for ``params``; ``UnknownPreset`` or ``ValueError`` if invalid."""
    params.check()
    models = preset_of_type(params.preset, InfiniteTalkPreset, "infinitetalk")

    g = Graph()
    image = g.add("LoadImage", title="Portrait", image=params.image_name)
    audio = g.add("LoadAudio", title="Vocals", audio=params.audio_name)
    wav2vec = g.add(
        "Wav2VecModelLoader",
        model=models.wav2vec,
        base_precision="fp16",
        load_device="main_device",
    )
    embeds = g.add(
        "MultiTalkWav2VecEmbeds",
        wav2vec_model=wav2vec.out(),
        audio_1=audio.out(),
        normalize_loudness=True,
        num_frames=params.num_frames,
        fps=float(params.fps),
        audio_scale=1.0,
        audio_cfg_scale=1.0,
        multi_audio_type="para",
    )
    talk = g.add("MultiTalkModelLoader", model=models.infinitetalk_model)
    swap = g.add(
        "WanVideoBlockSwap",
        blocks_to_swap=models.blocks_to_swap,
        offload_img_emb=False,
        offload_txt_emb=False,
    )
    lora = g.add("WanVideoLoraSelect", lora=models.lora, strength=models.lora_strength)
    model = g.add(
        "WanVideoModelLoader",
        model=models.model,
        base_precision=models.base_precision,
        quantization=models.quantization,
        load_device="offload_device",
        attention_mode="sdpa",
        block_swap_args=swap.out(),
        lora=lora.out(),
        extra_model=talk.out(),
    )
    vae = g.add("WanVideoVAELoader", model_name=models.vae, precision="bf16")
    t5 = g.add(
        "LoadWanVideoT5TextEncoder",
        model_name=models.t5,
        precision="bf16",
        load_device="offload_device",
        quantization="disabled",
    )
    text = g.add(
        "WanVideoTextEncode",
        t5=t5.out(),
        positive_prompt=params.prompt,
        negative_prompt=params.negative_prompt,
        force_offload=True,
    )
    image_embeds = g.add(
        "WanVideoImageToVideoMultiTalk",
        vae=vae.out(),
        width=params.width,
        height=params.height,
        frame_window_size=params.window,
        motion_frame=params.motion_frame,
        force_offload=False,
        colormatch="disabled",
        start_image=image.out(),
        tiled_vae=False,
        mode="infinitetalk",
        output_path="",
    )
    sampled = g.add(
        "WanVideoSampler",
        model=model.out(),
        text_embeds=text.out(),
        image_embeds=image_embeds.out(),
        steps=params.steps,
        cfg=params.cfg,
        shift=models.shift,
        seed=params.seed,
        force_offload=True,
        scheduler=models.scheduler,
        riflex_freq_index=0,
        multitalk_embeds=embeds.out(0),
    )
    frames = g.add(
        "WanVideoDecode",
        vae=vae.out(),
        samples=sampled.out(),
        enable_vae_tiling=False,
        tile_x=272,
        tile_y=272,
        tile_stride_x=144,
        tile_stride_y=128,
    )
    g.add(
        "VHS_VideoCombine",
        images=frames.out(),
        audio=embeds.out(1),
        frame_rate=float(params.fps),
        loop_count=0,
        filename_prefix=params.filename_prefix,
        format="video/h264-mp4",
        pix_fmt="yuv420p",
        crf=19,
        save_metadata=True,
        trim_to_audio=False,
        pingpong=False,
        save_output=True,
    )
    return g.to_api()
