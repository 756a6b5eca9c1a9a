"""Vocal separation with Demucs (htdemucs): the vocals drive lip-sync, the mix stays intact.

Weights come only from the local file config names (``DEMUCS_MODEL_PATH``), never from a
hub, in the layout Demucs publishes its models in (``demucs.hf``): one model's
``.safetensors`` (class and arguments in its metadata), or a bag's ``.yaml`` beside its
``{signature}.safetensors`` files. torch and demucs are the optional ``separation`` extra,
imported where used, so workers without them can import this module and say what is missing.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.domain.errors import InternalError, SeparationUnavailable
from pipeline.media.process import FFMPEG, FFMPEG_GLOBAL_ARGS, stderr_tail

VOCALS = "vocals"
SHIFTS = 0
"""Random time shifts averaged per run. The demucs command line's default is 1, but one
shift averages nothing: it only moves the mix by a random offset (Python's global
``random``), so the same mix gave different vocals on every attempt. With 0 a retried
activity or a rerun hears exactly what the first attempt heard; the quality is the same
in expectation (shifts > 1 trade N times the time for up to +0.2 dB SDR, Demucs README)."""
OVERLAP = 0.25
"""Overlap between the model's segments: the demucs command line's default."""
_SILENT_STD = 1e-8
"""Below this the mix is silence: normalizing by its spread would divide by zero."""


@dataclass(frozen=True)
class Separated:
    path: Path
    sample_rate: int
    channels: int
    duration_s: float
    device: str


def pick_device() -> str:
    """The GPU when torch sees one, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


BAG_SUFFIXES = (".yaml", ".yml")
"""A bag of models is a YAML file naming ``{signature}.safetensors`` files beside it."""


def _bag(path: Path) -> tuple[list[Path], dict[str, Any]]:
    """A bag's model files and its whole document (``models``, ``weights``, ``segment``)."""
    import yaml

    bag = yaml.safe_load(path.read_text())
    return [path.parent / f"{sig}.safetensors" for sig in bag.get("models", [])], bag


def _load_model(path: Path) -> Any:
    from demucs.apply import BagOfModels
    from demucs.hf import load_safetensors_model

    if path.suffix == ".safetensors":
        return load_safetensors_model(path)
    if path.suffix in BAG_SUFFIXES:
        files, bag = _bag(path)
        models = [load_safetensors_model(file) for file in files]
        return BagOfModels(models, bag.get("weights"), bag.get("segment"))
    raise SeparationUnavailable(
        f"DEMUCS_MODEL_PATH {path} is neither a .safetensors model nor a .yaml bag of models"
    )


def load_separator(path: Path, device: str | None = None) -> VocalSeparator:
    """Load the Demucs model at ``path`` for ``device`` (the GPU when there is one)."""
    try:
        import demucs.hf  # noqa: F401
    except ImportError as exc:
        raise SeparationUnavailable(
            "vocal separation needs torch and demucs on this worker: "
            "pip install 'wan-pipeline[separation]'"
        ) from exc
    if not path.is_file():
        raise SeparationUnavailable(f"DEMUCS_MODEL_PATH {path} is not a file on this worker")
    try:
        model = _load_model(path)
    except SeparationUnavailable:
        raise
    except Exception as exc:  # any way a model file can be unusable is a deployment problem
        raise SeparationUnavailable(f"cannot load the Demucs model {path.name}: {exc!r}") from exc
    if VOCALS not in model.sources:
        raise SeparationUnavailable(
            f"the Demucs model {path.name} separates {', '.join(model.sources)}, not vocals"
        )
    model.eval()
    return VocalSeparator(model, device or pick_device(), stand_in_label(path))


def stand_in_label(path: Path) -> str | None:
    """The ``stand_in`` metadata of a ``.safetensors`` model (or a bag's first model)."""
    from safetensors import safe_open

    if path.suffix in BAG_SUFFIXES:
        files, _ = _bag(path)
        if not files:
            return None
        path = files[0]
    with safe_open(str(path), framework="pt") as weights:
        metadata = weights.metadata() or {}
    return metadata.get("stand_in")


def _ffmpeg(args: list[str], *, what: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        [FFMPEG, *FFMPEG_GLOBAL_ARGS, *args], input=stdin, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise InternalError(f"ffmpeg failed to {what}: {stderr_tail(done.stderr)}")
    return done.stdout


class VocalSeparator:
    """A loaded model; ``separate`` is blocking, so run it in a thread.

    ``stand_in`` is the model file's own label when it is not a real separation model
    (the embedded stack's tiny Demucs), else ``None``.
    """

    def __init__(self, model: Any, device: str, stand_in: str | None = None) -> None:
        self.model = model
        self.device = device
        self.stand_in = stand_in

    @property
    def sample_rate(self) -> int:
        return int(self.model.samplerate)

    @property
    def channels(self) -> int:
        return int(self.model.audio_channels)

    def separate(self, mix: Path, vocals: Path) -> Separated:
        """Write the vocals of ``mix`` (any format ffmpeg reads) to ``vocals`` as float WAV."""
        import numpy as np
        import torch
        from demucs.apply import apply_model

        rate, channels = str(self.sample_rate), str(self.channels)
        raw = _ffmpeg(
            ["-i", str(mix), "-map", "0:a:0", "-f", "f32le", "-ar", rate, "-ac", channels, "-"],
            what=f"decode {mix.name}",
        )
        samples = np.frombuffer(raw, dtype=np.float32).reshape(-1, self.channels).T
        if samples.shape[1] == 0:
            raise InternalError(f"{mix.name} decodes to no samples")
        wav = torch.from_numpy(samples.copy())
        # Demucs was trained on mixes normalized like this (demucs.separate does the same).
        reference = wav.mean(0)
        mean, std = reference.mean(), reference.std()
        scale = std if std > _SILENT_STD else torch.tensor(1.0)
        with torch.inference_mode():
            stems = apply_model(
                self.model, ((wav - mean) / scale)[None], device=self.device,
                shifts=SHIFTS, split=True, overlap=OVERLAP, progress=False,
            )[0]  # fmt: skip
        voice = stems[self.model.sources.index(VOCALS)] * scale + mean
        interleaved = voice.cpu().numpy().T.astype(np.float32).tobytes()
        _ffmpeg(
            ["-f", "f32le", "-ar", rate, "-ac", channels, "-i", "-", "-c:a", "pcm_f32le",
             str(vocals)],
            what=f"write {vocals.name}",
            stdin=interleaved,
        )  # fmt: skip
        return Separated(
            path=vocals,
            sample_rate=self.sample_rate,
            channels=self.channels,
            duration_s=samples.shape[1] / self.sample_rate,
            device=self.device,
        )
