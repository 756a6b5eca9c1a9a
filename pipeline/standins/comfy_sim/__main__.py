"""``python -m pipeline.standins.comfy_sim``: serve comfy-sim until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from pipeline.shutdown import run_until_signalled
from pipeline.standins.comfy_sim.server import run_sim


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.standins.comfy_sim",
        description="A ComfyUI stand-in without GPU or weights.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188, help="0 picks a free port")
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="holds input/, output/ and temp/ (created if missing)",
    )
    parser.add_argument(
        "--step-delay", type=float, default=0.02, help="seconds per simulated sampling step"
    )
    parser.add_argument(
        "--text-encode-s",
        type=float,
        default=0.0,
        help="seconds each CLIPTextEncode works without sending anything (real CPU: 57-122)",
    )
    parser.add_argument(
        "--model-load-s",
        type=float,
        default=0.0,
        help="seconds each model loader works without sending anything",
    )
    parser.add_argument(
        "--hide-model",
        action="append",
        default=[],
        metavar="FILE",
        help="leave this model file out of every loader's list (repeatable)",
    )
    parser.add_argument(
        "--rename-model",
        action="append",
        default=[],
        metavar="SHIPPED=NAME",
        help="offer a model file under another name, as a studio's box may (repeatable)",
    )
    args = parser.parse_args(argv)
    for rename in args.rename_model:
        if "=" not in rename:
            parser.error(f"--rename-model takes SHIPPED=NAME, got {rename!r}")
    return args


async def _serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    renamed = dict(rename.split("=", 1) for rename in args.rename_model)
    async with run_sim(
        args.host,
        args.port,
        args.data_dir,
        args.step_delay,
        frozenset(args.hide_model),
        renamed_models=renamed,
        text_encode_s=args.text_encode_s,
        model_load_s=args.model_load_s,
    ) as base_url:
        print(f"comfy-sim listening on {base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    run_until_signalled(lambda stop: _serve(args, stop))


if __name__ == "__main__":
    main()
