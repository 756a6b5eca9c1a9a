"""What flows along comfy-sim's links in place of ComfyUI's tensors.

Images are rendered on demand (``ImageBatch.frame(i)``) so a long video never sits in memory;
models, CLIP, conditioning and the like are ``Opaque`` stand-ins since no weights exist.
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
class VideoSamples:
    """What WanVideoWrapper's InfiniteTalk sampler returns: frames it decoded itself."""

    width: int
    height: int
    length: int
    start: Image.Image | None

    def __str__(self) -> str:
        return f"{{'video': tensor(frames={self.length}, size={self.width}x{self.height})}}"


@dataclass(frozen=True)
class Audio:
    """AUDIO: the file LoadAudio read, and how much of it the value holds."""

    path: Path
    duration_s: float

    def trimmed(self, seconds: float) -> Audio:
        return Audio(self.path, min(self.duration_s, seconds))

    def __str__(self) -> str:
        return f"{{'waveform': tensor(...), 'source': '{self.path.name}'}}"


@dataclass(frozen=True)
class MultiTalkEmbeds:
    """MULTITALK_EMBEDS: per-frame audio features for ``num_frames`` frames at ``fps``."""

    num_frames: int
    fps: float

    def __str__(self) -> str:
        return f"{{'audio_features': [tensor(frames={self.num_frames})]}}"


@dataclass(frozen=True)
class MultiTalkImageEmbeds:
    """WANVIDIMAGE_EMBEDS of ``WanVideoImageToVideoMultiTalk``: how to slide the windows."""

    width: int
    height: int
    window: int
    motion_frame: int
    start: Image.Image | None

    def __str__(self) -> str:
        return f"{{'multitalk_sampling': True, 'frame_window_size': {self.window}}}"


@dataclass(frozen=True)
class Video:
    """VIDEO from CreateVideo."""

    frames: ImageBatch
    fps: float
    audio: Audio | None

    def __str__(self) -> str:
        return f"<VIDEO {self.frames.count} frames at {self.fps:g} fps>"
