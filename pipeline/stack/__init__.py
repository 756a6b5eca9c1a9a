"""The embedded stack (``pipeline up``): the Temporal dev server, SeaweedFS (the object store)
and comfy-sim as child processes, the workers beside them, kept running by the supervisor."""
