"""Tiny model files: every file a preset names, small enough for a real ComfyUI on a CPU.

``pipeline models tiny`` writes them so tests and demos can run a real ComfyUI (0.33.0 or
newer) through every shipped preset without the real 14B weights. Each file has the name and
ComfyUI folder its preset names (``workflows_comfy/models.toml``) and the state-dict keys
that make ComfyUI detect the real architecture, at tiny widths. Every rule and number below
comes from ``shared/notes/real-comfyui.md`` ("Tiny weights that ComfyUI detects as the real
models"), measured on ComfyUI 0.33.0 (commit ``783545f``); the keys and shapes equal the
layout captured from ComfyUI's own classes at these sizes
(``tests/data/comfyui/tiny_key_layout.json``, which ``tests/unit/test_tiny_weights.py``
holds the specs to).

What a file holds is a pure ``FileSpec`` (``file_spec``, ``tiny_specs``); ``write_file``
turns one into bytes. Values are seeded per file (``FileSpec.seed``, the CRC-32 of its name),
so every run writes the same bytes: weights are standard normal x 0.02, norm scales and
gammas 1.0, biases 0, so a forward pass stays finite. The files carry no trained knowledge:
a sampler's output is noise, and only shapes, frame counts and timings mean anything.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import logging
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import gguf
import numpy as np
import sentencepiece

from workflows_comfy.models import model_file
from workflows_comfy.presets import PRESETS, preset

Shape = tuple[int, ...]
Dtype = Literal["F16", "F32", "F8_E4M3", "U8"]
"""A safetensors dtype name; a GGUF file uses only ``F16`` and ``F32``."""
Fill = Literal["normal", "constant", "fp8", "spiece"]
"""How values are made: ``normal`` N(0, 1) x ``WEIGHT_STD``; ``constant`` every element
``TensorSpec.value``; ``fp8`` random finite float8_e4m3fn codes of magnitude 2^-6..1.875
(exponent field 1..7), to be multiplied by their ``.scale_weight``; ``spiece`` the bytes of
``spiece_model()``."""
Form = Literal["fp16", "fp8_scaled", "gguf", "lora", "text_encoder"]

WEIGHT_STD = 0.02
"""Standard deviation of the random weights: small, so activations stay finite."""
FP8_SCALE = 0.01
"""Every ``.scale_weight``: fp8 codes of at most 1.875 give weights of at most 0.019."""
LORA_RANK = 4
LORA_LAYERS = ("self_attn.q", "self_attn.o", "ffn.0", "ffn.2")
"""The block-0 linears a tiny LoRA patches (square and non-square ones)."""
TEXT_DIM = 4096
"""umt5-xxl's width: the text embedding every Wan DiT projects from (fixed by ComfyUI)."""

_DTYPE_BYTES: dict[Dtype, int] = {"F16": 2, "F32": 4, "F8_E4M3": 1, "U8": 1}
_NUMPY: dict[Dtype, type[np.generic]] = {
    "F16": np.float16,
    "F32": np.float32,
    "F8_E4M3": np.uint8,
    "U8": np.uint8,
}


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a file: its shape, dtype and how its values are made."""

    shape: Shape
    dtype: Dtype
    fill: Fill = "normal"
    value: float = 0.0
    """The element value of a ``constant`` fill."""

    @property
    def nbytes(self) -> int:
        """Bytes of its data (a shape of ``()`` is one element)."""
        count = 1
        for n in self.shape:
            count *= n
        return count * _DTYPE_BYTES[self.dtype]


@dataclass(frozen=True)
class FileSpec:
    """One tiny file: where it goes, which architecture it poses as, and its tensors."""

    name: str
    folder: str
    """The ComfyUI models folder (``diffusion_models``, ``loras``, ``unet``, ...)."""
    architecture: str
    """The key of the captured layout it follows (``wan22_i2v_t2vtype``, ``wan21_vae``...);
    a LoRA names the DiT it patches."""
    form: Form
    tensors: dict[str, TensorSpec]

    @property
    def path(self) -> str:
        """``folder/name``, relative to a models directory."""
        return f"{self.folder}/{self.name}"

    @property
    def seed(self) -> int:
        """The random seed of its values: the CRC-32 of its file name."""
        return zlib.crc32(self.name.encode("utf-8"))

    @property
    def nbytes(self) -> int:
        """Bytes of its tensor data (the file adds a header of a few kB)."""
        return sum(t.nbytes for t in self.tensors.values())


# ---- layouts: key → shape per architecture, at the tiny sizes of the notes ----


def _linear(
    prefix: str, out_features: int, in_features: int, bias: bool = True
) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {f"{prefix}.weight": (out_features, in_features)}
    if bias:
        shapes[f"{prefix}.bias"] = (out_features,)
    return shapes


def _wan_dit(dim: int, in_dim: int, ffn: int, blocks: int, image: bool) -> dict[str, Shape]:
    """A Wan DiT (``comfy/ldm/wan/model.py``): patch (1, 2, 2), out 16 channels, freq 256;
    ``image`` adds the Wan 2.1 I2V CLIP-image branch (``img_emb``, ``k_img``/``v_img``)."""
    shapes: dict[str, Shape] = {
        "patch_embedding.weight": (dim, in_dim, 1, 2, 2),
        "patch_embedding.bias": (dim,),
        **_linear("text_embedding.0", dim, TEXT_DIM),
        **_linear("text_embedding.2", dim, dim),
        **_linear("time_embedding.0", dim, 256),
        **_linear("time_embedding.2", dim, dim),
        **_linear("time_projection.1", 6 * dim, dim),
    }
    for i in range(blocks):
        b = f"blocks.{i}"
        shapes[f"{b}.modulation"] = (1, 6, dim)
        for attn in ("self_attn", "cross_attn"):
            for proj in ("q", "k", "v", "o"):
                shapes |= _linear(f"{b}.{attn}.{proj}", dim, dim)
            shapes[f"{b}.{attn}.norm_q.weight"] = (dim,)
            shapes[f"{b}.{attn}.norm_k.weight"] = (dim,)
            if attn == "self_attn":
                shapes[f"{b}.norm3.weight"] = (dim,)
                shapes[f"{b}.norm3.bias"] = (dim,)
        if image:
            shapes |= _linear(f"{b}.cross_attn.k_img", dim, dim)
            shapes |= _linear(f"{b}.cross_attn.v_img", dim, dim)
            shapes[f"{b}.cross_attn.norm_k_img.weight"] = (dim,)
        shapes |= _linear(f"{b}.ffn.0", ffn, dim) | _linear(f"{b}.ffn.2", dim, ffn)
    shapes["head.modulation"] = (1, 2, dim)
    shapes |= _linear("head.head", 16 * 1 * 2 * 2, dim)
    if image:
        clip_dim = 1280  # CLIP ViT-H's width, fixed by the I2V image projection
        shapes |= {"img_emb.proj.0.weight": (clip_dim,), "img_emb.proj.0.bias": (clip_dim,)}
        shapes |= _linear("img_emb.proj.1", clip_dim, clip_dim)
        shapes |= _linear("img_emb.proj.3", dim, clip_dim)
        shapes |= {"img_emb.proj.4.weight": (dim,), "img_emb.proj.4.bias": (dim,)}
    return shapes


def wan22_i2v() -> dict[str, Shape]:
    """Wan 2.2 I2V A14B expert (detected as Wan by ``head.modulation``, in_dim 36 from
    ``patch_embedding.weight``): dim 128 (one 128-wide head), 1 block, ffn 256."""
    return _wan_dit(dim=128, in_dim=36, ffn=256, blocks=1, image=False)


def wan21_i2v() -> dict[str, Shape]:
    """Wan 2.1 I2V 14B 480p (``img_emb.proj.0.bias`` → i2v): dim 160, because the
    InfiniteTalk patch hard-codes 40 heads on the DiT's width; 1 block, ffn 256."""
    return _wan_dit(dim=160, in_dim=36, ffn=256, blocks=1, image=True)


def wan22_s2v() -> dict[str, Shape]:
    """Wan 2.2 S2V 14B (``casual_audio_encoder.encoder.final_linear.weight`` → S2V): the
    Wan DiT at dim 128, in_dim 16, plus S2V's fixed parts: an audio encoder over wav2vec2-large
    (1024 wide, 25 hidden states), 12 audio injectors, the cond encoder and frame packer."""
    dim, audio = 128, 1024
    shapes = _wan_dit(dim=dim, in_dim=16, ffn=256, blocks=1, image=False)
    shapes["trainable_cond_mask.weight"] = (3, dim)
    enc = "casual_audio_encoder"
    shapes[f"{enc}.weights"] = (1, 25, 1, 1)
    shapes[f"{enc}.encoder.padding_tokens"] = (1, 1, 1, dim)
    for conv, out_ch, in_ch in (
        ("conv1_local", dim, audio),
        ("conv1_global", dim // 4, audio),
        ("conv2", dim // 2, dim // 4),
        ("conv3", dim, dim // 2),
    ):
        shapes[f"{enc}.encoder.{conv}.conv.weight"] = (out_ch, in_ch, 3)
        shapes[f"{enc}.encoder.{conv}.conv.bias"] = (out_ch,)
    shapes |= _linear(f"{enc}.encoder.final_linear", dim, dim)
    shapes |= {"cond_encoder.weight": (dim, 16, 1, 2, 2), "cond_encoder.bias": (dim,)}
    for i in range(12):
        inj = f"audio_injector.injector.{i}"
        for proj in ("q", "k", "v", "o"):
            shapes |= _linear(f"{inj}.{proj}", dim, dim)
        shapes[f"{inj}.norm_q.weight"] = (dim,)
        shapes[f"{inj}.norm_k.weight"] = (dim,)
    for i in range(12):
        shapes |= _linear(f"audio_injector.injector_adain_layers.{i}.linear", 2 * dim, dim)
    for proj, kernel in (("proj", (1, 2, 2)), ("proj_2x", (2, 4, 4)), ("proj_4x", (4, 8, 8))):
        shapes[f"frame_packer.{proj}.weight"] = (dim, 16, *kernel)
        shapes[f"frame_packer.{proj}.bias"] = (dim,)
    return shapes


def _vae_residual(prefix: str, in_ch: int, out_ch: int) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {
        f"{prefix}.residual.0.gamma": (in_ch, 1, 1, 1),
        f"{prefix}.residual.2.weight": (out_ch, in_ch, 3, 3, 3),
        f"{prefix}.residual.2.bias": (out_ch,),
        f"{prefix}.residual.3.gamma": (out_ch, 1, 1, 1),
        f"{prefix}.residual.6.weight": (out_ch, out_ch, 3, 3, 3),
        f"{prefix}.residual.6.bias": (out_ch,),
    }
    if in_ch != out_ch:
        shapes[f"{prefix}.shortcut.weight"] = (out_ch, in_ch, 1, 1, 1)
        shapes[f"{prefix}.shortcut.bias"] = (out_ch,)
    return shapes


def _vae_middle(prefix: str, ch: int) -> dict[str, Shape]:
    return {
        **_vae_residual(f"{prefix}.0", ch, ch),
        f"{prefix}.1.norm.gamma": (ch, 1, 1),
        f"{prefix}.1.to_qkv.weight": (3 * ch, ch, 1, 1),
        f"{prefix}.1.to_qkv.bias": (3 * ch,),
        f"{prefix}.1.proj.weight": (ch, ch, 1, 1),
        f"{prefix}.1.proj.bias": (ch,),
        **_vae_residual(f"{prefix}.2", ch, ch),
    }


def wan21_vae(dim: int = 16, z_dim: int = 16) -> dict[str, Shape]:
    """The Wan 2.1 VAE (``decoder.middle.0.residual.0.gamma`` → Wan VAE; ComfyUI reads its
    width from ``decoder.head.0.gamma``): dim 16, z 16, widths x (1, 2, 4, 4), 2 residual
    blocks a stage, temporal down-sampling in stages 2 and 3 (up-sampling mirrored)."""
    mult, temporal_down = (1, 2, 4, 4), (False, True, True)
    shapes: dict[str, Shape] = {
        "encoder.conv1.weight": (dim, 3, 3, 3, 3),
        "encoder.conv1.bias": (dim,),
    }
    widths = [dim * m for m in (1, *mult)]
    index = 0
    for stage, (in_ch, out_ch) in enumerate(itertools.pairwise(widths)):
        for _ in range(2):
            shapes |= _vae_residual(f"encoder.downsamples.{index}", in_ch, out_ch)
            in_ch, index = out_ch, index + 1
        if stage != len(mult) - 1:
            r = f"encoder.downsamples.{index}"
            shapes |= {
                f"{r}.resample.1.weight": (out_ch, out_ch, 3, 3),
                f"{r}.resample.1.bias": (out_ch,),
            }
            if temporal_down[stage]:
                shapes[f"{r}.time_conv.weight"] = (out_ch, out_ch, 3, 1, 1)
                shapes[f"{r}.time_conv.bias"] = (out_ch,)
            index += 1
    top = widths[-1]
    shapes |= _vae_middle("encoder.middle", top)
    shapes |= {
        "encoder.head.0.gamma": (top, 1, 1, 1),
        "encoder.head.2.weight": (2 * z_dim, top, 3, 3, 3),
    }
    shapes |= {"encoder.head.2.bias": (2 * z_dim,)}
    shapes |= {"conv1.weight": (2 * z_dim, 2 * z_dim, 1, 1, 1), "conv1.bias": (2 * z_dim,)}
    shapes |= {"conv2.weight": (z_dim, z_dim, 1, 1, 1), "conv2.bias": (z_dim,)}
    shapes |= {"decoder.conv1.weight": (top, z_dim, 3, 3, 3), "decoder.conv1.bias": (top,)}
    shapes |= _vae_middle("decoder.middle", top)
    widths = [dim * m for m in (mult[-1], *reversed(mult))]
    temporal_up = tuple(reversed(temporal_down))
    index = 0
    for stage, (in_ch, out_ch) in enumerate(itertools.pairwise(widths)):
        if stage in (1, 2, 3):
            in_ch //= 2
        for _ in range(3):
            shapes |= _vae_residual(f"decoder.upsamples.{index}", in_ch, out_ch)
            in_ch, index = out_ch, index + 1
        if stage != len(mult) - 1:
            r = f"decoder.upsamples.{index}"
            half = out_ch // 2
            shapes |= {
                f"{r}.resample.1.weight": (half, out_ch, 3, 3),
                f"{r}.resample.1.bias": (half,),
            }
            if temporal_up[stage]:
                shapes[f"{r}.time_conv.weight"] = (2 * out_ch, out_ch, 3, 1, 1)
                shapes[f"{r}.time_conv.bias"] = (2 * out_ch,)
            index += 1
    shapes |= {"decoder.head.0.gamma": (dim, 1, 1, 1), "decoder.head.2.weight": (3, dim, 3, 3, 3)}
    shapes["decoder.head.2.bias"] = (3,)
    return shapes


def multitalk_patch(dit_dim: int = 160, blocks: int = 40) -> dict[str, Shape]:
    """The InfiniteTalk patch (``audio_proj.proj1.weight`` → ``MultiTalkModelPatch``): 40
    blocks, an audio window of 5 frames (8 for the VAE-frame branch) over 12 wav2vec2-base
    layers of 768, 32 context tokens; intermediate width 32, output 32, input ``dit_dim``."""
    inter, out, tokens, wav2vec = 32, 32, 32, 12 * 768
    shapes = _linear("audio_proj.proj1", inter, 5 * wav2vec)
    shapes |= _linear("audio_proj.proj1_vf", inter, 8 * wav2vec)
    shapes |= _linear("audio_proj.proj2", inter, inter)
    shapes |= _linear("audio_proj.proj3", tokens * out, inter)
    shapes |= {"audio_proj.norm.weight": (out,), "audio_proj.norm.bias": (out,)}
    for i in range(blocks):
        b = f"blocks.{i}"
        shapes |= _linear(f"{b}.audio_cross_attn.q_linear", dit_dim, dit_dim)
        shapes |= _linear(f"{b}.audio_cross_attn.proj", dit_dim, dit_dim)
        shapes |= _linear(f"{b}.audio_cross_attn.kv_linear", 2 * dit_dim, out)
        shapes |= {f"{b}.norm_x.weight": (dit_dim,), f"{b}.norm_x.bias": (dit_dim,)}
    return shapes


def _wav2vec2(hidden: int, layers: int, ffn: int, large: bool) -> dict[str, Shape]:
    """A whole wav2vec2 (``comfy/audio_encoders``): 7 conv feature layers of 512 (kernels
    10, 3 x 5, 2 x 2); ``large`` has a layer norm and bias on every conv, base a group norm on
    the first and no conv biases; weight-normed positional conv of kernel 128, 16 groups."""
    shapes: dict[str, Shape] = {"masked_spec_embed": (hidden,)}
    for i, kernel in enumerate((10, 3, 3, 3, 3, 2, 2)):
        c = f"feature_extractor.conv_layers.{i}"
        shapes[f"{c}.conv.weight"] = (512, 1 if i == 0 else 512, kernel)
        if large:
            shapes[f"{c}.conv.bias"] = (512,)
        if large or i == 0:
            shapes |= {f"{c}.layer_norm.weight": (512,), f"{c}.layer_norm.bias": (512,)}
    shapes |= {
        "feature_projection.layer_norm.weight": (512,),
        "feature_projection.layer_norm.bias": (512,),
    }
    shapes |= _linear("feature_projection.projection", hidden, 512)
    pos = "encoder.pos_conv_embed.conv"
    shapes |= {f"{pos}.bias": (hidden,), f"{pos}.parametrizations.weight.original0": (1, 1, 128)}
    shapes[f"{pos}.parametrizations.weight.original1"] = (hidden, hidden // 16, 128)
    for i in range(layers):
        layer = f"encoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            shapes |= _linear(f"{layer}.attention.{proj}", hidden, hidden)
        shapes |= {f"{layer}.layer_norm.weight": (hidden,), f"{layer}.layer_norm.bias": (hidden,)}
        shapes |= _linear(f"{layer}.feed_forward.intermediate_dense", ffn, hidden)
        shapes |= _linear(f"{layer}.feed_forward.output_dense", hidden, ffn)
        shapes |= {
            f"{layer}.final_layer_norm.weight": (hidden,),
            f"{layer}.final_layer_norm.bias": (hidden,),
        }
    shapes |= {"encoder.layer_norm.weight": (hidden,), "encoder.layer_norm.bias": (hidden,)}
    return shapes


def wav2vec2_large() -> dict[str, Shape]:
    """wav2vec2 large (``encoder.layer_norm.bias`` of 1024 → ComfyUI's fixed large config):
    the whole model, 24 layers of 1024, ffn 4096 (315 M parameters)."""
    return _wav2vec2(hidden=1024, layers=24, ffn=4096, large=True)


def wav2vec2_base() -> dict[str, Shape]:
    """wav2vec2 base (768 → the fixed base config): the whole model, 12 layers of 768,
    ffn 3072 (94 M parameters)."""
    return _wav2vec2(hidden=768, layers=12, ffn=3072, large=False)


def umt5_xxl_partial() -> dict[str, Shape]:
    """The part of umt5-xxl a tiny file holds: ComfyUI's detection key
    ``encoder.block.23.layer.1.DenseReluDense.wi_1.weight`` (10240 x 4096, which selects the
    fixed 24 x 4096 config), every layer norm (``encoder.final_layer_norm.weight`` sets the
    encoder's dtype) and each block's relative-attention bias (32 buckets x 64 heads). ComfyUI
    allocates the missing matrices as zeros and the encode stays finite."""
    shapes: dict[str, Shape] = {}
    for i in range(24):
        b = f"encoder.block.{i}.layer"
        shapes[f"{b}.0.SelfAttention.relative_attention_bias.weight"] = (32, 64)
        shapes[f"{b}.0.layer_norm.weight"] = (TEXT_DIM,)
        shapes[f"{b}.1.layer_norm.weight"] = (TEXT_DIM,)
    shapes["encoder.block.23.layer.1.DenseReluDense.wi_1.weight"] = (10240, TEXT_DIM)
    shapes["encoder.final_layer_norm.weight"] = (TEXT_DIM,)
    return shapes


LAYOUTS: dict[str, Callable[[], dict[str, Shape]]] = {
    "wan22_i2v_t2vtype": wan22_i2v,
    "wan21_i2v": wan21_i2v,
    "wan22_s2v": wan22_s2v,
    "wan21_vae": wan21_vae,
    "multitalk_patch": multitalk_patch,
    "wav2vec2_large": wav2vec2_large,
    "wav2vec2_base": wav2vec2_base,
    "umt5_xxl": umt5_xxl_partial,
}
"""Architecture (the captured layout's key) → its key → shape; umt5's is the partial set."""

TINY_FILES: dict[str, tuple[str, Form]] = {
    "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors": ("wan22_i2v_t2vtype", "fp8_scaled"),
    "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors": ("wan22_i2v_t2vtype", "fp8_scaled"),
    "Wan2.2-I2V-A14B-HighNoise-Q4_K_M.gguf": ("wan22_i2v_t2vtype", "gguf"),
    "Wan2.2-I2V-A14B-LowNoise-Q4_K_M.gguf": ("wan22_i2v_t2vtype", "gguf"),
    "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors": ("wan22_i2v_t2vtype", "lora"),
    "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors": ("wan22_i2v_t2vtype", "lora"),
    "wan2.2_s2v_14B_fp8_scaled.safetensors": ("wan22_s2v", "fp16"),
    "wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors": ("wan22_s2v", "lora"),
    "Wan2_1-I2V-14B-480p_fp8_e4m3fn_scaled_KJ.safetensors": ("wan21_i2v", "fp16"),
    "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors": ("wan21_i2v", "lora"),
    "wan2.1_infiniteTalk_multi_fp16.safetensors": ("multitalk_patch", "fp16"),
    "wan_2.1_vae.safetensors": ("wan21_vae", "fp16"),
    "Wan2_1_VAE_bf16.safetensors": ("wan21_vae", "fp16"),
    "wav2vec2_large_english_fp16.safetensors": ("wav2vec2_large", "fp16"),
    "wav2vec2-chinese-base_fp16.safetensors": ("wav2vec2_base", "fp16"),
    "umt5_xxl_fp8_e4m3fn_scaled.safetensors": ("umt5_xxl", "text_encoder"),
}
"""File name (a row of ``models.toml``) → (the architecture it poses as, how it is stored).

``fp8_scaled``: block linears ``float8_e4m3fn`` with a float32 ``.scale_weight`` each and a
``scaled_fp8`` marker, as Comfy-Org's fp8-scaled checkpoints (``comfy/utils.py``
``convert_old_quants`` turns these into quantized layers); only the Wan 2.2 I2V experts are
stored so, the other "fp8" files as fp16 (ComfyUI detects by keys, not dtype). ``gguf``: the
same tensors un-quantized in a GGUF ``ComfyUI-GGUF`` reads as ``wan``. ``lora``: LoRA keys for
the DiT the file patches. ``text_encoder``: the partial umt5 in fp16 plus ``spiece_model``
(partial fp8 gives NaN in ComfyUI, so fp16 whatever the file name says)."""

_SPIECE_CORPUS = (
    "a portrait of a person talking to the camera",
    "a woman sings a slow song in a quiet room",
    "a man speaks and smiles, soft light from the window",
    "the camera moves slowly around a cat sitting on a chair",
    "waves on the beach at sunset, slow motion, high quality",
    "the quick brown fox jumps over the lazy dog 0123456789",
)


@functools.cache
def spiece_model() -> bytes:
    """A tiny SentencePiece unigram model (serialized ``ModelProto``) for the umt5 tokenizer.

    Trained single-threaded from a fixed in-code corpus, so the bytes are the same every run;
    T5's ids (pad 0, eos 1, unk 2, no bos), at most 64 pieces: every id is far below umt5's
    256384-row embedding. ComfyUI reads it from the ``spiece_model`` tensor
    (``comfy/text_encoders/wan.py``, ``spiece_tokenizer.py``).
    """
    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_SPIECE_CORPUS * 4),
        model_writer=out,
        vocab_size=64,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    return out.getvalue()


def _value_spec(key: str, shape: Shape, dtype: Dtype) -> TensorSpec:
    """Norm scales and VAE gammas 1.0, 1-D biases 0, everything else random."""
    if key.endswith(".gamma") or (len(shape) == 1 and key.endswith(".weight")):
        return TensorSpec(shape, dtype, "constant", 1.0)
    if len(shape) == 1 and key.endswith(".bias"):
        return TensorSpec(shape, dtype, "constant", 0.0)
    return TensorSpec(shape, dtype)


def _is_block_linear(key: str) -> bool:
    parts = key.split(".")
    return (
        parts[0] == "blocks"
        and key.endswith(".weight")
        and (
            (parts[2] in ("self_attn", "cross_attn") and parts[3] in ("q", "k", "v", "o"))
            or parts[2] == "ffn"
        )
    )


def _tensors(architecture: str, form: Form) -> dict[str, TensorSpec]:
    shapes = LAYOUTS[architecture]()
    if form == "lora":
        tensors: dict[str, TensorSpec] = {}
        for layer in LORA_LAYERS:
            out_features, in_features = shapes[f"blocks.0.{layer}.weight"]
            prefix = f"diffusion_model.blocks.0.{layer}"
            tensors[f"{prefix}.lora_up.weight"] = TensorSpec((out_features, LORA_RANK), "F16")
            tensors[f"{prefix}.lora_down.weight"] = TensorSpec((LORA_RANK, in_features), "F16")
            tensors[f"{prefix}.alpha"] = TensorSpec((), "F32", "constant", float(LORA_RANK))
        return tensors
    if form == "gguf":
        # ComfyUI-GGUF's converter keeps 1-D tensors, ``.modulation`` and 5-D ones in F32.
        return {
            key: _value_spec(
                key,
                shape,
                "F32" if len(shape) <= 1 or len(shape) > 4 or "modulation" in key else "F16",
            )
            for key, shape in shapes.items()
        }
    tensors = {}
    for key, shape in shapes.items():
        if form == "fp8_scaled" and _is_block_linear(key):
            tensors[key] = TensorSpec(shape, "F8_E4M3", "fp8")
            tensors[key.removesuffix(".weight") + ".scale_weight"] = TensorSpec(
                (), "F32", "constant", FP8_SCALE
            )
        else:
            tensors[key] = _value_spec(key, shape, "F16")
    if form == "fp8_scaled":
        # The marker ``convert_old_quants`` keys on: its dtype names the fp8 format; an empty
        # one (not 2 elements) asks for no full-precision matmul, as Comfy-Org's files have.
        tensors["scaled_fp8"] = TensorSpec((0,), "F8_E4M3", "constant", 0.0)
    if form == "text_encoder":
        tensors["spiece_model"] = TensorSpec((len(spiece_model()),), "U8", "spiece")
    return tensors


def file_spec(name: str) -> FileSpec:
    """The tiny file for ``name``, a row of ``models.toml``; ``KeyError`` for a file that has
    no tiny recipe (``TINY_FILES``) or is not in the table."""
    row = model_file(name)
    try:
        architecture, form = TINY_FILES[name]
    except KeyError:
        raise KeyError(f"{name!r} has no tiny recipe in pipeline/weights/tiny.py") from None
    return FileSpec(name, row.folder, architecture, form, _tensors(architecture, form))


def tiny_specs(presets: Iterable[str] | None = None) -> list[FileSpec]:
    """One spec per file the presets name (every shipped preset when ``None``), sorted by
    folder and name; ``UnknownPreset`` (listing the known ones) for a name not shipped."""
    chosen = [preset(name) for name in presets] if presets is not None else list(PRESETS.values())
    names = {file for p in chosen for file in p.files()}
    return sorted((file_spec(name) for name in names), key=lambda s: (s.folder, s.name))


# ---- writing ----


def _values(spec: TensorSpec, rng: np.random.Generator) -> np.ndarray:
    values: np.ndarray
    if spec.fill == "spiece":
        values = np.frombuffer(spiece_model(), dtype=np.uint8)
    elif spec.fill == "constant":
        values = np.full(spec.shape, spec.value, dtype=_NUMPY[spec.dtype])
    elif spec.fill == "fp8":
        sign = rng.integers(0, 2, spec.shape, dtype=np.uint8) << 7
        exponent = rng.integers(1, 8, spec.shape, dtype=np.uint8) << 3
        values = sign | exponent | rng.integers(0, 8, spec.shape, dtype=np.uint8)
    else:
        drawn = rng.standard_normal(spec.shape, dtype=np.float32) * np.float32(WEIGHT_STD)
        values = drawn.astype(_NUMPY[spec.dtype])
    return values


def _write_safetensors(spec: FileSpec, out: io.BufferedWriter) -> None:
    """The safetensors format: u64 header length, a JSON header (padded to 8 bytes), the
    tensors' little-endian bytes back to back in spec order."""
    header: dict[str, object] = {}
    offset = 0
    for key, tensor in spec.tensors.items():
        header[key] = {
            "dtype": tensor.dtype,
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + tensor.nbytes],
        }
        offset += tensor.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    out.write(len(text).to_bytes(8, "little") + text)
    rng = np.random.default_rng(spec.seed)
    for tensor in spec.tensors.values():
        values = _values(tensor, rng)
        out.write(values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes())


def _write_gguf(spec: FileSpec, path: Path) -> None:
    # The writer logs every file at INFO; the command reports its own progress.
    logging.getLogger("gguf.gguf_writer").setLevel(logging.WARNING)
    writer = gguf.GGUFWriter(str(path), "wan")
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    rng = np.random.default_rng(spec.seed)
    for key, tensor in spec.tensors.items():
        writer.add_tensor(key, _values(tensor, rng))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_file(spec: FileSpec, models_dir: Path) -> Path:
    """Write ``spec`` to ``models_dir/folder/name`` (folders created), replacing any file
    there only once it is complete; returns its path."""
    path = models_dir / spec.folder / spec.name
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if spec.form == "gguf":
        _write_gguf(spec, partial)
    else:
        with partial.open("wb") as out:
            _write_safetensors(spec, out)
    partial.replace(path)
    return path
