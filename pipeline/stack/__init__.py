"""The embedded stack (``pipeline up``): the Temporal dev server, SeaweedFS (the object store)
and comfy-sim as child processes, the workers beside them, kept running by the supervisor.

``embedded`` (the services for a configuration), ``services`` (how each is launched and
known ready), ``seaweedfs`` (one ``weed server``), ``process`` (a child in its own process
group), ``supervisor`` (``Stack``: start, restart, stop as one), ``state`` (what a running
stack leaves in its state dir), ``provision`` (the bucket and its SQS wiring),
``temporal_setup`` (search attributes and the reconcile schedule) and ``signing`` (the
workers' signing credential: the configured one or the development CA and leaf).
"""
