"""Model weights: the lockfile, syncing a models directory to it, and tiny stand-ins.

``lock`` (the ``deploy/models.lock`` model), ``presets`` (its files, derived from the
presets), ``fetch`` (one resumable download), ``sync`` (check and fill a models directory),
``pin`` (sizes and hashes measured from a trusted mirror) and ``tiny`` (tiny stand-ins of the
presets' files that a real ComfyUI detects as the real models, for tests and demos on a CPU).
"""
