"""Model weights: the lockfile, and syncing a models directory to it.

``lock`` (the ``deploy/models.lock`` model), ``presets`` (its files, derived from the
presets), ``fetch`` (one resumable download), ``sync`` (check and fill a models directory)
and ``pin`` (sizes and hashes measured from a trusted mirror).
"""
