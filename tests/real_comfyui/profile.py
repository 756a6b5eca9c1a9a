"""The real tier's profile: what keeps a CPU run of every preset near five minutes.

One prompt text for every kind (``PROMPT``: ComfyUI keeps a node's output while the next
prompt still has that node, so an unchanged text encode is not run again), 96 x 64 frames, and
the core node ``T5TokenizerOptions(min_padding=0, min_length=0)`` after each ``CLIPLoader``:
ComfyUI pads every prompt to 512 tokens, and a CPU encode of 512 tokens takes 57-122 s
against 9 s for the prompt's own 37 (``shared/notes/real-comfyui.md``). The shipped graphs
never carry it; only this tier's GPU worker adds it (``tests/real_comfyui/gpu_worker.py``).
"""

from __future__ import annotations

import copy

from workflows_comfy.graph import ApiGraph

PROMPT = "a portrait of a person talking to the camera"
WIDTH, HEIGHT = 96, 64


def with_tokenizer_options(graph: ApiGraph) -> ApiGraph:
    """``graph`` with a ``T5TokenizerOptions`` between each ``CLIPLoader`` and the nodes that
    read its ``CLIP`` (output 0); new nodes take the next free numeric ids."""
    out = copy.deepcopy(graph)
    next_id = max((int(node_id) for node_id in graph if node_id.isdigit()), default=0) + 1
    loaders = [node_id for node_id, node in graph.items() if node["class_type"] == "CLIPLoader"]
    for loader in loaders:
        options = str(next_id)
        next_id += 1
        for node in out.values():
            node["inputs"] = {
                name: [options, 0] if value == [loader, 0] else value
                for name, value in node["inputs"].items()
            }
        out[options] = {
            "class_type": "T5TokenizerOptions",
            "inputs": {"clip": [loader, 0], "min_padding": 0, "min_length": 0},
            "_meta": {"title": "T5 tokenizer options (real tier only)"},
        }
    return out
