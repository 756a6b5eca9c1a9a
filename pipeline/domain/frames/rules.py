"""The rules behind every frame count in a plan, each with where its number comes from.

Pure integer arithmetic; ``pipeline.domain.frames.plan`` assembles plans from these.
"""

from __future__ import annotations

import math

WAN_SEGMENT_FRAMES = 81
"""Wan 2.x generates 81 frames per window (5 s at 16 fps): seeds 000, 003, 004."""

WAN_TEMPORAL_STRIDE = 4
"""The Wan VAE compresses time by 4, so a clip is 4·n + 1 frames (WanImageToVideo's step)."""

WAN_SHORTEST_CLIP = WAN_TEMPORAL_STRIDE + 1
"""One latent frame decodes to a single still; two are the shortest clip that moves."""

I2V_LAST_FRAME_OVERLAP = 1
"""An extension conditioned on the previous segment's last frame re-renders that frame."""

INFINITETALK_WINDOW_FRAMES = 81
"""InfiniteTalk renders 81-frame windows: ``WanInfiniteTalkToVideo.length`` in Comfy-Org's
``video_wan2_1_infinitetalk`` template (seed 001 agrees)."""

INFINITETALK_MOTION_FRAMES = 9
"""Each InfiniteTalk window re-renders the previous window's last 9 frames:
``motion_frame_count``'s default (ComfyUI ``comfy_extras/nodes_wan.py``), kept by the template."""

S2V_FPS = 16
"""``wan_sound_to_video`` (ComfyUI comfy_extras/nodes_wan.py) hard-codes ``fps = 16``."""

S2V_CHUNK_LENGTH = 77
"""``WanSoundImageToVideo``'s ``length`` default (object_info: default 77, step 4)."""

S2V_MOTION_FRAMES = 73
"""``wan_sound_to_video`` shows each chunk the last 19 latents (73 frames) as motion."""

S2V_DECODE_LOSS = WAN_TEMPORAL_STRIDE - 1
"""The first latent of a decode yields one frame instead of four: 3 frames fewer."""

S2V_CHUNKS_PER_PROMPT = 3
"""The most S2V chunks one segment (one ComfyUI prompt) renders: 15 s of video.

What grows with a prompt's chunks is its decode and its run time, not its sampling memory
(each chunk samples only its own 20 latents beside 19 of motion). Decoded frames are
float32 ``H x W x 3`` (4.79 MB each at 832x480, the issue's 46 GB for 9,597 frames): a
segment decodes at most ``73 + 3 x 80 = 313`` of them, 1.5 GB, wherever the clip ends.
Time: a chunk of the ``-nolora`` preset takes 20 steps at cfg 6, 40 passes of the 14B model
over about 62 k tokens (40 latent frames of 60 x 104 / 4 patches); at roughly 7 s a pass on
an H100 (an estimate scaled from Wan 2.1 14B's 480p timings, not measured here) that is
about 280 s a chunk, so three chunks plus model loads, text encode and decode stay near
half of the default 1,800 s ``COMFYUI_TIMEOUT_S``, leaving room for a card half as fast.
The LightX2V presets (4 steps, cfg 1: 4 passes) could take more, but one constant keeps
the plan independent of the preset. ``S2V_CHUNKS_PER_PROMPT`` chunks or fewer plan exactly
the one-prompt graph of before."""

_PRECISION = 6
"""Decimal places kept of ``seconds * fps`` before rounding up, so 7.0 s at 25 fps is 175."""


def is_wan_length(frames: int) -> bool:
    """True for frame counts Wan can generate: 4·n + 1 (``WAN_TEMPORAL_STRIDE``)."""
    return frames >= 1 and (frames - 1) % WAN_TEMPORAL_STRIDE == 0


def audio_frames(audio_s: float, fps: int) -> int:
    """Frames needed to show all of ``audio_s``: a partial last frame counts as one."""
    if audio_s <= 0 or fps < 1:
        raise ValueError(f"audio length ({audio_s} s) and fps ({fps}) must be positive")
    return max(1, math.ceil(round(audio_s * fps, _PRECISION)))


def nearest_wan_length(frames: float, *, lowest: int = WAN_SHORTEST_CLIP, highest: int) -> int:
    """The 4·n + 1 count nearest ``frames`` within ``[lowest, highest]``; ties go longer."""
    stride = WAN_TEMPORAL_STRIDE
    floor_valid = lowest + (-(lowest - 1)) % stride
    ceiling_valid = highest - (highest - 1) % stride
    if floor_valid > ceiling_valid:
        raise ValueError(f"no 4·n + 1 length lies between {lowest} and {highest}")
    below = stride * math.floor((frames - 1) / stride) + 1
    candidates = {min(max(c, floor_valid), ceiling_valid) for c in (below, below + stride)}
    return min(candidates, key=lambda c: (abs(c - frames), -c))


def stitched_frames(lengths: tuple[int, ...], overlap: int) -> int:
    """Frames left once each segment after the first drops the ``overlap`` it re-renders."""
    return lengths[0] + sum(length - overlap for length in lengths[1:])


def i2v_segment_lengths(frames: float, segment_length: int, overlap: int) -> tuple[int, ...]:
    """Segment lengths whose stitched total is the valid count nearest ``frames``.

    Valid counts are those of seed 004's shape: full ``segment_length`` segments, each
    extension adding ``segment_length - overlap`` frames, then at most one shorter last
    extension of 4·n + 1 frames (longer than the overlap it re-renders). Ties go longer.
    """
    if frames <= segment_length:
        return (nearest_wan_length(frames, highest=segment_length),)
    stride = segment_length - overlap
    full = math.floor((frames - segment_length) / stride)
    whole = (segment_length,) * (full + 1)
    base = segment_length + full * stride
    last = nearest_wan_length(frames - base + overlap, lowest=overlap + 1, highest=segment_length)

    def distance(lengths: tuple[int, ...]) -> tuple[float, int]:
        total = stitched_frames(lengths, overlap)
        return abs(total - frames), -total

    return min((whole, (*whole, last)), key=distance)


def infinitetalk_total(windows: int) -> int:
    """Seed 001's table: ``valid_frames = 81 + (n - 1) x 72`` for ``n`` windows."""
    if windows < 1:
        raise ValueError(f"windows must be >= 1, not {windows}")
    stride = INFINITETALK_WINDOW_FRAMES - INFINITETALK_MOTION_FRAMES
    return INFINITETALK_WINDOW_FRAMES + (windows - 1) * stride


def infinitetalk_windows(frames: int) -> int:
    """The fewest windows whose ``infinitetalk_total`` covers ``frames`` (7 s → 3, seed 001)."""
    stride = INFINITETALK_WINDOW_FRAMES - INFINITETALK_MOTION_FRAMES
    return 1 + max(0, math.ceil((frames - INFINITETALK_WINDOW_FRAMES) / stride))


def s2v_chunk_frames(chunk_length: int) -> int:
    """Frames one S2V chunk moves on in the audio and the decoded video.

    ``wan_sound_to_video``: ``latent_t = ((length - 1) // 4) + 1``,
    ``batch_frames = latent_t * 4``, and ``frame_offset += batch_frames``; ``…Extend``
    restarts at ``video_latent.shape[-3] * 4``, the same sum.
    """
    if not is_wan_length(chunk_length):
        raise ValueError(f"S2V chunk length {chunk_length} is not 4·n + 1 (object_info step 4)")
    return ((chunk_length - 1) // WAN_TEMPORAL_STRIDE + 1) * WAN_TEMPORAL_STRIDE


def s2v_total_frames(chunk_length: int, chunks: int) -> int:
    """Frames decoded from ``chunks`` concatenated chunk latents: ``(latents - 1)·4 + 1``."""
    if chunks < 1:
        raise ValueError(f"chunks must be >= 1, not {chunks}")
    return chunks * s2v_chunk_frames(chunk_length) - S2V_DECODE_LOSS


def s2v_chunks(frames: int, chunk_length: int) -> int:
    """The fewest chunks whose ``s2v_total_frames`` covers ``frames``."""
    step = s2v_chunk_frames(chunk_length)
    return max(1, math.ceil((frames + S2V_DECODE_LOSS) / step))


def s2v_segment_chunks(chunks: int, per_segment: int) -> tuple[int, ...]:
    """Chunks per segment: ``per_segment`` each (``S2V_CHUNKS_PER_PROMPT``), the rest last.

    ``(chunks,)`` when they fit one segment, so short clips keep their one-prompt plan.
    """
    if chunks < 1 or per_segment < 1:
        raise ValueError(f"chunks ({chunks}) and per_segment ({per_segment}) must be >= 1")
    full, rest = divmod(chunks, per_segment)
    return (per_segment,) * full + ((rest,) if rest else ())


def s2v_segment_frames(chunk_length: int, chunks: int, *, first: bool) -> int:
    """Frames a segment of ``chunks`` chunks adds to the clip.

    The first segment decodes from latent 0 (``s2v_total_frames``: 3 frames short). A later
    one decodes its latents behind the previous segment's re-encoded last 73 frames (19
    latents, ``workflows_comfy.s2v``) and drops those 73, so each of its latents gives 4
    frames, as it would in the middle of one long decode: the segments then add up to
    ``s2v_total_frames`` of all the chunks.
    """
    if first:
        return s2v_total_frames(chunk_length, chunks)
    if chunks < 1:
        raise ValueError(f"chunks must be >= 1, not {chunks}")
    return chunks * s2v_chunk_frames(chunk_length)
