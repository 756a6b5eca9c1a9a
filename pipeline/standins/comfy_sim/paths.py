"""comfy-sim's data dir (``input/``, ``output/``, ``temp/``) and ComfyUI's file-name rules.

Mirrors ComfyUI's ``folder_paths``: ``"name.png [output]"`` annotations, the
``prefix_00001_`` save counter, and listing input files by MIME type.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

_ANNOTATIONS = {"[output]": "output", "[input]": "input", "[temp]": "temp"}


@dataclass(frozen=True)
class SavePath:
    """Where a save node writes: ``folder/filename_{counter:05}...``."""

    folder: Path
    filename: str
    counter: int
    subfolder: str


@dataclass(frozen=True)
class DataDirs:
    root: Path

    @staticmethod
    def create(root: Path) -> DataDirs:
        dirs = DataDirs(root.resolve())
        for kind in ("input", "output", "temp"):
            (dirs.root / kind).mkdir(parents=True, exist_ok=True)
        return dirs

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def output(self) -> Path:
        return self.root / "output"

    def by_type(self, kind: str | None) -> Path | None:
        """The dir for ``input``/``output``/``temp``; ``None`` for anything else."""
        return self.root / kind if kind in ("input", "output", "temp") else None

    def annotated(self, name: str) -> tuple[str, Path | None]:
        """``"a.png [output]"`` → ``("a.png", output dir)``; unannotated → ``(name, None)``."""
        for suffix, kind in _ANNOTATIONS.items():
            if name.endswith(suffix):
                return name[: -len(suffix) - 1], self.by_type(kind)
        return name, None

    def input_path(self, name: str) -> Path:
        """The file a LoadImage/LoadAudio value names (input dir unless annotated)."""
        bare, base = self.annotated(name)
        return (base or self.input) / bare

    def input_files(self) -> InputFiles:
        return InputFiles(self)

    def listing(self, images: bool = False, videos: bool = False) -> list[str]:
        """What LoadImage (``images``), LoadVideo (``videos``) or LoadAudio (audio and video
        files) offer."""
        wanted = ("image",) if images else ("video",) if videos else ("audio", "video")
        names = [p.name for p in self.input.iterdir() if not images or p.is_file()]
        return sorted(n for n in names if _content_type(n) in wanted)

    def save_path(self, prefix: str, base: Path) -> SavePath:
        """``folder_paths.get_save_image_path``: next counter for ``filename_NNNNN_`` files."""
        normalized = os.path.normpath(prefix)
        subfolder, filename = os.path.split(normalized)
        folder = base / subfolder
        if os.path.commonpath((base, folder.resolve())) != str(base):
            raise ValueError(f"Saving image outside the output folder is not allowed: {prefix}")
        folder.mkdir(parents=True, exist_ok=True)
        counters = [0]
        for existing in (p.name for p in folder.iterdir()):
            head, tail = existing[: len(filename) + 1], existing[len(filename) + 1 :]
            if head[:-1] == filename and head.endswith("_"):
                digits = tail.split("_")[0]
                counters.append(int(digits) if digits.isdigit() else 0)
        return SavePath(folder, filename, max(counters) + 1, subfolder)

    def vhs_counter(self, folder: Path, filename: str) -> int:
        """VideoHelperSuite's own counter: max of ``filename_NNNNN*.ext`` plus one."""
        matcher = re.compile(f"{re.escape(filename)}_(\\d+)\\D*\\..+", re.IGNORECASE)
        found = [int(m.group(1)) for p in folder.iterdir() if (m := matcher.fullmatch(p.name))]
        return max(found, default=0) + 1


def _content_type(name: str) -> str:
    mime, _ = mimetypes.guess_type(name, strict=False)
    return mime.split("/")[0] if mime else ""


class InputFiles(Collection[str]):
    """Names LoadImage/LoadAudio accept, checked against the disk (validate_graph's input_files)."""

    def __init__(self, dirs: DataDirs) -> None:
        self._dirs = dirs

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name:
            return False
        bare, base = self._dirs.annotated(name)
        root = (base or self._dirs.input).resolve()
        target = (root / bare).resolve()
        return target.is_relative_to(root) and target.exists()

    def __iter__(self) -> Iterator[str]:
        for path in sorted(self._dirs.input.rglob("*")):
            if path.is_file():
                yield path.relative_to(self._dirs.input).as_posix()

    def __len__(self) -> int:
        return sum(1 for _ in self)
