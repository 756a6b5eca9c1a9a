"""Re-recording, from any running ComfyUI, what comfy-sim must copy (``pipeline comfyui
capture``; ``docs/comfyui-capture.md``).

``graphs`` (the scenarios' graphs, from the project's builders, and the capture-only
``T5TokenizerOptions`` edit), ``nodes`` (which ``/object_info`` entries to keep: those the
presets' and examples' graphs use), ``record`` (WebSocket transcripts and HTTP exchanges as
data) and ``run`` (one capture: the scenarios against a server, the layout written).
"""
