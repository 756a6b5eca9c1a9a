"""comfy-sim: a stand-in for a ComfyUI server, for tests and local runs without a GPU.

It speaks ComfyUI's HTTP + WebSocket API as captured from a real ComfyUI 0.33.0 (commit
783545f) in ``contract/`` (README.md, object_info.json, system_stats.json, and the
transcripts/ and http/ exchanges the replay and HTTP tests hold it to), validates graphs like
it (``workflows_comfy.validate``), and "runs" the nodes the pipeline uses: loaders return
stand-ins, samplers spend ``step_delay`` per step, and video nodes write real H.264 MP4s
whose frames carry frame codes (``pipeline.standins.framecode``).

``contract/README.md`` says where every entry of that data came from.

Faults are injected with ``POST /sim/faults`` (see ``faults``): node faults that fail or
stall a prompt, and defects whose prompt succeeds with black, frozen, tinted or jumping
frames; ``GET /sim/record`` lists the ``/free`` and ``/interrupt`` requests the sim received.

The modules, from the wire inwards: ``server`` (the aiohttp application, ``run_sim``) and
``sim`` (one instance wired together); ``api`` (ComfyUI's JSON routes), ``jobs`` (the
``/api/jobs`` answers), ``files`` (upload and ``/view``), ``hub`` (``/ws`` and its fan-out),
``control`` (the sim's own routes: faults, records); ``prompt_queue`` (pending, running,
``/history``), ``executor`` (one prompt at a time), ``prompt_run`` (one prompt's messages),
``schedule`` (which node runs next), ``cache`` (unchanged nodes not run again), ``progress``
(``progress_state``), ``faults`` (node faults and defects); the nodes: ``node_api`` (the
evaluator contract), ``nodes`` (the registry), ``values`` (what flows along links),
``video_nodes``, ``sound_nodes``, ``infinitetalk_nodes``, ``render`` (frames, spoiled by a
defect, and real H.264 files); ``object_info`` (the
contract's ``/object_info``), ``paths`` (the data dir and file-name rules) and ``tracebacks``
(ComfyUI's validation tracebacks).

Run it with ``python -m pipeline.standins.comfy_sim --port 8188 --data-dir DIR``, or in tests
with ``async with run_sim(port=0, data_dir=...) as base_url``.
"""

from pipeline.standins.comfy_sim.server import create_app, run_sim
from pipeline.standins.comfy_sim.sim import SimConfig

__all__ = ["SimConfig", "create_app", "run_sim"]
