"""The real tier's profile: what keeps a CPU run of every preset near five minutes.

The capture's profile (``pipeline.comfy.capture.graphs``), one truth for both: one prompt
text for every kind (``PROMPT``: ComfyUI keeps a node's output while the next prompt still has
that node, so an unchanged text encode is not run again), 96 x 64 frames where the tier posts
graphs itself and the manifest's smallest, ``MIN_SIDE`` square, in its drops, and the core node
``T5TokenizerOptions(min_padding=0, min_length=0)`` after each ``CLIPLoader``
(``with_tokenizer_options``): ComfyUI pads every prompt to 512 tokens, and a CPU encode of 512
tokens takes 57-122 s against 9 s for the prompt's own 37 (``shared/notes/real-comfyui.md``).
The shipped graphs never carry it; only this tier's GPU worker adds it
(``tests/real_comfyui/gpu_worker.py``).
"""

from __future__ import annotations

from pipeline.comfy.capture.graphs import HEIGHT, PROMPT, WIDTH, with_tokenizer_options
from pipeline.domain.manifest import MIN_SIDE

__all__ = ["HEIGHT", "MIN_SIDE", "PROMPT", "WIDTH", "with_tokenizer_options"]
