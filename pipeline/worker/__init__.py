"""Worker processes: ``run`` starts a cpu or gpu Temporal worker, ``gpu`` the GPU worker's
queues, admission and announcements (the fleet they rely on is ``pipeline.fleet``)."""
