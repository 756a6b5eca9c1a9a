"""A tiny untrained HTDemucs, saved the way Demucs publishes its models (``demucs.hf``).

The real loader reads these files exactly as it reads htdemucs: a ``.safetensors`` whose
metadata names the class and its arguments, and a bag ``.yaml`` listing signatures. Its
output is noise-like, so it proves plumbing (shapes, rates, lengths), not quality.
Needs the ``separation`` extra.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

SOURCES = ("drums", "bass", "other", "vocals")
TINY_ARCHITECTURE: dict[str, Any] = {
    "channels": 8,
    "depth": 2,
    "nfft": 512,
    "t_layers": 1,
    "t_heads": 1,
    "segment": Fraction(1),
}
"""24 k weights instead of htdemucs's 42 M: several times real time on one CPU core."""


def build_htdemucs(seed: int = 0, sources: tuple[str, ...] = SOURCES, **architecture: Any) -> Any:
    """An untrained HTDemucs; ``architecture`` overrides htdemucs's defaults."""
    import torch
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    return HTDemucs(sources=list(sources), **architecture).eval()


def build_tiny_htdemucs(seed: int = 0, sources: tuple[str, ...] = SOURCES) -> Any:
    return build_htdemucs(seed, sources, **TINY_ARCHITECTURE)


def _to_json(value: Any) -> Any:
    """``demucs.hf._decode_json``'s encoding: fractions as tagged objects."""
    if isinstance(value, Fraction):
        return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    return value


STAND_IN_LABEL = (
    "tiny untrained HTDemucs (embedded stand-in: set DEMUCS_MODEL_PATH for real separation)"
)
"""What ``result.json`` (``stand_ins``) and ``pipeline workers`` say of vocals it made."""
STAND_IN_KEY = "stand_in"
"""The ``.safetensors`` metadata key that marks a model as a stand-in, wherever it is copied."""
STAND_IN_FILE = "tiny-htdemucs.safetensors"


def save_safetensors(model: Any, path: Path, *, stand_in: str | None = None) -> Path:
    """Write ``model`` as one Demucs ``.safetensors`` file (weights, class, arguments).

    ``stand_in`` labels the file (metadata ``stand_in``) as not a real separation model.
    """
    from safetensors.torch import save_file

    args, kwargs = model._init_args_kwargs
    klass = type(model)
    metadata = {
        "klass": f"{klass.__module__}.{klass.__name__}",
        "args": json.dumps(_to_json(list(args))),
        "kwargs": json.dumps(_to_json(kwargs)),
    }
    if stand_in is not None:
        metadata[STAND_IN_KEY] = stand_in
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(path), metadata=metadata)
    return path


def save_bag(models: list[Any], folder: Path, name: str = "tiny") -> Path:
    """A bag of models as Demucs lays one out: ``{name}.yaml`` beside each signature's file."""
    folder.mkdir(parents=True, exist_ok=True)
    signatures = [f"{name}{index:04d}" for index in range(len(models))]
    for signature, model in zip(signatures, models, strict=True):
        save_safetensors(model, folder / f"{signature}.safetensors")
    bag = folder / f"{name}.yaml"
    bag.write_text(json.dumps({"models": signatures}) + "\n")  # JSON is valid YAML
    return bag


def ensure_stand_in(folder: Path) -> Path | None:
    """The embedded stack's separation model: built once (seed 0) into ``folder``.

    A Demucs of the real architecture, so every kind runs end to end with default settings
    where no pretrained weights can be downloaded; labelled a stand-in in its metadata.
    ``None`` when torch and demucs (the ``separation`` extra) are not installed.
    """
    path = folder / STAND_IN_FILE
    if path.is_file():
        return path
    try:
        import demucs.htdemucs  # noqa: F401
    except ImportError:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    save_safetensors(build_tiny_htdemucs(), partial, stand_in=STAND_IN_LABEL)
    partial.replace(path)
    return path
