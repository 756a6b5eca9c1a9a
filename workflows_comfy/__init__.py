"""ComfyUI graph builders, model presets and graph validation against object_info."""
