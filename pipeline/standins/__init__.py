"""Stand-ins for the services that cannot run here, each speaking the real protocol.

``comfy_sim`` plays a ComfyUI server (as captured in the contract), ``cf_queues_sim`` the
Cloudflare Queues pull API, ``tiny_demucs`` a Demucs model small enough to build in a test,
``framecode`` stamps frame numbers into video. Only the embedded stack (``make demo``), the
tests and the benchmarks import them (import-linter enforces it).
"""
