"""The ``pipeline`` command: one module per group of subcommands.

Operators and scripts drive the flow
``inbox/ → ingest → SessionWorkflow → activities → sessions/{id}/`` from here:

- ``app``: the root group ``cli``, settings and logging built once, one ``error:`` line per
  failure; ``context``: the ``App`` every subcommand receives, and the exit codes;
- ``drop`` (``drop``, ``demo``) with ``upload`` (media first, the manifest last) and
  ``sample`` (the demo's image); ``follow``: the progress loop of ``drop --wait``, ``demo``
  and ``tail``;
- ``status`` (``status``, ``schema``) and ``sessions`` (``tail``, ``ls``, ``cancel``), which
  read ``session_view`` (Temporal's view joined with ``sessions/{id}/``), ``callback_view``
  (a finished session's completion callback: retrying, delivered, given up) and ``targets``
  (what an id names: a session and its running reruns, one rerun, or a batch);
- ``cost`` (``cost``: what the runs in a window used and cost, by preset, kind or prefix);
- ``reprocess`` (``reprocess``), ``rerender`` (one session again from a segment on),
  ``schedule`` (``schedule …``, the batches' Temporal
  Schedules) with ``schedule_spec`` (a schedule's cron lines, time zone and clock-change
  warnings) and ``setup`` (``setup temporal``, ``setup schedules``, ``setup bucket``), with
  ``gc`` (what the retention rules expire, by listing);
- ``services`` (``worker cpu|gpu``, ``ingest``), ``stack`` (``up``/``down``), ``workers``,
  ``doctor``, ``models`` (the weights of ``deploy/models.lock``) and ``comfyui``
  (``comfyui capture``: a ComfyUI's answers recorded as comfy-sim's data); ``verify``
  (an output's C2PA Content Credentials, from a file, a URL or a session);
- ``terminal`` (whether progress is drawn, and every bar) and ``params`` (the duration and
  moment option types).
"""
