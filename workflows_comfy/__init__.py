"""ComfyUI graphs: builders per kind (``i2v``, ``s2v``, ``infinitetalk``), model presets, and
validation against a server's ``/object_info`` exactly as ComfyUI's ``POST /prompt`` does.

The GPU activities (``activities.comfy``) build a segment's graph here and validate it before
queueing it; comfy-sim (``pipeline.standins``) answers with the same validator.
"""
