"""What flows along comfy-sim's links in place of ComfyUI's tensors.

Images are rendered on demand (``ImageBatch.frame(i)``) so a long video never sits in memory;
models, CLIP, conditioning and the like are ``Opaque`` stand-ins since no weights exist;
audio and sigmas keep the one number the sim needs (seconds, steps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class Opaque:
    """A value the sim does not compute (MODEL, CLIP, VAE, CONDITIONING, MASK...)."""

    type: str
    origin: str
    """The class_type that produced it."""

    def __str__(self) -> str:
        return f"<{self.type} from {self.origin}>"


@dataclass(frozen=True)
class ImageBatch:
    """IMAGE: ``count`` RGB frames of ``width`` x ``height``, each rendered when asked for."""

    width: int
    height: int
    count: int
    render: Callable[[int], Image.Image]

    def frame(self, index: int) -> Image.Image:
        if not 0 <= index < self.count:
            raise IndexError(f"frame {index} outside a batch of {self.count}")
        return self.render(index)

    def frames(self) -> Iterator[Image.Image]:
        return (self.render(i) for i in range(self.count))

    def __str__(self) -> str:
        # Stands where ComfyUI prints a tensor in execution_error's current_inputs.
        return f"tensor(shape=[{self.count}, {self.height}, {self.width}, 3])"

    @staticmethod
    def of(images: Sequence[Image.Image]) -> ImageBatch:
        """A batch of already decoded images, all of the first one's size."""
        if not images:
            raise ValueError("an image batch needs at least one image")
        frames = [img.convert("RGB") for img in images]
        width, height = frames[0].size
        return ImageBatch(width, height, len(frames), lambda i: frames[i].copy())

    def repeat(self, amount: int) -> ImageBatch:
        return ImageBatch(
            self.width, self.height, self.count * amount, lambda i: self.render(i % self.count)
        )

    def map(
        self, width: int, height: int, change: Callable[[Image.Image], Image.Image]
    ) -> ImageBatch:
        return ImageBatch(width, height, self.count, lambda i: change(self.render(i)))


@dataclass(frozen=True)
class Latent:
    """LATENT of a Wan video: ``latent_frames`` frames of 4 video frames (the first one 1)."""

    width: int
    height: int
    latent_frames: int
    start: Image.Image | None
    """The image the decoded frames continue from (start or reference image)."""

    @property
    def length(self) -> int:
        """Frames ``VAEDecode`` makes of it: the Wan VAE turns ``n`` latents into 4(n-1)+1."""
        return (self.latent_frames - 1) * 4 + 1

    def __str__(self) -> str:
        size = f"{self.width}x{self.height}"
        return f"{{'samples': tensor(frames={self.latent_frames}, size={size})}}"


@dataclass(frozen=True)
class Audio:
    """AUDIO: ``duration_s`` seconds of the file LoadAudio read, from ``offset_s`` on."""

    path: Path
    duration_s: float
    offset_s: float = 0.0

    def trimmed(self, seconds: float) -> Audio:
        return Audio(self.path, min(self.duration_s, seconds), self.offset_s)

    def window(self, start_s: float, seconds: float) -> Audio:
        """``TrimAudioDuration``: ``seconds`` from ``start_s`` into this audio, clamped."""
        start = min(max(0.0, start_s), self.duration_s)
        return Audio(self.path, min(seconds, self.duration_s - start), self.offset_s + start)

    def __str__(self) -> str:
        return f"{{'waveform': tensor(...), 'source': '{self.path.name}'}}"


@dataclass(frozen=True)
class EncodedAudio:
    """AUDIO_ENCODER_OUTPUT: wav2vec2 features of ``audio`` (the sim keeps only its length)."""

    audio: Audio

    def __str__(self) -> str:
        return f"{{'encoded_audio': tensor(seconds={self.audio.duration_s:g})}}"


@dataclass(frozen=True)
class Sigmas:
    """SIGMAS of ``BasicScheduler``: ``steps`` sampling steps."""

    steps: int

    def __str__(self) -> str:
        return f"tensor(shape=[{self.steps + 1}])"


@dataclass(frozen=True)
class Video:
    """VIDEO from CreateVideo or LoadVideo."""

    frames: ImageBatch
    fps: float
    audio: Audio | None
    bit_depth: int = 8
    """``CreateVideo.bit_depth`` (8 by default); an 8-bit H.264 file reads back as 8."""
    color_space: str = "sRGB"
    """What ``GetVideoComponents`` reports: ComfyUI 0.33.0 says ``sRGB`` for frames made
    from images and for SDR files (``comfy_api/latest/_input_impl/video_types.py``)."""

    def __str__(self) -> str:
        return f"<VIDEO {self.frames.count} frames at {self.fps:g} fps>"
