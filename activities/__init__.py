"""Temporal activities: the I/O edge of
``inbox/ → ingest → SessionWorkflow → activities → sessions/{id}/``.

Each takes one contract model and returns one (``pipeline.domain.contracts``): ``intake``
takes the drop out of ``inbox/``, ``media`` and ``separation`` prepare image and audio on CPU
workers, ``comfy`` generates segments on GPU workers, ``records`` writes ``sessions/{id}/``,
``reconcile`` lists the inbox; ``edge`` turns pipeline errors into Temporal's.
"""
