"""The media layer: pure functions over local files, ffmpeg and Pillow underneath.

User media that cannot be used raises ``MediaError``; ffmpeg failing on files the
pipeline made itself raises ``InternalError`` with the tail of ffmpeg's stderr.
"""

from pipeline.media.frames import extract_last_frames
from pipeline.media.image import ImageInfo, normalize_image
from pipeline.media.probe import MediaInfo, probe
from pipeline.media.stitch import StitchSegment, build_stitch_command, stitch

__all__ = [
    "ImageInfo",
    "MediaInfo",
    "StitchSegment",
    "build_stitch_command",
    "extract_last_frames",
    "normalize_image",
    "probe",
    "stitch",
]
