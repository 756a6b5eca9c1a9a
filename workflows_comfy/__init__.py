"""ComfyUI graphs: builders per kind (``i2v``, ``s2v``, ``infinitetalk``), model presets, and
validation against a server's ``/object_info`` exactly as ComfyUI's ``POST /prompt`` does.

- ``graph`` (the typed builder), ``build`` (one entry point from a segment to its graph);
- ``presets`` (every shipped preset and the preset rules), ``models`` (the ``models.toml``
  files table), ``templates`` (the official template each follows, and each deviation);
- ``preset_file`` (``PRESETS_FILE``) and ``bound`` (an operator's exported graph with a
  binding table);
- ``object_info`` (typed look-ups), ``validate`` with ``validate_inputs`` (ComfyUI's own
  checks), ``servable`` (which presets a server can run).

The GPU activities (``activities.comfy``) build a segment's graph here and validate it before
queueing it; comfy-sim (``pipeline.standins``) answers with the same validator.
"""
