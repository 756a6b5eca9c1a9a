"""Model weights: the lockfile, and syncing a models directory to it."""
