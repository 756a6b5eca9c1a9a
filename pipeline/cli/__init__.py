"""The ``pipeline`` command: one module per group of subcommands.

Operators and scripts drive the flow
``inbox/ → ingest → SessionWorkflow → activities → sessions/{id}/`` from here:
``drop`` puts a drop in ``inbox/``, ``ingest`` and ``worker`` run the services, ``status``
joins Temporal's view with ``sessions/{id}/`` (``session_view``), ``up``/``down`` run the
embedded stack, ``doctor`` checks a deployment.
"""
