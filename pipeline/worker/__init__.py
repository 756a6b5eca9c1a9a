"""Worker processes: ``run`` starts a cpu or gpu Temporal worker, ``registry`` announces
what a GPU worker's ComfyUI can serve."""
